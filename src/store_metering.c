/*
 * store_metering.c - the metering rows: usage per model call, from agent
 * streams (panes ingestion), the probe and the API; the list, the summary
 * with its cost arithmetic, and prefix-drift flags.
 *
 * The SQL is in the statement table (store.c, ST_METERING_*): ingestion
 * writes a row per model call inside its batch's job, and preparing per
 * use cost more than the rest of the insert (docs/internals/metering.md).
 */
#include "autoconf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "metering.h"
#include "store_impl.h"
#include "util.h"

static json_t *row_doc(sqlite3_stmt *st);

/* A row's values: strings borrowed, NULL for SQL NULL; session 0 and
 * has_cost 0 for NULL. */
struct row_vals {
    int64_t id, time, session;
    const char *agent, *source, *provider, *model;
    struct metering_tokens t;
    int has_cost, drift;
    double cost;
};

static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* A row as its API document. */
static json_t *
doc_of(const struct row_vals *v)
{
    char when[UTIL_TIME_LEN];

    util_format_time(v->time, when);
    return json_pack("{s:I, s:s, s:o, s:o, s:s, s:o, s:o, s:I, s:I, s:I, "
                     "s:I, s:o, s:i}",
                     "id", (json_int_t)v->id, "time", when,
                     "agent", str_or_null(v->agent),
                     "session_id", v->session > 0 ? json_integer(v->session)
                                                  : json_null(),
                     "source", v->source,
                     "provider", str_or_null(v->provider),
                     "model", str_or_null(v->model),
                     "input_tokens", (json_int_t)v->t.input,
                     "output_tokens", (json_int_t)v->t.output,
                     "cache_read_tokens", (json_int_t)v->t.cache_read,
                     "cache_write_tokens", (json_int_t)v->t.cache_write,
                     "cost", v->has_cost ? json_real(v->cost) : json_null(),
                     "prefix_drift", v->drift);
}

/* The row st is on (columns METERING_ROW_COLS) as its API document. */
static json_t *
row_doc(sqlite3_stmt *st)
{
    struct row_vals v;

    v.id = sqlite3_column_int64(st, 0);
    v.time = sqlite3_column_int64(st, 1);
    v.agent = (const char *)sqlite3_column_text(st, 2);
    v.session = sqlite3_column_int64(st, 3);
    v.source = (const char *)sqlite3_column_text(st, 4);
    v.provider = (const char *)sqlite3_column_text(st, 5);
    v.model = (const char *)sqlite3_column_text(st, 6);
    v.t.input = sqlite3_column_int64(st, 7);
    v.t.output = sqlite3_column_int64(st, 8);
    v.t.cache_read = sqlite3_column_int64(st, 9);
    v.t.cache_write = sqlite3_column_int64(st, 10);
    v.has_cost = sqlite3_column_type(st, 11) != SQLITE_NULL;
    v.cost = sqlite3_column_double(st, 11);
    v.drift = sqlite3_column_int(st, 12);
    return doc_of(&v);
}

/* The agent's open session (latest started): *id, 0 when it has none.
 * 0 or -1. */
static int
open_session(struct conn *c, const char *agent, int64_t *id,
             struct problem *err)
{
    sqlite3_stmt *st;
    int rc;

    *id = 0;
    if (agent == NULL)
        return 0;
    st = store_stmt(c, ST_METERING_OPEN_SESSION);
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sql_error(c, err, "finding the open session");
    return 0;
}

/* 1 when session exists, 0 when not, -1 on error. */
static int
session_exists(struct conn *c, int64_t id, struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_METERING_SESSION_EXISTS);
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_sql_error(c, err, "finding a session");
}

/* Takes (and clears) session's pending drift mark: 1, 0, or -1. */
static int
take_drift(struct conn *c, int64_t session, struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_METERING_DRIFT_TAKE);
    int rc;

    sqlite3_bind_int64(st, 1, session);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "clearing a drift mark");
    return sqlite3_changes(c->db) > 0;
}

static int insert_row(struct store *s, struct conn *c,
                      const struct metering_record *r, int64_t session,
                      int drift, json_t **row, struct problem *err);

int
store_metering_insert(struct store *s, struct conn *c,
                      const struct metering_record *r, json_t **row,
                      struct problem *err)
{
    int64_t session = r->session;
    int drift = r->prefix_drift ? 1 : 0, rc;

