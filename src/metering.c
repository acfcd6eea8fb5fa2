/*
 * metering.c - reading usage from pi events and provider responses, and
 * the price arithmetic.  See docs/internals/metering.md for the formulas
 * and why message_end is the one record of a call.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metering.h"
#include "util.h"

static int copy_name(char *dst, const json_t *v);
static int get_count(const json_t *obj, const char *key, int64_t *out);

/* Copies a JSON string of at most LIMIT_METERING_NAME_CHARS bytes into
 * dst; anything else (absent, not a string, too long) leaves "" and
 * returns -1 only when the name was present but unusable. */
static int
copy_name(char *dst, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n;

    dst[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (s == NULL)
        return -1;
    n = json_string_length(v);
    if (n > LIMIT_METERING_NAME_CHARS || strlen(s) != n)
        return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

/* A token count: absent = 0; present must be an integer from 0 to
 * LIMIT_METERING_TOKENS (a real with no fraction is accepted: some proxies
 * re-encode numbers), so that sums over millions of calls cannot
 * overflow. */
static int
get_count(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    double d;

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 ||
            json_integer_value(v) > LIMIT_METERING_TOKENS)
            return -1;
        *out = json_integer_value(v);
        return 0;
    }
    if (!json_is_real(v))
        return -1;
    d = json_real_value(v);
    if (!(d >= 0 && d <= (double)LIMIT_METERING_TOKENS) || floor(d) != d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

int
metering_from_pi_event(const json_t *event, struct metering_usage *out)
{
    const json_t *msg, *usage, *cost, *total, *ts;
    const char *type, *role;

    memset(out, 0, sizeof(*out));
    type = json_string_value(json_object_get(event, "type"));
    if (type == NULL || strcmp(type, "message_end") != 0)
        return 0;
    msg = json_object_get(event, "message");
    role = json_string_value(json_object_get(msg, "role"));
    if (role == NULL || strcmp(role, "assistant") != 0)
        return 0;
    usage = json_object_get(msg, "usage");
    if (!json_is_object(usage))
        return 0;
    if (get_count(usage, "input", &out->input_tokens) < 0 ||
        get_count(usage, "output", &out->output_tokens) < 0 ||
        get_count(usage, "cacheRead", &out->cache_read_tokens) < 0 ||
        get_count(usage, "cacheWrite", &out->cache_write_tokens) < 0)
        return 0;
    cost = json_object_get(usage, "cost");
    total = json_is_object(cost) ? json_object_get(cost, "total") : NULL;
    if (json_is_number(total) && json_number_value(total) >= 0 &&
        isfinite(json_number_value(total))) {
        out->cost = json_number_value(total);
        out->has_cost = 1;
    }
    if (out->input_tokens == 0 && out->output_tokens == 0 &&
        out->cache_read_tokens == 0 && out->cache_write_tokens == 0 &&
        (!out->has_cost || out->cost == 0))
        return 0;
    if (copy_name(out->provider, json_object_get(msg, "provider")) < 0 ||
        copy_name(out->model, json_object_get(msg, "model")) < 0)
        return 0;
    ts = json_object_get(msg, "timestamp");
    if (json_is_integer(ts) && json_integer_value(ts) > 0)
        out->time = json_integer_value(ts);
    return 1;
}

int
metering_format_from_name(const char *name, enum metering_format *fmt)
{
    if (name == NULL)
        return -1;
    if (!strcmp(name, "deepseek"))
        *fmt = METERING_DEEPSEEK;
    else if (!strcmp(name, "openai"))
        *fmt = METERING_OPENAI;
    else if (!strcmp(name, "anthropic"))
        *fmt = METERING_ANTHROPIC;
    else
        return -1;
    return 0;
}

int
metering_parse_usage(enum metering_format fmt, const json_t *doc,
                     struct metering_usage *out)
{
    const json_t *usage = doc, *details;
    int64_t prompt = 0, hit = 0, miss = 0, cached = 0;
    int has_miss;

    out->input_tokens = out->output_tokens = 0;
    out->cache_read_tokens = out->cache_write_tokens = 0;
    if (!json_is_object(doc))
        return -1;
    if (json_is_object(json_object_get(doc, "usage"))) {
        usage = json_object_get(doc, "usage");
        if (json_is_string(json_object_get(doc, "model")) &&
            copy_name(out->model, json_object_get(doc, "model")) < 0)
            return -1;
    }
    switch (fmt) {
    case METERING_DEEPSEEK:
        /* prompt = hit + miss; older answers may lack the miss count. */
        has_miss = json_object_get(usage, "prompt_cache_miss_tokens") !=
                   NULL;
        if (get_count(usage, "prompt_tokens", &prompt) < 0 ||
            get_count(usage, "prompt_cache_hit_tokens", &hit) < 0 ||
            get_count(usage, "prompt_cache_miss_tokens", &miss) < 0 ||
            get_count(usage, "completion_tokens",
                      &out->output_tokens) < 0)
            return -1;
        if (!has_miss) {
            if (hit > prompt)
                return -1;
            miss = prompt - hit;
        }
        out->input_tokens = miss;
        out->cache_read_tokens = hit;
        return 0;
    case METERING_OPENAI:
        /* Chat Completions (prompt_/completion_tokens) or Responses
         * (input_/output_tokens); cached tokens are part of the prompt. */
        details = json_object_get(usage, "prompt_tokens_details");
        if (json_object_get(usage, "prompt_tokens") != NULL) {
            if (get_count(usage, "prompt_tokens", &prompt) < 0 ||
                get_count(usage, "completion_tokens",
                          &out->output_tokens) < 0)
                return -1;
        } else {
            details = json_object_get(usage, "input_tokens_details");
            if (get_count(usage, "input_tokens", &prompt) < 0 ||
                get_count(usage, "output_tokens",
                          &out->output_tokens) < 0)
                return -1;
        }
        if (details != NULL && !json_is_null(details) &&
            (!json_is_object(details) ||
             get_count(details, "cached_tokens", &cached) < 0))
            return -1;
        if (cached > prompt)
            return -1;
        out->input_tokens = prompt - cached;
        out->cache_read_tokens = cached;
        return 0;
    case METERING_ANTHROPIC:
        /* input_tokens already excludes what was read or written. */
        if (get_count(usage, "input_tokens", &out->input_tokens) < 0 ||
            get_count(usage, "output_tokens", &out->output_tokens) < 0 ||
            get_count(usage, "cache_read_input_tokens",
                      &out->cache_read_tokens) < 0 ||
            get_count(usage, "cache_creation_input_tokens",
                      &out->cache_write_tokens) < 0)
            return -1;
        return 0;
    }
    return -1;
}

/* A price: a plain decimal number of USD per million tokens. */
static int
parse_amount(const char *s, size_t n, double *out)
{
    char buf[64], *end;
    size_t i;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && s[i] != '.')
            return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    *out = strtod(buf, &end);
    if (errno != 0 || *end != '\0' || !isfinite(*out) || *out > 1e6)
        return -1;
    return 0;
}

int
metering_prices_parse(char *const *specs, struct metering_prices *out,
                      char *err, size_t errlen)
{
    size_t i, j, k;

    out->items = NULL;
    out->n = 0;
    for (i = 0; specs != NULL && specs[i] != NULL; i++) {
        const char *spec = specs[i], *eq = strchr(spec, '='), *p;
        struct metering_price pr;
        double *slots[4];

        if (i >= LIMIT_METERING_PRICES) {
            metering_prices_free(out);
            return util_set_err(err, errlen, "--price: more than %d prices",
                                LIMIT_METERING_PRICES);
        }
        if (eq == NULL || eq == spec ||
            (size_t)(eq - spec) > LIMIT_METERING_NAME_CHARS)
            goto bad;
        for (p = spec; p < eq; p++)
            if ((unsigned char)*p <= ' ' || *p == ',' || *p == 0x7f)
                goto bad;
        memset(&pr, 0, sizeof(pr));
        slots[0] = &pr.input;
        slots[1] = &pr.output;
        slots[2] = &pr.cache_read;
        slots[3] = &pr.cache_write;
        p = eq + 1;
        for (k = 0; k < 4; k++) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);

            if ((k < 3) != (comma != NULL) ||
                parse_amount(p, n, slots[k]) < 0)
                goto bad;
            p = comma ? comma + 1 : p + n;
        }
        pr.model = xstrndup(spec, (size_t)(eq - spec));
        for (j = 0; j < out->n; j++) {
            if (!strcmp(out->items[j].model, pr.model)) {
                util_set_err(err, errlen, "--price: model '%s' priced twice",
                             pr.model);
                free(pr.model);
                metering_prices_free(out);
                return -1;
            }
        }
        out->items = xrealloc(out->items,
                              (out->n + 1) * sizeof(*out->items));
        out->items[out->n++] = pr;
        continue;
bad:
        util_set_err(err, errlen, "--price '%s': expected MODEL=INPUT,OUTPUT,"
                     "CACHE_READ,CACHE_WRITE (USD per million tokens, plain "
                     "decimals)", spec);
        metering_prices_free(out);
        return -1;
    }
    return 0;
}

