/*
 * check_metering.c - metering: usage read from every pi fixture exactly
 * (each call once), the provider usage parsers, prices and the cost
 * arithmetic with its rounding, RFC 3339 times, and the store's rows,
 * drift flags and summaries.
 */
#include "autoconf.h"

#include <math.h>

#include "testutil.h"
#include "src/metering.h"

#ifndef COLIBRI_SRCDIR
#define COLIBRI_SRCDIR "."
#endif

/* What pi reported on each assistant message_end with usage: the
 * fixtures' numbers, copied from the files. */
struct expect {
    const char *file;
    int line;
    const char *model;
    int64_t input, output, cache_read, cache_write;
    double cost;
    int64_t time;
};

static const struct expect expected[] = {
    {"length.jsonl", 11, "length", 264, 16, 1536, 0, 0.0014928,
     1795885303798LL},
    {"retry.jsonl", 26, "retry", 264, 4, 1536, 0, 0.0013128,
     1795885280580LL},
    {"rpc_confirm_gate.jsonl", 15, "text", 264, 6, 1536, 0,
     0.0013428000000000001, 1795885332241LL},
    {"rpc_confirm_gate.jsonl", 33, "tool", 600, 24, 800, 400,
     0.0039000000000000003, 1795885332498LL},
    {"rpc_confirm_gate.jsonl", 48, "tool", 500, 14, 1600, 0, 0.00219,
     1795885332632LL},
    {"rpc_confirm_gate.jsonl", 86, "gate", 600, 24, 800, 400,
     0.0039000000000000003, 1795885334763LL},
    {"rpc_confirm_gate.jsonl", 102, "gate", 500, 14, 1600, 0, 0.00219,
     1795885336353LL},
    {"rpc_confirm_gate.jsonl", 119, "gate", 600, 24, 800, 400,
     0.0039000000000000003, 1795885336424LL},
    {"rpc_confirm_gate.jsonl", 133, "gate", 500, 14, 1600, 0, 0.00219,
     1795885336999LL},
    {"rpc_confirm_gate.jsonl", 162, "retry", 264, 4, 1536, 0, 0.0013128,
     1795885338603LL},
    {"text.jsonl", 14, "text", 264, 6, 1536, 0, 0.0013428000000000001,
     1795885268039LL},
    {"tool.jsonl", 15, "tool", 600, 24, 800, 400, 0.0039000000000000003,
     1795885270378LL},
    {"tool.jsonl", 30, "tool", 500, 14, 1600, 0, 0.00219,
     1795885270583LL},
};
#define NEXPECTED (sizeof(expected) / sizeof(expected[0]))

static const char *const fixtures[] = {
    "fail.jsonl", "length.jsonl", "retry.jsonl", "rpc_confirm_gate.jsonl",
    "slow_sigterm.jsonl", "text.jsonl", "tool.jsonl",
};
#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

static json_t **
load_fixture(const char *name, size_t *n)
{
    const char *dir = getenv("COLIBRI_SRCDIR");
    char *path = xasprintf("%s/tests/fixtures/pi/%s",
                           dir ? dir : COLIBRI_SRCDIR, name);
    FILE *f = fopen(path, "r");
    json_t **lines = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    *n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        json_error_t jerr;
        json_t *ev = json_loadb(line, (size_t)len, 0, &jerr);

        ck_assert_msg(ev != NULL, "%s:%zu: %s", name, *n + 1, jerr.text);
        lines = xrealloc(lines, (*n + 1) * sizeof(*lines));
        lines[(*n)++] = ev;
    }
    free(line);
    fclose(f);
    free(path);
    return lines;
}

static void
free_fixture(json_t **lines, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        json_decref(lines[i]);
    free(lines);
}

/* Every fixture's every line through the extractor: exactly the expected
 * records, in order, with the fixture's own numbers. */
