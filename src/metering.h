/*
 * metering.h - usage of model calls: where it is read from, and what it
 * costs.  Pure functions only (no store, no I/O), so every number the
 * daemon reports can be checked by a unit test against the fixtures.
 *
 * Token kinds follow the shared contract (docs/internals/metering.md):
 * input = prompt tokens neither read from nor written to a cache;
 * cache_read = prompt tokens served from a cache; cache_write = prompt
 * tokens written to a cache; output = completion tokens.  Hit ratio =
 * cache_read / (input + cache_read + cache_write).
 */
#ifndef COLIBRI_METERING_H
#define COLIBRI_METERING_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "limits.h"

/* One model call's usage.  Strings are copies (the struct is a value). */
struct metering_usage {
    char provider[LIMIT_METERING_NAME_CHARS + 1];   /* "" = unknown */
    char model[LIMIT_METERING_NAME_CHARS + 1];      /* "" = unknown */
    int64_t time;               /* ms since the epoch; 0 = unknown */
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    double cost;                /* USD, as the source reported it */
    int has_cost;               /* 0: the source reported no cost */
};

/*
 * A pi event (--mode json / rpc stdout): 1 with *out filled when the
 * event is the final record of an assistant message that carries usage,
 * else 0.  pi repeats an assistant message in message_update (partial),
 * message_end, turn_end and agent_end; only message_end counts, so each
 * call is counted once.  A message whose usage is all zero (a request
 * that failed before the provider answered) is not a call that cost
 * anything and yields 0 too.
 */
int metering_from_pi_event(const json_t *event, struct metering_usage *out);

/* Provider usage formats the probe sees. */
enum metering_format {
    METERING_DEEPSEEK,          /* prompt_cache_hit/miss_tokens */
    METERING_OPENAI,            /* prompt_tokens_details.cached_tokens */
    METERING_ANTHROPIC          /* cache_read/creation_input_tokens */
};

/* "deepseek", "openai", "anthropic" -> 0 and *fmt; -1 when unknown. */
int metering_format_from_name(const char *name, enum metering_format *fmt);

/*
 * Maps a provider's usage object -- or a whole response that has one in
 * "usage" (then "model" is taken from the response too) -- to the token
 * kinds.  0, or -1 when doc has no usable usage (not an object, a
 * negative or non-integer count, cached more than the prompt).
 * provider is left as given in out (the caller knows who it asked).
 */
int metering_parse_usage(enum metering_format fmt, const json_t *doc,
                         struct metering_usage *out);

/*
 * Prices, USD per million tokens, from configuration ("--price
 * MODEL=INPUT,OUTPUT,CACHE_READ,CACHE_WRITE"; MODEL "*" is the default
 * for models without their own line).
 */
struct metering_price {
    char *model;
    double input, output, cache_read, cache_write;
};

struct metering_prices {
    struct metering_price *items;
    size_t n;
};

/* Parses specs (NULL-terminated, may be NULL) into *out (new; free with
 * metering_prices_free).  0, or -1 with a human reason in err. */
int metering_prices_parse(char *const *specs, struct metering_prices *out,
                          char *err, size_t errlen);
void metering_prices_free(struct metering_prices *p);
/* The price of model (borrowed): its own line, else "*", else NULL. */
const struct metering_price *metering_price_find(
    const struct metering_prices *p, const char *model);

/* Token totals, for the cost formulas. */
struct metering_tokens {
    int64_t input, output, cache_read, cache_write;
};

/* What the tokens cost at price (unrounded USD). */
double metering_cost(const struct metering_price *price,
                     const struct metering_tokens *t);
/* The same tokens with nothing served from or written to a cache: the
 * cache reads and writes billed at the input price. */
double metering_uncached_cost(const struct metering_price *price,
                              const struct metering_tokens *t);
/* USD rounded half away from zero to 1e-9 (what the API reports). */
double metering_round(double usd);
/* cache_read / (input + cache_read + cache_write); -1 when no prompt
 * tokens. */
double metering_hit_ratio(const struct metering_tokens *t);

/* RFC 3339 date-time ("2026-11-28T20:00:00Z", fraction and offsets
 * allowed) or a date ("2026-11-28", midnight UTC) -> ms; 0 or -1. */
int metering_parse_time(const char *s, int64_t *ms);

#endif
