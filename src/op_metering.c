/*
 * op_metering.c - handlers of the metering operations (record, list,
 * summary) and the metering lines of /metrics.  Prices come from the
 * configuration (--price) on every call; there is no price in code.
 */
#include "autoconf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "config.h"
#include "handlers.h"
#include "limits.h"
#include "metering.h"
#include "op_metering.h"
#include "store.h"

/* The configured prices (none in unit tests without a config). */
static int
load_prices(const struct app *app, struct metering_prices *prices,
            struct problem *err)
{
    char msg[256];

    if (metering_prices_parse(app->cfg ? app->cfg->prices : NULL, prices,
                              msg, sizeof(msg)) < 0)
        return problem_set(err, 500, "bad_prices", "%s", msg);
    return 0;
}

/* ?since / ?until as ms (-1 when absent); 422 when not a time. */
static int
time_arg(struct call *c, const char *name, int64_t *ms)
{
    const char *s = call_str(c, name);

    *ms = -1;
    if (s == NULL)
        return 0;
    if (metering_parse_time(s, ms) < 0 || *ms < 0)
        return problem_set(&c->err, 422, "invalid_time",
                           "%s must be an RFC 3339 date-time (or a date), "
                           "not '%s'", name, s);
    return 0;
}

static int
filter_from_call(struct call *c, struct metering_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->agent = call_str(c, "agent");
    f->model = call_str(c, "model");
    f->session = call_int(c, "session", -1);
    f->limit = (int)call_int(c, "limit", LIMIT_LIST_DEFAULT);
    if (time_arg(c, "since", &f->since) < 0 ||
        time_arg(c, "until", &f->until) < 0)
        return -1;
    if (f->since >= 0 && f->until >= 0 && f->until <= f->since)
        return problem_set(&c->err, 422, "invalid_time_range",
                           "until must be later than since");
    return 0;
}

int
op_metering_record(struct call *c)
{
    struct metering_usage u;
    struct metering_record r;
    const json_t *cost = call_arg(c, "cost");
    const char *agent = call_str(c, "agent");

    memset(&u, 0, sizeof(u));
    snprintf(u.provider, sizeof(u.provider), "%s",
             call_str(c, "provider"));
    snprintf(u.model, sizeof(u.model), "%s", call_str(c, "model"));
    u.input_tokens = call_int(c, "input_tokens", 0);
    u.output_tokens = call_int(c, "output_tokens", 0);
    u.cache_read_tokens = call_int(c, "cache_read_tokens", 0);
    u.cache_write_tokens = call_int(c, "cache_write_tokens", 0);
    if (cost != NULL && !json_is_null(cost)) {
        if (!json_is_number(cost) || !isfinite(json_number_value(cost)) ||
            json_number_value(cost) < 0 || json_number_value(cost) > 1e9)
            return problem_set(&c->err, 422, "invalid_cost",
                               "cost must be a number of USD from 0 to "
                               "1e9, or null");
        u.cost = json_number_value(cost);
        u.has_cost = 1;
    }
    memset(&r, 0, sizeof(r));
    r.source = call_str(c, "source") ? call_str(c, "source") : "api";
    r.agent = agent;
    /* A session named is checked; else an agent's open session counts. */
    r.session = call_int(c, "session", agent != NULL ? 0 : -1);
    r.usage = &u;
    r.prefix_drift = call_bool(c, "prefix_drift", 0);
    return store_metering_record(c->app->store, &r, &c->result, &c->err);
}

int
op_metering_list(struct call *c)
{
    struct metering_filter f;
    const char *after = call_str(c, "after");
    long long cursor = 0;
    char *end = NULL;

    if (filter_from_call(c, &f) < 0)
        return -1;
    if (after != NULL) {
        cursor = strtoll(after, &end, 10);
        if (*after == '\0' || *end != '\0' || cursor < 1)
            return problem_set(&c->err, 422, "invalid_cursor",
                               "after must be the 'next' of a page");
    }
    f.after = cursor;
    return store_metering_list(c->app->store, &f, &c->result, &c->err);
}

int
op_metering_summary(struct call *c)
{
    struct metering_filter f;
    struct metering_prices prices;
    int rc;

    if (filter_from_call(c, &f) < 0)
        return -1;
    f.session = -1;
    if (load_prices(c->app, &prices, &c->err) < 0)
        return -1;
    rc = store_metering_summary(c->app->store, call_str(c, "group_by"), &f,
                                &prices, &c->result, &c->err);
    metering_prices_free(&prices);
    return rc;
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void
label(struct buf *out, const json_t *v)
{
    const char *s = json_string_value(v);

    if (s == NULL)
        return;
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            buf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            buf_printf(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

int
metering_render_metrics(struct app *app, struct buf *out,
                        struct problem *err)
{
    static const char *const kinds[][2] = {
        {"input", "input_tokens"}, {"output", "output_tokens"},
        {"cache_read", "cache_read_tokens"},
        {"cache_write", "cache_write_tokens"},
    };
    struct metering_prices prices;
    json_t *sum = NULL, *items, *it;
    size_t i, k;

    if (load_prices(app, &prices, err) < 0)
        return -1;
    if (store_metering_totals(app->store, LIMIT_METERING_METRIC_MODELS,
                              &prices, &sum, err) < 0) {
        metering_prices_free(&prices);
        return -1;
    }
    metering_prices_free(&prices);
    items = json_object_get(sum, "items");
    buf_printf(out, "# HELP colibri_tokens_total Model tokens metered, by "
               "kind and model.\n# TYPE colibri_tokens_total counter\n");
    json_array_foreach(items, i, it) {
        for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            buf_printf(out, "colibri_tokens_total{kind=\"%s\",model=\"",
                       kinds[k][0]);
            label(out, json_object_get(it, "key"));
            buf_printf(out, "\"} %lld\n", (long long)json_integer_value(
                json_object_get(it, kinds[k][1])));
        }
    }
    buf_printf(out, "# HELP colibri_cost_usd_total What the metered calls "
               "cost (configured prices, else as reported), by model.\n"
               "# TYPE colibri_cost_usd_total counter\n");
    json_array_foreach(items, i, it) {
        buf_printf(out, "colibri_cost_usd_total{model=\"");
        label(out, json_object_get(it, "key"));
        buf_printf(out, "\"} %.9f\n",
                   json_number_value(json_object_get(it, "cost")));
    }
    buf_printf(out, "# HELP colibri_cache_hit_ratio Prompt tokens served "
               "from a cache over all prompt tokens, by model.\n"
               "# TYPE colibri_cache_hit_ratio gauge\n");
    json_array_foreach(items, i, it) {
        const json_t *ratio = json_object_get(it, "hit_ratio");

        if (json_is_null(ratio))
            continue;
        buf_printf(out, "colibri_cache_hit_ratio{model=\"");
        label(out, json_object_get(it, "key"));
        buf_printf(out, "\"} %.6f\n", json_number_value(ratio));
    }
    json_decref(sum);
    return 0;
}