START_TEST(pi_fixtures_exact)
{
    size_t f, i, n, k = 0;

    for (f = 0; f < NFIXTURES; f++) {
        json_t **lines = load_fixture(fixtures[f], &n);

        for (i = 0; i < n; i++) {
            struct metering_usage u;

            if (!metering_from_pi_event(lines[i], &u))
                continue;
            ck_assert_msg(k < NEXPECTED, "%s:%zu: unexpected usage",
                          fixtures[f], i + 1);
            ck_assert_str_eq(expected[k].file, fixtures[f]);
            ck_assert_int_eq(expected[k].line, (int)i + 1);
            ck_assert_str_eq(u.provider, "mock");
            ck_assert_str_eq(u.model, expected[k].model);
            ck_assert_int_eq(u.input_tokens, expected[k].input);
            ck_assert_int_eq(u.output_tokens, expected[k].output);
            ck_assert_int_eq(u.cache_read_tokens, expected[k].cache_read);
            ck_assert_int_eq(u.cache_write_tokens,
                             expected[k].cache_write);
            ck_assert_int_eq(u.has_cost, 1);
            ck_assert(u.cost == expected[k].cost);
            ck_assert_int_eq(u.time, expected[k].time);
            k++;
        }
        free_fixture(lines, n);
    }
    ck_assert_int_eq(k, NEXPECTED);
}
END_TEST

/*
 * No double counting: pi repeats each assistant message in turn_end and
 * agent_end.  Collect the distinct assistant messages with usage from
 * those (by timestamp) independently of the extractor, and check the
 * extractor counted each exactly once with the same token sums.
 */
START_TEST(pi_each_call_once)
{
    size_t f, i, j, n;

    for (f = 0; f < NFIXTURES; f++) {
        json_t **lines = load_fixture(fixtures[f], &n);
        int64_t seen[64], sum_seen = 0, sum_counted = 0;
        size_t nseen = 0, counted = 0;

        for (i = 0; i < n; i++) {
            const char *type = json_string_value(json_object_get(lines[i],
                                                                 "type"));
            json_t *msgs = json_array(), *m;
            struct metering_usage u;

            if (metering_from_pi_event(lines[i], &u)) {
                counted++;
                sum_counted += u.input_tokens + u.output_tokens +
                               u.cache_read_tokens + u.cache_write_tokens;
            }
            if (!strcmp(type, "turn_end"))
                json_array_append(msgs, json_object_get(lines[i],
                                                        "message"));
            else if (!strcmp(type, "agent_end"))
                json_array_extend(msgs, json_object_get(lines[i],
                                                        "messages"));
            json_array_foreach(msgs, j, m) {
                json_t *usage = json_object_get(m, "usage");
                int64_t ts = json_integer_value(json_object_get(m,
                                                                "timestamp"));
                int64_t total = json_integer_value(
                    json_object_get(usage, "totalTokens"));
                size_t s;

                if (strcmp(json_string_value(json_object_get(m, "role")),
                           "assistant") || total == 0)
                    continue;
                for (s = 0; s < nseen && seen[s] != ts; s++)
                    ;
                if (s == nseen) {
                    ck_assert_uint_lt(nseen, 64);
                    seen[nseen++] = ts;
                    sum_seen += total;
                }
            }
            json_decref(msgs);
        }
        ck_assert_msg(counted == nseen, "%s: %zu counted, %zu distinct",
                      fixtures[f], counted, nseen);
        ck_assert_int_eq(sum_counted, sum_seen);
        free_fixture(lines, n);
    }
}
END_TEST

