/*
 * probe.c - the pure parts of colibri-probe (see probe.h): usage fields,
 * arithmetic, the prefix and the retry schedule.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "util.h"

/* A usage member as a non-negative integer; -1 when absent, -2 when it
 * is there but not a non-negative integer. */
static int64_t
usage_count(const json_t *usage, const char *name)
{
    const json_t *v = json_object_get(usage, name);

    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -2;
    return (int64_t)json_integer_value(v);
}

static int
usage_fail(char **why, int rc, const char *what)
{
    if (why != NULL)
        *why = xstrdup(what);
    return rc;
}

int
probe_parse_usage(const char *body, size_t len, struct probe_usage *u,
                  char **why)
{
    json_t *doc, *usage, *details;
    int64_t prompt, hit, miss, output, cached;
    int rc = PROBE_USAGE_OK;

    if (why != NULL)
        *why = NULL;
    memset(u, 0, sizeof(*u));
    doc = json_loadb(body != NULL ? body : "", len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return usage_fail(why, PROBE_USAGE_BAD_JSON,
                          "the answer is not a JSON object");
    }
    usage = json_object_get(doc, "usage");
    if (!json_is_object(usage)) {
        rc = usage_fail(why, PROBE_USAGE_MISSING,
                        "the answer has no usage object");
        goto out;
    }
    prompt = usage_count(usage, "prompt_tokens");
    output = usage_count(usage, "completion_tokens");
    hit = usage_count(usage, "prompt_cache_hit_tokens");
    miss = usage_count(usage, "prompt_cache_miss_tokens");
    if (prompt == -2 || output == -2 || hit == -2 || miss == -2) {
        rc = usage_fail(why, PROBE_USAGE_MISSING, "a usage count is not a "
                        "non-negative integer");
        goto out;
    }
    if (output < 0) {
        rc = usage_fail(why, PROBE_USAGE_MISSING,
                        "usage.completion_tokens is missing");
        goto out;
    }
    if (hit < 0 || miss < 0) {
        /* Not DeepSeek's fields: OpenAI's cached_tokens with the prompt
         * total, else nothing to measure. */
        details = json_object_get(usage, "prompt_tokens_details");
        cached = json_is_object(details)
                     ? usage_count(details, "cached_tokens") : -1;
        if (prompt < 0 || cached == -2 || (hit >= 0) != (miss >= 0)) {
            rc = usage_fail(why, PROBE_USAGE_MISSING, "usage has neither "
                            "prompt_cache_hit_tokens and "
                            "prompt_cache_miss_tokens nor prompt_tokens");
            goto out;
        }
        hit = cached < 0 ? 0 : cached;
        if (hit > prompt) {
            rc = usage_fail(why, PROBE_USAGE_MISSING,
                            "cached_tokens exceeds prompt_tokens");
            goto out;
        }
        miss = prompt - hit;
    }
    if (prompt >= 0 && hit + miss > prompt) {
        rc = usage_fail(why, PROBE_USAGE_MISSING, "cache hit and miss "
                        "tokens add up to more than prompt_tokens");
        goto out;
    }
    u->prompt = prompt >= 0 ? prompt : hit + miss;
    u->hit = hit;
    u->miss = miss;
    u->output = output;
out:
    json_decref(doc);
    return rc;
}

double
probe_hit_ratio(int64_t hit, int64_t miss)
{
    if (hit + miss <= 0)
        return 0.0;
    return (double)hit / (double)(hit + miss);
}

double
probe_cost(const struct probe_prices *p, const struct probe_usage *u)
{
    if (!p->have)
        return 0.0;
    return ((double)u->miss * p->input + (double)u->hit * p->cache_hit +
            (double)u->output * p->output) / 1e6;
}

double
probe_uncached_cost(const struct probe_prices *p,
                    const struct probe_usage *u)
{
    if (!p->have)
        return 0.0;
    return ((double)(u->miss + u->hit) * p->input +
            (double)u->output * p->output) / 1e6;
}

void
probe_totals_add(struct probe_totals *t, const struct probe_prices *p,
                 const struct probe_usage *u)
{
    t->requests++;
    t->hit += u->hit;
    t->miss += u->miss;
    t->output += u->output;
    t->cost += probe_cost(p, u);
    t->uncached_cost += probe_uncached_cost(p, u);
}

/*
 * The rules are numbered so the text never repeats itself exactly (a
 * tokenizer sees a long, ordinary system prompt); nothing in it depends
 * on time, host or locale.
 */
static const char *const prefix_rules[] = {
    "Read the task and the files it names before you change anything.",
    "Keep every change small, reviewed and covered by a test that fails "
    "without it.",
    "Prefer the standard library and the project's own helpers to new "
    "dependencies.",
    "Report what you did, what you measured and what is left, in that "
    "order.",
    "Never print secrets, tokens or keys, not even in error messages.",
    "When a command fails, read its message, then decide; do not retry "
    "blindly.",
    "Leave the tree compiling; if a piece is unfinished, say so plainly.",
    "Write times in RFC 3339 UTC and sizes in bytes.",
};

char *
probe_default_prefix(size_t bytes)
{
    struct buf b;
    size_t nrules = sizeof(prefix_rules) / sizeof(prefix_rules[0]), i;

    if (bytes < 512)
        bytes = 512;
    buf_init(&b, bytes + 1024);
    buf_printf(&b, "You are a careful software engineer working in a "
               "shared repository. Follow the rules below exactly.\n");
    for (i = 0; b.len < bytes; i++)
        buf_printf(&b, "Rule %zu. %s\n", i + 1, prefix_rules[i % nrules]);
    return b.data;
}

json_t *
probe_request_body(const char *model, const char *prefix, int i, int n,
                   int max_tokens)
{
    char user[128];

    snprintf(user, sizeof(user), "Probe request %d of %d: answer with "
             "the single word OK.", i, n);
    return json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:i, s:b}",
                     "model", model, "messages", "role", "system",
                     "content", prefix, "role", "user", "content", user,
                     "max_tokens", max_tokens, "stream", 0);
}

int
probe_status_retryable(long status)
{
    return status == 429 || status == 500 || status == 502 ||
           status == 503 || status == 504;
}

long
probe_retry_delay_ms(int attempt, const char *retry_after, long base_ms,
                     long cap_ms)
{
    long delay = base_ms;
    int i;

    if (retry_after != NULL) {
        const char *p = retry_after;
        char *end;
        double secs;

        while (isspace((unsigned char)*p))
            p++;
        if (isdigit((unsigned char)*p)) {
            secs = strtod(p, &end);
            while (isspace((unsigned char)*end))
                end++;
            if (*end == '\0' && secs >= 0) {
                if (secs * 1000.0 >= (double)cap_ms)
                    return cap_ms;
                return (long)(secs * 1000.0);
            }
        }
    }
    for (i = 0; i < attempt && delay < cap_ms; i++)
        delay *= 2;
    return delay < cap_ms ? delay : cap_ms;
}