    if (session == 0) {
        if (open_session(c, r->agent, &session, err) < 0)
            return -1;
    } else if (session > 0) {
        rc = session_exists(c, session, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return problem_set(err, 422, "unknown_session",
                               "session %lld does not exist",
                               (long long)session);
    }
    if (session > 0) {
        rc = take_drift(c, session, err);
        if (rc < 0)
            return -1;
        drift |= rc;
    }
    return insert_row(s, c, r, session, drift, row, err);
}

/*
 * Stores one call whose session is resolved (> 0, or none) and whose
 * drift flag is known, with its totals and its `metering` event.
 */
static int
insert_row(struct store *s, struct conn *c, const struct metering_record *r,
           int64_t session, int drift, json_t **row, struct problem *err)
{
    const struct metering_usage *u = r->usage;
    struct row_vals v;
    sqlite3_stmt *st;
    json_t *doc;
    int64_t id, when = u->time > 0 ? u->time : s->clock();
    int rc;
    char subject[32];

    st = store_stmt(c, ST_METERING_INSERT);
    sqlite3_bind_int64(st, 1, when);
    if (r->agent != NULL)
        sqlite3_bind_text(st, 2, r->agent, -1, SQLITE_TRANSIENT);
    if (session > 0)
        sqlite3_bind_int64(st, 3, session);
    sqlite3_bind_text(st, 4, r->source, -1, SQLITE_TRANSIENT);
    if (u->provider[0] != '\0')
        sqlite3_bind_text(st, 5, u->provider, -1, SQLITE_TRANSIENT);
    if (u->model[0] != '\0')
        sqlite3_bind_text(st, 6, u->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, u->input_tokens);
    sqlite3_bind_int64(st, 8, u->output_tokens);
    sqlite3_bind_int64(st, 9, u->cache_read_tokens);
    sqlite3_bind_int64(st, 10, u->cache_write_tokens);
    if (u->has_cost)
        sqlite3_bind_double(st, 11, u->cost);
    sqlite3_bind_int(st, 12, drift);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "recording usage");
    id = sqlite3_last_insert_rowid(c->db);

    st = store_stmt(c, ST_METERING_TOTALS_ADD);
    if (u->model[0] != '\0')
        sqlite3_bind_text(st, 1, u->model, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, u->input_tokens);
    sqlite3_bind_int64(st, 3, u->output_tokens);
    sqlite3_bind_int64(st, 4, u->cache_read_tokens);
    sqlite3_bind_int64(st, 5, u->cache_write_tokens);
    if (u->has_cost)
        sqlite3_bind_double(st, 6, u->cost);
    sqlite3_bind_int(st, 7, drift);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "adding to the totals");

    /* The document of what was just stored, from the values bound. */
    v.id = id;
    v.time = when;
    v.session = session > 0 ? session : 0;
    v.agent = r->agent;
    v.source = r->source;
    v.provider = u->provider[0] != '\0' ? u->provider : NULL;
    v.model = u->model[0] != '\0' ? u->model : NULL;
    v.t.input = u->input_tokens;
    v.t.output = u->output_tokens;
    v.t.cache_read = u->cache_read_tokens;
    v.t.cache_write = u->cache_write_tokens;
    v.has_cost = u->has_cost;
    v.cost = u->cost;
    v.drift = drift;
    doc = doc_of(&v);
    snprintf(subject, sizeof(subject), "metering:%lld", (long long)id);
    if (store_event_append(s, c, "metering", subject, r->agent,
                           json_incref(doc), err) < 0) {
        json_decref(doc);
        return -1;
    }
    if (row != NULL)
        *row = doc;
    else
        json_decref(doc);
    return 0;
}

int
store_metering_drift(struct store *s, struct conn *c, int64_t session,
                     struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_METERING_DRIFT_MARK);
    int rc;

    sqlite3_bind_int64(st, 1, session);
    sqlite3_bind_int64(st, 2, s->clock());
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "marking prefix drift");
    return 0;
}

/* --- write jobs ------------------------------------------------------ */

struct record_ctx {
    const struct metering_record *r;
    json_t *row;
};

static int
record_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct record_ctx *ctx = arg;

    return store_metering_insert(s, c, ctx->r, &ctx->row, err);
}

int
store_metering_record(struct store *s, const struct metering_record *r,
                      json_t **row, struct problem *err)
{
    struct record_ctx ctx = {r, NULL};

    if (store_write(s, record_job, &ctx, err) < 0) {
        json_decref(ctx.row);
        return -1;
    }
    *row = ctx.row;
    return 0;
}

struct ingest_ctx {
    const char *agent;
    const struct agent_transition *t;
    size_t n;
    const struct metering_usage *u;
    size_t nu;
};

static int
ingest_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct ingest_ctx *ctx = arg;
    int64_t session = 0;
    int drift = 0;
    size_t i;

    if (store_agent_apply_state(s, c, ctx->agent, ctx->t, ctx->n, err) < 0)
        return -1;
    if (ctx->nu == 0)
        return 0;
    /* The batch is one agent's, in one write job: its open session and
     * a pending drift mark (for the session's next call: the batch's
     * first) are looked up once, not per call. */
    if (open_session(c, ctx->agent, &session, err) < 0)
        return -1;
    if (session > 0 && (drift = take_drift(c, session, err)) < 0)
        return -1;
    for (i = 0; i < ctx->nu; i++) {
        struct metering_record r = {"stream", ctx->agent, 0, &ctx->u[i], 0};

        if (insert_row(s, c, &r, session > 0 ? session : -1,
                       i == 0 ? drift : 0, NULL, err) < 0)
            return -1;
    }
    return 0;
}

