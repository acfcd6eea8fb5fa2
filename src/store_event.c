/*
 * store_event.c - reading, adding and pruning the event log.
 *
 * Events are written by the write jobs that make the change they describe
 * (store_event_append, in store.c); this file serves replays (SSE
 * Last-Event-ID, socket subscriptions) and retention.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "util.h"

struct add_ctx {
    const char *type;
    const char *subject;
    const char *agent;
    json_t *data;
};

static int
add_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct add_ctx *ctx = arg;
    json_t *data = ctx->data;

    ctx->data = NULL;           /* stolen by the append, whatever happens */
    return store_event_append(s, c, ctx->type, ctx->subject, ctx->agent,
                              data, err);
}

int
store_event_add(struct store *s, const char *type, const char *subject,
                const char *agent, json_t *data, struct problem *err)
{
    struct add_ctx ctx = {type, subject, agent, data};
    int rc = store_write(s, add_job, &ctx, err);

    json_decref(ctx.data);      /* when the job never ran */
    return rc;
}

void
store_events_free(struct store_event *ev, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(ev[i].type);
        free(ev[i].subject);
        free(ev[i].agent);
        json_decref(ev[i].data);
    }
    free(ev);
}

int
store_events_after(struct store *s, int64_t after, int limit,
                   struct store_event **out, size_t *n, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_EVENT_AFTER);
    struct store_event *ev = xcalloc((size_t)limit + 1, sizeof(*ev));
    size_t count = 0;
    int rc;

    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *agent = (const char *)sqlite3_column_text(st, 4);
        const char *data = (const char *)sqlite3_column_text(st, 5);
        struct store_event *e = &ev[count++];

        e->id = sqlite3_column_int64(st, 0);
        e->time = sqlite3_column_int64(st, 1);
        e->type = xstrdup((const char *)sqlite3_column_text(st, 2));
        e->subject = xstrdup((const char *)sqlite3_column_text(st, 3));
        e->agent = agent ? xstrdup(agent) : NULL;
        e->data = json_loads(data ? data : "null", JSON_DECODE_ANY, NULL);
        if (e->data == NULL)
            e->data = json_null();
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_events_free(ev, count);
        return store_sql_error(c, err, "reading events");
    }
    *out = ev;
    *n = count;
    return 0;
}

int
store_events_bounds(struct store *s, int64_t *oldest, int64_t *newest,
                    struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_EVENT_BOUNDS);
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *oldest = sqlite3_column_int64(st, 0);
        *newest = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "reading event bounds");
    return 0;
}

struct prune_ctx {
    int64_t keep;
    int64_t max_age_ms;
    int deleted;
};

static int
prune_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct prune_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_EVENT_PRUNE);

    sqlite3_bind_int64(st, 1, ctx->keep);
    sqlite3_bind_int64(st, 2, s->clock() - ctx->max_age_ms);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "pruning events");
    ctx->deleted = sqlite3_changes(c->db);
    return 0;
}

int
store_events_prune(struct store *s, int64_t keep, int64_t max_age_ms,
                   int *deleted, struct problem *err)
{
    struct prune_ctx ctx = {keep, max_age_ms, 0};
    int rc = store_write(s, prune_job, &ctx, err);

    *deleted = ctx.deleted;
    return rc;
}