START_TEST(pi_not_usage)
{
    struct metering_usage u;
    static const char *const cases[] = {
        /* partial snapshot, repeated message, a user message */
        "{\"type\":\"message_update\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":5,\"output\":1}}}",
        "{\"type\":\"turn_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":5,\"output\":1}}}",
        "{\"type\":\"message_end\",\"message\":{\"role\":\"user\","
        "\"usage\":{\"input\":5}}}",
        /* all zero: failed before the provider answered */
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":0,\"output\":0,\"cacheRead\":0,"
        "\"cacheWrite\":0,\"cost\":{\"total\":0}}}}",
        /* malformed counts */
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":-5,\"output\":1}}}",
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":\"5\",\"output\":1}}}",
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":1.5}}}",
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
        "\"usage\":{\"input\":1000000000001}}}",
        "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\"}}",
        "{\"type\":\"message_end\"}",
        "[1,2]",
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *ev = json_loads(cases[i], JSON_DECODE_ANY, NULL);

        ck_assert_ptr_nonnull(ev);
        ck_assert_msg(metering_from_pi_event(ev, &u) == 0, "case %zu", i);
        json_decref(ev);
    }
}
END_TEST

static json_t *
parse(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);

    ck_assert_ptr_nonnull(doc);
    return doc;
}

static void
check_usage(enum metering_format fmt, const char *text, int64_t input,
            int64_t output, int64_t cache_read, int64_t cache_write)
{
    struct metering_usage u;
    json_t *doc = parse(text);

    memset(&u, 0, sizeof(u));
    ck_assert_msg(metering_parse_usage(fmt, doc, &u) == 0, "%s", text);
    ck_assert_int_eq(u.input_tokens, input);
    ck_assert_int_eq(u.output_tokens, output);
    ck_assert_int_eq(u.cache_read_tokens, cache_read);
    ck_assert_int_eq(u.cache_write_tokens, cache_write);
    json_decref(doc);
}

static void
check_bad(enum metering_format fmt, const char *text)
{
    struct metering_usage u;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);

    memset(&u, 0, sizeof(u));
    ck_assert_msg(metering_parse_usage(fmt, doc, &u) == -1, "%s", text);
    json_decref(doc);
}

START_TEST(provider_usage)
{
    struct metering_usage u;
    enum metering_format fmt;
    json_t *doc;

    /* DeepSeek: hit + miss = prompt tokens. */
    check_usage(METERING_DEEPSEEK, "{\"prompt_tokens\":1000,"
                "\"completion_tokens\":50,\"prompt_cache_hit_tokens\":768,"
                "\"prompt_cache_miss_tokens\":232,\"total_tokens\":1050}",
                232, 50, 768, 0);
    check_usage(METERING_DEEPSEEK, "{\"prompt_tokens\":1000,"
                "\"completion_tokens\":50,\"prompt_cache_hit_tokens\":640}",
                360, 50, 640, 0);
    check_bad(METERING_DEEPSEEK, "{\"prompt_tokens\":10,"
              "\"prompt_cache_hit_tokens\":64}");
    check_bad(METERING_DEEPSEEK, "{\"prompt_tokens\":-1}");
    /* OpenAI chat completions and responses: cached is part of prompt. */
    check_usage(METERING_OPENAI, "{\"prompt_tokens\":2006,"
                "\"completion_tokens\":300,\"total_tokens\":2306,"
                "\"prompt_tokens_details\":{\"cached_tokens\":1920}}",
                86, 300, 1920, 0);
    check_usage(METERING_OPENAI, "{\"prompt_tokens\":20,"
                "\"completion_tokens\":3}", 20, 3, 0, 0);
    check_usage(METERING_OPENAI, "{\"input_tokens\":5000,"
                "\"output_tokens\":12,\"input_tokens_details\":"
                "{\"cached_tokens\":4096}}", 904, 12, 4096, 0);
    check_bad(METERING_OPENAI, "{\"prompt_tokens\":20,"
              "\"prompt_tokens_details\":{\"cached_tokens\":21}}");
    check_bad(METERING_OPENAI, "{\"prompt_tokens\":20,"
              "\"prompt_tokens_details\":7}");
    /* Anthropic: input_tokens excludes cache reads and writes. */
    check_usage(METERING_ANTHROPIC, "{\"input_tokens\":21,"
                "\"cache_creation_input_tokens\":188086,"
                "\"cache_read_input_tokens\":0,\"output_tokens\":393}",
                21, 393, 0, 188086);
    check_usage(METERING_ANTHROPIC, "{\"input_tokens\":3,"
                "\"cache_creation_input_tokens\":0,"
                "\"cache_read_input_tokens\":188086,\"output_tokens\":7}",
                3, 7, 188086, 0);
    check_bad(METERING_ANTHROPIC, "{\"input_tokens\":\"3\"}");
    check_bad(METERING_ANTHROPIC, "[]");
    /* A whole response: usage inside, model from it. */
    doc = parse("{\"id\":\"x\",\"model\":\"deepseek-chat\",\"usage\":"
                "{\"prompt_tokens\":100,\"completion_tokens\":5,"
                "\"prompt_cache_hit_tokens\":64,"
                "\"prompt_cache_miss_tokens\":36}}");
    memset(&u, 0, sizeof(u));
    ck_assert_int_eq(metering_parse_usage(METERING_DEEPSEEK, doc, &u), 0);
    ck_assert_str_eq(u.model, "deepseek-chat");
    ck_assert_int_eq(u.input_tokens, 36);
    ck_assert_int_eq(u.cache_read_tokens, 64);
    json_decref(doc);

    ck_assert_int_eq(metering_format_from_name("openai", &fmt), 0);
    ck_assert_int_eq(fmt, METERING_OPENAI);
    ck_assert_int_eq(metering_format_from_name("anthropic", &fmt), 0);
    ck_assert_int_eq(fmt, METERING_ANTHROPIC);
    ck_assert_int_eq(metering_format_from_name("deepseek", &fmt), 0);
    ck_assert_int_eq(fmt, METERING_DEEPSEEK);
    ck_assert_int_eq(metering_format_from_name("gemini", &fmt), -1);
}
END_TEST