int
store_agent_ingest(struct store *s, const char *agent,
                   const struct agent_transition *t, size_t n,
                   const struct metering_usage *u, size_t nu,
                   struct problem *err)
{
    struct ingest_ctx ctx = {agent, t, n, u, nu};

    return store_write(s, ingest_job, &ctx, err);
}

struct drift_ctx {
    int64_t session;
};

static int
drift_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct drift_ctx *ctx = arg;
    int rc = session_exists(c, ctx->session, err);

    if (rc < 0)
        return -1;
    if (rc == 0)
        return problem_set(err, 404, "session_not_found",
                           "session %lld does not exist",
                           (long long)ctx->session);
    return store_metering_drift(s, c, ctx->session, err);
}

int
store_metering_flag_drift(struct store *s, int64_t session,
                          struct problem *err)
{
    struct drift_ctx ctx = {session};

    return store_write(s, drift_job, &ctx, err);
}

/* --- reading --------------------------------------------------------- */

/* The filter's parameters ?1..?5 (METERING_FILTER in store.c). */
static void
bind_filter(sqlite3_stmt *st, const struct metering_filter *f)
{
    if (f->agent != NULL)
        sqlite3_bind_text(st, 1, f->agent, -1, SQLITE_TRANSIENT);
    if (f->model != NULL)
        sqlite3_bind_text(st, 2, f->model, -1, SQLITE_TRANSIENT);
    if (f->session >= 0)
        sqlite3_bind_int64(st, 3, f->session);
    sqlite3_bind_int64(st, 4, f->since >= 0 ? f->since : INT64_MIN);
    sqlite3_bind_int64(st, 5, f->until >= 0 ? f->until : INT64_MAX);
}

int
store_metering_list(struct store *s, const struct metering_filter *f,
                    json_t **page, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_METERING_LIST);
    json_t *items = json_array();
    int64_t last = 0;
    int n = 0, rc;
    char next[32];

    bind_filter(st, f);
    sqlite3_bind_int64(st, 6, f->after > 0 ? f->after : INT64_MAX);
    sqlite3_bind_int(st, 7, f->limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit)
            break;
        json_array_append_new(items, row_doc(st));
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return store_sql_error(c, err, "listing usage");
    }
    snprintf(next, sizeof(next), "%lld", (long long)last);
    *page = json_pack("{s:o, s:o}", "items", items, "next",
                      rc == SQLITE_ROW ? json_string(next) : json_null());
    return 0;
}

/* The summary statement of each group_by. */
static const struct {
    const char *name;
    enum stmt_id stmt;
} groups[] = {
    {"agent", ST_METERING_SUM_AGENT},
    {"model", ST_METERING_SUM_MODEL},
    {"session", ST_METERING_SUM_SESSION},
    {"day", ST_METERING_SUM_DAY},
};

/* One group's sums while the rows of its models are folded in. */
struct acc {
    struct metering_tokens t;
    int64_t calls, drift;
    double cost, uncached;
    int cost_known;             /* some part has a cost */
    int all_priced;             /* every part has a price */
};

static void
acc_init(struct acc *a)
{
    memset(a, 0, sizeof(*a));
    a->all_priced = 1;
}

/* Adds the sums of one (group, model) row, columns 1..9. */
static void
acc_add(struct acc *a, sqlite3_stmt *st,
        const struct metering_prices *prices)
{
    const char *model = (const char *)sqlite3_column_text(st, 1);
    const struct metering_price *price = metering_price_find(prices, model);
    struct metering_tokens t;

    t.input = sqlite3_column_int64(st, 3);
    t.output = sqlite3_column_int64(st, 4);
    t.cache_read = sqlite3_column_int64(st, 5);
    t.cache_write = sqlite3_column_int64(st, 6);
    a->t.input += t.input;
    a->t.output += t.output;
    a->t.cache_read += t.cache_read;
    a->t.cache_write += t.cache_write;
    a->calls += sqlite3_column_int64(st, 2);
    a->drift += sqlite3_column_int64(st, 9);
    if (price != NULL) {
        a->cost += metering_cost(price, &t);
        a->uncached += metering_uncached_cost(price, &t);
        a->cost_known = 1;
    } else {
        a->all_priced = 0;
        if (sqlite3_column_int64(st, 8) > 0) {
            a->cost += sqlite3_column_double(st, 7);
            a->cost_known = 1;
        }
    }
}

