/*
 * probe.h - the pure parts of colibri-probe: the shared prefix, the
 * request body, reading a provider's usage, the hit/miss arithmetic and
 * cost, and the retry schedule.  Nothing here does I/O, so
 * tests/check_probe.c checks every number exactly; the program
 * (src/colibri_probe.c) adds libcurl, flags and output.
 * See docs/internals/probe.md.
 */
#ifndef COLIBRI_PROBE_H
#define COLIBRI_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Prices in USD per million tokens; all from flags, never built in. */
struct probe_prices {
    int have;                   /* 0: no prices given, no cost shown */
    double input;               /* a prompt token not served from cache */
    double cache_hit;           /* a prompt token served from cache */
    double output;              /* a completion token */
};

/* One answer's usage, in the metering contract's terms. */
struct probe_usage {
    int64_t prompt;             /* prompt_tokens */
    int64_t hit;                /* served from cache */
    int64_t miss;               /* prompt tokens not from cache */
    int64_t output;             /* completion_tokens */
};

/* Totals over a run. */
struct probe_totals {
    int requests;
    int64_t hit, miss, output;
    double cost;                /* at the given prices */
    double uncached_cost;       /* the same tokens with no cache hit */
};

/* Outcomes of probe_parse_usage. */
#define PROBE_USAGE_OK          0
#define PROBE_USAGE_BAD_JSON    (-1)    /* not a JSON object */
#define PROBE_USAGE_MISSING     (-2)    /* no usable usage fields */

/*
 * Reads the usage of a chat completion answer (len bytes).  DeepSeek's
 * prompt_cache_hit_tokens / prompt_cache_miss_tokens come first; an
 * OpenAI-style answer (prompt_tokens_details.cached_tokens) is read too.
 * Counts must be non-negative integers and hit + miss must not exceed a
 * given prompt_tokens.  Returns PROBE_USAGE_*; why (new, may be NULL)
 * says what was wrong in one phrase.
 */
int probe_parse_usage(const char *body, size_t len, struct probe_usage *u,
                      char **why);

/* hit / (hit + miss); 0 when there were no prompt tokens. */
double probe_hit_ratio(int64_t hit, int64_t miss);

/* The cost of one answer at prices (0 when prices->have is 0). */
double probe_cost(const struct probe_prices *p, const struct probe_usage *u);
/* What the same answer would cost with no cache hit. */
double probe_uncached_cost(const struct probe_prices *p,
                           const struct probe_usage *u);

/* Adds one answer to the totals. */
void probe_totals_add(struct probe_totals *t, const struct probe_prices *p,
                      const struct probe_usage *u);

/*
 * The built-in shared prefix: a deterministic system message of about
 * bytes bytes (at least 512), the same text for the same size on every
 * run and host, so a provider can serve it from cache.  New string.
 */
char *probe_default_prefix(size_t bytes);

/*
 * The body of request number i (1-based) of n: {"model", "messages":
 * [system = prefix, user = a short message that names i], "max_tokens",
 * "stream": false}.  New reference.
 */
json_t *probe_request_body(const char *model, const char *prefix, int i,
                           int n, int max_tokens);

/* True for an HTTP status worth retrying: 429 and 500/502/503/504. */
int probe_status_retryable(long status);

/*
 * The wait before retry number attempt (0-based) in milliseconds: the
 * Retry-After value when the server sent one (seconds, as a decimal
 * number; an HTTP date is not honoured and falls back), else base_ms
 * doubled per attempt; never more than cap_ms.
 */
long probe_retry_delay_ms(int attempt, const char *retry_after,
                          long base_ms, long cap_ms);

#endif