/* A NULL-terminated copy of up to two strings (configuration lists are
 * char **). */
static char **
strv(const char *a, const char *b)
{
    char **v = xcalloc(3, sizeof(*v));

    v[0] = a ? xstrdup(a) : NULL;
    v[1] = a && b ? xstrdup(b) : NULL;
    return v;
}

static void
strv_free(char **v)
{
    size_t i;

    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

START_TEST(prices_parse)
{
    char **good = strv("deepseek-chat=0.27,1.10,0.07,0", "*=3,15,0.3,3.75");
    const char *bad[] = {
        "deepseek-chat", "=1,2,3,4", "m=1,2,3", "m=1,2,3,4,5", "m=1,2,x,4",
        "m=-1,2,3,4", "m=1,2,3,", "m=1e3,2,3,4", "m m=1,2,3,4",
        "m=1,2,3,4000000",
    };
    struct metering_prices p;
    const struct metering_price *pr;
    char err[256];
    size_t i;

    ck_assert_int_eq(metering_prices_parse(good, &p, err, sizeof(err)), 0);
    ck_assert_uint_eq(p.n, 2);
    pr = metering_price_find(&p, "deepseek-chat");
    ck_assert_ptr_nonnull(pr);
    ck_assert(pr->input == 0.27 && pr->output == 1.10 &&
              pr->cache_read == 0.07 && pr->cache_write == 0);
    pr = metering_price_find(&p, "other");
    ck_assert_str_eq(pr->model, "*");
    ck_assert_str_eq(metering_price_find(&p, NULL)->model, "*");
    metering_prices_free(&p);
    strv_free(good);

    ck_assert_int_eq(metering_prices_parse(NULL, &p, err, sizeof(err)), 0);
    ck_assert_uint_eq(p.n, 0);
    ck_assert_ptr_null(metering_price_find(&p, "x"));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char **one = strv(bad[i], NULL);

        err[0] = '\0';
        ck_assert_msg(metering_prices_parse(one, &p, err, sizeof(err)) < 0,
                      "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "--price"));
        strv_free(one);
    }
    {
        char **twice = strv("m=1,2,3,4", "m=1,2,3,4");

        ck_assert_int_eq(metering_prices_parse(twice, &p, err, sizeof(err)),
                         -1);
        ck_assert_ptr_nonnull(strstr(err, "twice"));
        strv_free(twice);
    }
}
END_TEST

/*
 * The mock model's prices are implied by pi's own cost breakdown (input
 * 3, output 15, cache read 0.3, cache write 3.75 USD per million): at
 * those prices the computed cost of every fixture call is what pi
 * reported, after rounding to 1e-9.
 */
START_TEST(cost_arithmetic)
{
    char star[] = "*", m[] = "m";
    struct metering_price mock = {star, 3, 15, 0.3, 3.75};
    struct metering_price free_cache = {m, 1, 2, 0, 0};
    struct metering_tokens t;
    size_t k;

    for (k = 0; k < NEXPECTED; k++) {
        t.input = expected[k].input;
        t.output = expected[k].output;
        t.cache_read = expected[k].cache_read;
        t.cache_write = expected[k].cache_write;
        ck_assert_msg(metering_round(metering_cost(&mock, &t)) ==
                      metering_round(expected[k].cost), "call %zu", k);
    }
    /* tool.jsonl's first call: 600 in, 24 out, 800 read, 400 written. */
    t = (struct metering_tokens){600, 24, 800, 400};
    ck_assert(metering_round(metering_cost(&mock, &t)) == 0.0039);
    ck_assert(metering_round(metering_uncached_cost(&mock, &t)) == 0.00576);
    ck_assert(metering_round(metering_uncached_cost(&mock, &t) -
                             metering_cost(&mock, &t)) == 0.00186);
    ck_assert(fabs(metering_hit_ratio(&t) - 800.0 / 1800.0) < 1e-15);
    t = (struct metering_tokens){0, 10, 0, 0};
    ck_assert(metering_hit_ratio(&t) == -1);
    ck_assert(metering_cost(&free_cache, &t) == 20e-6);

    /* Rounding: to 1e-9 USD, half away from zero. */
    ck_assert(metering_round(0.0013428000000000001) == 0.0013428);
    ck_assert(metering_round(1.2345678904e-3) == 0.001234568);
    ck_assert(metering_round(1.2345674e-3) == 0.001234567);
    ck_assert(metering_round(4e-10) == 0);
    ck_assert(metering_round(6e-10) == 1e-9);
    ck_assert(metering_round(-6e-10) == -1e-9);
    /* Large totals stay exact to the nano-dollar. */
    t = (struct metering_tokens){1000000000LL, 0, 0, 0};
    ck_assert(metering_round(metering_cost(&mock, &t)) == 3000);
}
END_TEST

START_TEST(parse_time)
{
    int64_t ms;

    ck_assert_int_eq(metering_parse_time("2026-11-28T20:46:28Z", &ms), 0);
    ck_assert_int_eq(ms, 1795898788000LL);
    ck_assert_int_eq(metering_parse_time("2026-11-28T20:46:28.5Z", &ms), 0);
    ck_assert_int_eq(ms, 1795898788500LL);
    ck_assert_int_eq(metering_parse_time("2026-11-28T21:46:28.123+01:00",
                                         &ms), 0);
    ck_assert_int_eq(ms, 1795898788123LL);
    ck_assert_int_eq(metering_parse_time("2026-11-28", &ms), 0);
    ck_assert_int_eq(ms, 1795824000000LL);
    ck_assert_int_eq(metering_parse_time("1970-01-01T00:00:00Z", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(metering_parse_time("2024-02-29", &ms), 0);
    ck_assert_int_eq(metering_parse_time("2026-02-29", &ms), -1);
    ck_assert_int_eq(metering_parse_time("2026-13-01", &ms), -1);
    ck_assert_int_eq(metering_parse_time("2026-11-28T20:46:28", &ms), -1);
    ck_assert_int_eq(metering_parse_time("2026-11-28T20:46Z", &ms), -1);
    ck_assert_int_eq(metering_parse_time("2026-11-28T20:46:28Zjunk", &ms),
                     -1);
    ck_assert_int_eq(metering_parse_time("yesterday", &ms), -1);
    ck_assert_int_eq(metering_parse_time("", &ms), -1);
}
END_TEST

/* --- the store ------------------------------------------------------- */

static char *dir;
static struct store *st;

static void
setup(void)
{
    dir = test_tmpdir();
    st = test_store_open(dir);
}

static void
teardown(void)
{
    store_close(st);
    test_rmdir(dir);
}

static void
usage(struct metering_usage *u, const char *model, int64_t in, int64_t out,
      int64_t cr, int64_t cw, double cost)
{
    memset(u, 0, sizeof(*u));
    snprintf(u->provider, sizeof(u->provider), "prov");
    snprintf(u->model, sizeof(u->model), "%s", model);
    u->input_tokens = in;
    u->output_tokens = out;
    u->cache_read_tokens = cr;
    u->cache_write_tokens = cw;
    if (cost >= 0) {
        u->cost = cost;
        u->has_cost = 1;
    }
}

static json_t *
record(const char *agent, int64_t session, const struct metering_usage *u)
{
    struct metering_record r = {"api", agent, session, u, 0};
    struct problem err = {0};
    json_t *row = NULL;

    if (store_metering_record(st, &r, &row, &err) < 0)
        ck_abort_msg("record: %s", err.detail);
    return row;
}

static json_t *
summary(const char *group_by, const struct metering_prices *prices)
{
    struct metering_filter f;
    struct problem err = {0};
    json_t *out = NULL;

    memset(&f, 0, sizeof(f));
    f.session = f.since = f.until = -1;
    f.limit = 100;
    if (store_metering_summary(st, group_by, &f, prices, &out, &err) < 0)
        ck_abort_msg("summary: %s", err.detail);
    return out;
}

static double
num(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    ck_assert_msg(json_is_number(v), "%s is not a number", key);
    return json_number_value(v);
}

START_TEST(store_rows_sessions_and_drift)
{
    struct metering_usage u;
    struct session_start ss = {"pi-1", -1, NULL, "sessions/x.jsonl",
                               1700000000000LL, NULL};
    struct problem err = {0};
    int64_t sid = 0;
    json_t *row, *doc;

    usage(&u, "m", 10, 2, 30, 0, 0.5);
    row = record("pi-1", 0, &u);
    ck_assert(json_is_null(json_object_get(row, "session_id")));
    ck_assert_str_eq(json_string_value(json_object_get(row, "source")),
                     "api");
    ck_assert_int_eq(json_integer_value(json_object_get(row,
                                                        "cache_read_tokens")),
                     30);
    ck_assert(num(row, "cost") == 0.5);
    ck_assert_str_eq(json_string_value(json_object_get(row, "time")),
                     "2023-11-14T22:13:20.000Z");
    json_decref(row);

    /* With an open session, the agent's calls land in it. */
    ck_assert_int_eq(store_session_start(st, &ss, &sid, &err), 0);
    ck_assert_int_gt(sid, 0);
    row = record("pi-1", 0, &u);
    ck_assert_int_eq(json_integer_value(json_object_get(row, "session_id")),
                     sid);
    ck_assert_int_eq(json_integer_value(json_object_get(row,
                                                        "prefix_drift")), 0);
    json_decref(row);

    /* A drift flags the session's next call, once. */
    ck_assert_int_eq(store_metering_flag_drift(st, sid, &err), 0);
    row = record("pi-1", 0, &u);
    ck_assert_int_eq(json_integer_value(json_object_get(row,
                                                        "prefix_drift")), 1);
    json_decref(row);
    row = record("pi-1", sid, &u);
    ck_assert_int_eq(json_integer_value(json_object_get(row,
                                                        "prefix_drift")), 0);
    json_decref(row);
    ck_assert_int_eq(store_metering_flag_drift(st, sid + 100, &err), -1);
    ck_assert_int_eq(err.status, 404);
    problem_clear(&err);

    /* A session that does not exist is refused and nothing is stored. */
    {
        struct metering_record r = {"api", "pi-1", sid + 100, &u, 0};

        ck_assert_int_eq(store_metering_record(st, &r, &row, &err), -1);
        ck_assert_int_eq(err.status, 422);
        ck_assert_str_eq(err.code, "unknown_session");
        problem_clear(&err);
    }
    doc = summary("session", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(doc, "items")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(doc, "total"), "calls")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(doc, "total"), "prefix_drift")), 1);
    json_decref(doc);
}
END_TEST