static json_t *
money(int known, double usd)
{
    return known ? json_real(metering_round(usd)) : json_null();
}

static json_t *
acc_doc(const struct acc *a)
{
    double ratio = metering_hit_ratio(&a->t);
    int uncached_known = a->all_priced && a->calls > 0;

    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:I}",
                     "calls", (json_int_t)a->calls,
                     "input_tokens", (json_int_t)a->t.input,
                     "output_tokens", (json_int_t)a->t.output,
                     "cache_read_tokens", (json_int_t)a->t.cache_read,
                     "cache_write_tokens", (json_int_t)a->t.cache_write,
                     "hit_ratio", ratio < 0 ? json_null() : json_real(ratio),
                     "cost", money(a->cost_known, a->cost),
                     "uncached_cost", money(uncached_known, a->uncached),
                     "saving", money(uncached_known && a->cost_known,
                                     a->uncached - a->cost),
                     "prefix_drift", (json_int_t)a->drift);
}

/* A group's document, key first (what a table of them shows first);
 * key is stolen. */
static json_t *
item_doc(json_t *key, const struct acc *a)
{
    json_t *item = json_pack("{s:o}", "key", key);

    json_object_update_new(item, acc_doc(a));
    return item;
}

static json_t *
key_value(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, col));
    default:
        return json_string((const char *)sqlite3_column_text(st, col));
    }
}

/* Two group keys (columns of two rows) compare equal. */
static int
same_key(const json_t *a, const json_t *b)
{
    return json_equal(a, b) || (json_is_null(a) && json_is_null(b));
}

/*
 * Folds the rows of st -- sums per (group, model), ordered by group, the
 * columns of METERING_SUM -- into the summary document: the price is per
 * model, and a sum of costs at one price is the cost of the sums.
 */
static int
summarize(struct conn *c, sqlite3_stmt *st, const char *group_by,
          int limit, const struct metering_prices *prices, json_t **out,
          struct problem *err)
{
    struct acc total, group;
    json_t *items = json_array(), *key = NULL;
    int rc, truncated = 0;

    acc_init(&total);
    acc_init(&group);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *k = key_value(st, 0);

        if (key != NULL && !same_key(key, k)) {
            if (json_array_size(items) < (size_t)limit) {
                json_array_append_new(items, item_doc(key, &group));
            } else {
                truncated = 1;
                json_decref(key);
            }
            key = NULL;
            acc_init(&group);
        }
        if (key == NULL)
            key = k;
        else
            json_decref(k);
        acc_add(&group, st, prices);
        acc_add(&total, st, prices);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(key);
        json_decref(items);
        return store_sql_error(c, err, "summing usage");
    }
    if (key != NULL) {
        if (json_array_size(items) < (size_t)limit) {
            json_array_append_new(items, item_doc(key, &group));
        } else {
            truncated = 1;
            json_decref(key);
        }
    }
    *out = json_pack("{s:s, s:o, s:o, s:b}", "group_by", group_by,
                     "items", items, "total", acc_doc(&total),
                     "truncated", truncated);
    return 0;
}

int
store_metering_summary(struct store *s, const char *group_by,
                       const struct metering_filter *f,
                       const struct metering_prices *prices,
                       json_t **out, struct problem *err)
{
    struct conn *c = store_reader(s);
    size_t i;

    for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        if (!strcmp(groups[i].name, group_by)) {
            sqlite3_stmt *st = store_stmt(c, groups[i].stmt);

            bind_filter(st, f);
            return summarize(c, st, group_by, f->limit, prices, out, err);
        }
    }
    return problem_set(err, 422, "invalid_group_by",
                       "group_by must be agent, model, session or day");
}

int
store_metering_totals(struct store *s, int limit,
                      const struct metering_prices *prices, json_t **out,
                      struct problem *err)
{
    struct conn *c = store_reader(s);

    return summarize(c, store_stmt(c, ST_METERING_TOTALS), "model", limit,
                     prices, out, err);
}

/* --- retention -------------------------------------------------------- */

struct prune_ctx {
    int64_t before_ms;
    int limit;
    int deleted;
};

static int
prune_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct prune_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_METERING_PRUNE);

    (void)s;
    sqlite3_bind_int64(st, 1, ctx->before_ms);
    sqlite3_bind_int(st, 2, ctx->limit);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "pruning metering");
    ctx->deleted = sqlite3_changes(c->db);
    return 0;
}

int
store_metering_prune(struct store *s, int64_t before_ms, int limit,
                     int *deleted, struct problem *err)
{
    struct prune_ctx ctx = {before_ms, limit, 0};
    int rc = store_write(s, prune_job, &ctx, err);

    *deleted = ctx.deleted;
    return rc;
}