void
metering_prices_free(struct metering_prices *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        free(p->items[i].model);
    free(p->items);
    p->items = NULL;
    p->n = 0;
}

const struct metering_price *
metering_price_find(const struct metering_prices *p, const char *model)
{
    const struct metering_price *dflt = NULL;
    size_t i;

    for (i = 0; p != NULL && i < p->n; i++) {
        if (model != NULL && !strcmp(p->items[i].model, model))
            return &p->items[i];
        if (!strcmp(p->items[i].model, "*"))
            dflt = &p->items[i];
    }
    return dflt;
}

double
metering_cost(const struct metering_price *price,
              const struct metering_tokens *t)
{
    return ((double)t->input * price->input +
            (double)t->output * price->output +
            (double)t->cache_read * price->cache_read +
            (double)t->cache_write * price->cache_write) / 1e6;
}

double
metering_uncached_cost(const struct metering_price *price,
                       const struct metering_tokens *t)
{
    return ((double)(t->input + t->cache_read + t->cache_write) *
                price->input +
            (double)t->output * price->output) / 1e6;
}

double
metering_round(double usd)
{
    return round(usd * 1e9) / 1e9;
}

double
metering_hit_ratio(const struct metering_tokens *t)
{
    int64_t prompt = t->input + t->cache_read + t->cache_write;

    if (prompt <= 0)
        return -1;
    return (double)t->cache_read / (double)prompt;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s -> *v. */
static int
digits(const char *s, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

int
metering_parse_time(const char *s, int64_t *ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, oh, om, sign;
    size_t len = s ? strlen(s) : 0, i;
    int64_t t;

    if (len < 10 || digits(s, 4, &y) < 0 || s[4] != '-' ||
        digits(s + 5, 2, &mo) < 0 || s[7] != '-' ||
        digits(s + 8, 2, &d) < 0 || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
                                                y % 400 == 0))))
        return -1;
    i = 10;
    if (len > 10) {
        if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || len < 20 ||
            digits(s + 11, 2, &h) < 0 || s[13] != ':' ||
            digits(s + 14, 2, &mi) < 0 || s[16] != ':' ||
            digits(s + 17, 2, &sec) < 0 || h > 23 || mi > 59 || sec > 60)
            return -1;
        i = 19;
        if (s[i] == '.') {
            int scale = 100, nd = 0;

            for (i++; isdigit((unsigned char)s[i]); i++, nd++) {
                frac += (s[i] - '0') * scale;
                scale /= 10;
            }
            if (nd == 0)
                return -1;
        }
        if (s[i] == 'Z' || s[i] == 'z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            sign = s[i] == '-' ? -1 : 1;
            if (digits(s + i + 1, 2, &oh) < 0 || s[i + 3] != ':' ||
                digits(s + i + 4, 2, &om) < 0 || oh > 23 || om > 59)
                return -1;
            i += 6;
            h -= sign * oh;
            mi -= sign * om;
        } else {
            return -1;
        }
        if (i != len)
            return -1;
    }
    if (sec == 60)
        sec = 59;               /* a leap second: the last ms before */
    t = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
        (int64_t)mi * 60 + sec;
    *ms = t * 1000 + frac;
    return 0;
}