START_TEST(store_summary_arithmetic)
{
    char **specs = strv("a=2,10,0.2,2.5", NULL);
    struct metering_prices prices;
    struct metering_usage u;
    char err_text[128];
    json_t *doc, *items, *it, *total;

    ck_assert_int_eq(metering_prices_parse(specs, &prices, err_text,
                                           sizeof(err_text)), 0);
    strv_free(specs);
    /* model a, priced: two calls on day 1 */
    usage(&u, "a", 1000, 100, 3000, 0, 99);
    json_decref(record("x", -1, &u));
    usage(&u, "a", 500, 50, 0, 1500, -1);
    json_decref(record("y", -1, &u));
    /* model b, unpriced: reported cost only, the next day */
    test_clock_advance(86400000);
    usage(&u, "b", 100, 10, 100, 0, 0.25);
    json_decref(record("x", -1, &u));
    usage(&u, "b", 100, 10, 100, 0, -1);
    json_decref(record("x", -1, &u));

    doc = summary("model", &prices);
    items = json_object_get(doc, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    it = json_array_get(items, 0);
    ck_assert_str_eq(json_string_value(json_object_get(it, "key")), "a");
    ck_assert_int_eq(json_integer_value(json_object_get(it, "calls")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(it,
                                                        "input_tokens")),
                     1500);
    /* cost = (1500*2 + 150*10 + 3000*0.2 + 1500*2.5) / 1e6 = 0.00885;
     * uncached = ((1500+3000+1500)*2 + 150*10) / 1e6 = 0.0135 */
    ck_assert(num(it, "cost") == 0.00885);
    ck_assert(num(it, "uncached_cost") == 0.0135);
    ck_assert(num(it, "saving") == 0.00465);
    ck_assert(num(it, "hit_ratio") == 3000.0 / 6000.0);
    it = json_array_get(items, 1);
    ck_assert_str_eq(json_string_value(json_object_get(it, "key")), "b");
    ck_assert(num(it, "cost") == 0.25);
    ck_assert(json_is_null(json_object_get(it, "uncached_cost")));
    ck_assert(json_is_null(json_object_get(it, "saving")));
    total = json_object_get(doc, "total");
    ck_assert_int_eq(json_integer_value(json_object_get(total, "calls")), 4);
    ck_assert(num(total, "cost") == 0.25885);
    ck_assert(json_is_null(json_object_get(total, "uncached_cost")));
    json_decref(doc);

    doc = summary("agent", &prices);
    items = json_object_get(doc, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    it = json_array_get(items, 1);
    ck_assert_str_eq(json_string_value(json_object_get(it, "key")), "y");
    /* y: 500*2 + 50*10 + 1500*2.5 = 5250 -> 0.00525 */
    ck_assert(num(it, "cost") == 0.00525);
    ck_assert(num(it, "uncached_cost") == 0.0045);
    ck_assert(num(it, "saving") == -0.00075);
    json_decref(doc);

    doc = summary("day", &prices);
    items = json_object_get(doc, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_str_eq(json_string_value(json_object_get(
        json_array_get(items, 0), "key")), "2023-11-14");
    ck_assert_str_eq(json_string_value(json_object_get(
        json_array_get(items, 1), "key")), "2023-11-15");
    json_decref(doc);

    /* Without prices, every cost is as reported (a's second call: none). */
    doc = summary("model", NULL);
    it = json_array_get(json_object_get(doc, "items"), 0);
    ck_assert(num(it, "cost") == 99);
    json_decref(doc);

    /* The lifetime totals (/metrics) say what the scan says, a call
     * without a model included. */
    usage(&u, "", 7, 1, 0, 0, 0.5);
    json_decref(record(NULL, -1, &u));
    {
        struct problem err = {0};
        json_t *scan = summary("model", &prices), *totals = NULL;

        ck_assert_int_eq(store_metering_totals(st, 100, &prices, &totals,
                                               &err), 0);
        ck_assert_msg(json_equal(scan, totals), "totals differ");
        ck_assert(json_is_null(json_object_get(json_array_get(
            json_object_get(totals, "items"), 0), "key")));
        ck_assert_int_eq(json_array_size(json_object_get(totals, "items")),
                         3);
        json_decref(totals);
        json_decref(scan);
    }
    metering_prices_free(&prices);
}
END_TEST

START_TEST(store_prune_keeps_totals)
{
    struct metering_usage u;
    struct problem err = {0};
    json_t *before = NULL, *after = NULL, *doc;
    int i, n = -1, total = 0;

    /* 5 old calls (day 1), 2 recent ones. */
    for (i = 0; i < 7; i++) {
        usage(&u, "prune-m", 10, 1, 20, 0, -1);
        u.time = i < 5 ? 86400000LL + i : 1700000000000LL + i;
        json_decref(record("pruner", -1, &u));
    }
    ck_assert_int_eq(store_metering_totals(st, 100, NULL, &before, &err), 0);
    /* In batches of 2: 2, 2, 1, then nothing. */
    do {
        ck_assert_int_eq(store_metering_prune(st, 1000000000000LL, 2, &n,
                                              &err), 0);
        total += n;
    } while (n == 2);
    ck_assert_int_eq(total, 5);
    ck_assert_int_eq(store_metering_prune(st, 1000000000000LL, 2, &n, &err),
                     0);
    ck_assert_int_eq(n, 0);
    doc = summary("agent", NULL);
    for (i = 0; i < (int)json_array_size(json_object_get(doc, "items"));
         i++) {
        json_t *it = json_array_get(json_object_get(doc, "items"), i);

        if (!strcmp(json_string_value(json_object_get(it, "key")), "pruner"))
            ck_assert(num(it, "calls") == 2);
    }
    json_decref(doc);
    /* The lifetime counters do not go back. */
    ck_assert_int_eq(store_metering_totals(st, 100, NULL, &after, &err), 0);
    ck_assert_msg(json_equal(before, after), "totals changed by pruning");
    json_decref(before);
    json_decref(after);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("metering");
    TCase *pure = tcase_create("pure");
    TCase *store = tcase_create("store");
    SRunner *sr;
    int failed;

    tcase_add_test(pure, pi_fixtures_exact);
    tcase_add_test(pure, pi_each_call_once);
    tcase_add_test(pure, pi_not_usage);
    tcase_add_test(pure, provider_usage);
    tcase_add_test(pure, prices_parse);
    tcase_add_test(pure, cost_arithmetic);
    tcase_add_test(pure, parse_time);
    suite_add_tcase(s, pure);
    tcase_add_checked_fixture(store, setup, teardown);
    tcase_add_test(store, store_rows_sessions_and_drift);
    tcase_add_test(store, store_summary_arithmetic);
    tcase_add_test(store, store_prune_keeps_totals);
    suite_add_tcase(s, store);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
