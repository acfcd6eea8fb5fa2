/*
 * store_host.c - hosts that report their runtime manifest, on the SQLite
 * backend.  One row per host name, replaced by each report; "online" is
 * derived from last_seen when a document is built.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "store_impl.h"
#include "util.h"

static json_t *
time_json(int64_t ms)
{
    char when[UTIL_TIME_LEN];

    util_format_time(ms, when);
    return json_string(when);
}

/* The document of a row (name, manifest, first_seen, reported_at,
 * last_seen, reports). */
static json_t *
host_doc(sqlite3_stmt *st, int64_t now, int online_seconds)
{
    const char *text = (const char *)sqlite3_column_text(st, 1);
    json_t *manifest = text ? json_loads(text, 0, NULL) : NULL;
    int64_t last_seen = sqlite3_column_int64(st, 4);

    return json_pack("{s:s, s:b, s:o, s:o, s:o, s:I, s:o}",
                     "name", (const char *)sqlite3_column_text(st, 0),
                     "online",
                     last_seen >= now - (int64_t)online_seconds * 1000,
                     "first_seen", time_json(sqlite3_column_int64(st, 2)),
                     "reported_at", time_json(sqlite3_column_int64(st, 3)),
                     "last_seen", time_json(last_seen),
                     "reports", (json_int_t)sqlite3_column_int64(st, 5),
                     "manifest", manifest ? manifest : json_null());
}

static int
doc_load(struct conn *c, const char *name, int64_t now, int online_seconds,
         json_t **out, struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_HOST_SELECT);
    int rc;

    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return problem_set(err, 404, "host_not_found",
                           "host '%s' has not reported", name);
    }
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "reading a host");
    *out = host_doc(st, now, online_seconds);
    sqlite3_reset(st);
    return 0;
}

struct report_ctx {
    const char *name;
    char *text;                 /* the manifest, compact */
    int online_seconds;
    json_t *host;
};

static int
report_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct report_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_HOST_COUNT);
    int64_t now = s->clock(), count;
    char subject[300];
    int known;

    /* A new name beyond the cap is refused; a known one always reports. */
    sqlite3_bind_text(st, 1, ctx->name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_sql_error(c, err, "counting hosts");
    count = sqlite3_column_int64(st, 0);
    known = sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (!known && count >= LIMIT_HOSTS)
        return problem_set(err, 409, "too_many_hosts",
                           "%lld hosts have reported; remove one "
                           "(host.remove) before another can",
                           (long long)count);
    st = store_stmt(c, ST_HOST_UPSERT);
    sqlite3_bind_text(st, 1, ctx->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ctx->text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "saving a host");
    if (doc_load(c, ctx->name, now, ctx->online_seconds, &ctx->host,
                 err) < 0)
        return -1;
    snprintf(subject, sizeof(subject), "host:%s", ctx->name);
    return store_event_append(s, c, "host.reported", subject, NULL,
                              json_pack("{s:s, s:O}", "name", ctx->name,
                                        "reports",
                                        json_object_get(ctx->host,
                                                        "reports")),
                              err);
}

int
store_host_report(struct store *s, const json_t *manifest,
                  int online_seconds, json_t **host, struct problem *err)
{
    struct report_ctx ctx;
    int rc;

    memset(&ctx, 0, sizeof(ctx));
    ctx.name = json_string_value(json_object_get(json_object_get(manifest,
                                                                 "host"),
                                                 "name"));
    if (ctx.name == NULL)
        return problem_set(err, 422, "invalid_manifest",
                           "the manifest has no host.name");
    ctx.text = json_dumps(manifest, JSON_COMPACT);
    ctx.online_seconds = online_seconds;
    rc = store_write(s, report_job, &ctx, err);
    free(ctx.text);
    if (rc < 0) {
        json_decref(ctx.host);
        return -1;
    }
    *host = ctx.host;
    return 0;
}

int
store_host_get(struct store *s, const char *name, int online_seconds,
               json_t **host, struct problem *err)
{
    return doc_load(store_reader(s), name, s->clock(), online_seconds, host,
                    err);
}

int
store_host_list(struct store *s, const char *after, int online,
                int online_seconds, int limit, json_t **page,
                struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_HOST_LIST);
    json_t *items = json_array();
    int64_t now = s->clock();
    char *last = NULL;
    int rc, n = 0;

    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    if (online >= 0)
        sqlite3_bind_int(st, 2, online);
    sqlite3_bind_int64(st, 3, now - (int64_t)online_seconds * 1000);
    sqlite3_bind_int(st, 4, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit)
            break;
        json_array_append_new(items, host_doc(st, now, online_seconds));
        free(last);
        last = xstrdup((const char *)sqlite3_column_text(st, 0));
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        free(last);
        json_decref(items);
        return store_sql_error(c, err, "listing hosts");
    }
    *page = json_pack("{s:o, s:o}", "items", items, "next",
                      rc == SQLITE_ROW && last ? json_string(last)
                                               : json_null());
    free(last);
    return 0;
}

struct remove_ctx {
    const char *name;
};

static int
remove_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    const char *name = ((struct remove_ctx *)arg)->name;
    sqlite3_stmt *st = store_stmt(c, ST_HOST_DELETE);
    char subject[300];

    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "removing a host");
    if (sqlite3_changes(c->db) == 0)
        return problem_set(err, 404, "host_not_found",
                           "host '%s' has not reported", name);
    snprintf(subject, sizeof(subject), "host:%s", name);
    return store_event_append(s, c, "host.removed", subject, NULL,
                              json_pack("{s:s}", "name", name), err);
}

int
store_host_remove(struct store *s, const char *name, struct problem *err)
{
    struct remove_ctx ctx = {name};

    return store_write(s, remove_job, &ctx, err);
}
