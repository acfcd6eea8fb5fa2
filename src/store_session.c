/*
 * store_session.c - the session index on the SQLite backend.
 *
 * A session is one agent run; its entries live in an append-only JSONL
 * file (src/session.c), and this table says which file, for whom, when,
 * how big and how it ended.  Start and end are write jobs that append
 * session.start / session.end to the same transaction, so the bus says
 * only what was committed.  See docs/internals/sessions.md.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "store_impl.h"
#include "util.h"

/* Rows looked at per retention step. */
#define SESSION_PRUNE_PAGE 1000

static json_t *
int_or_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? json_null()
               : json_integer(sqlite3_column_int64(st, i));
}

static json_t *
text_or_null(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? json_string((const char *)t) : json_null();
}

static json_t *
time_or_null(sqlite3_stmt *st, int i)
{
    char when[UTIL_TIME_LEN];

    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return json_null();
    util_format_time(sqlite3_column_int64(st, i), when);
    return json_string(when);
}

/* The document of the row st is on (SESSION_DOC_COLS). */
static json_t *
session_doc(sqlite3_stmt *st)
{
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, "
                     "s:o}",
                     "id", (json_int_t)sqlite3_column_int64(st, 0),
                     "agent", text_or_null(st, 1),
                     "task_id", int_or_null(st, 2),
                     "runner", text_or_null(st, 3),
                     "started_at", time_or_null(st, 5),
                     "ended_at", time_or_null(st, 6),
                     "size", (json_int_t)sqlite3_column_int64(st, 7),
                     "lines", (json_int_t)sqlite3_column_int64(st, 8),
                     "state", text_or_null(st, 9),
                     "exit_status", int_or_null(st, 10),
                     "prefix_sha256", text_or_null(st, 11));
}

static int
doc_load(struct conn *c, int64_t id, json_t **doc, char **path,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_SELECT);
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return problem_set(err, 404, "session_not_found",
                           "there is no session %lld", (long long)id);
    }
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "loading a session");
    *doc = session_doc(st);
    if (path != NULL)
        *path = xstrdup((const char *)sqlite3_column_text(st, 4));
    sqlite3_reset(st);
    return 0;
}

static int
session_event(struct store *s, struct conn *c, const char *type,
              int64_t id, const json_t *doc, struct problem *err)
{
    char subject[40];

    snprintf(subject, sizeof(subject), "session:%lld", (long long)id);
    return store_event_append(s, c, type, subject,
                              json_string_value(json_object_get(doc,
                                                                "agent")),
                              json_deep_copy(doc), err);
}

/* --- start and end --------------------------------------------------- */

struct start_ctx {
    const struct session_start *in;
    int64_t id;
};

static int
start_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct start_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_INSERT);
    json_t *doc = NULL;
    int rc;

    sqlite3_bind_text(st, 1, ctx->in->agent, -1, SQLITE_TRANSIENT);
    if (ctx->in->task_id >= 0)
        sqlite3_bind_int64(st, 2, ctx->in->task_id);
    if (ctx->in->runner != NULL)
        sqlite3_bind_text(st, 3, ctx->in->runner, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, ctx->in->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, ctx->in->started_at);
    if (ctx->in->prefix_sha256 != NULL)
        sqlite3_bind_text(st, 6, ctx->in->prefix_sha256, -1,
                          SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "starting a session");
    ctx->id = sqlite3_last_insert_rowid(c->db);
    if (doc_load(c, ctx->id, &doc, NULL, err) < 0)
        return -1;
    rc = session_event(s, c, "session.start", ctx->id, doc, err);
    json_decref(doc);
    return rc;
}

int
store_session_start(struct store *s, const struct session_start *in,
                    int64_t *id, struct problem *err)
{
    struct start_ctx ctx = {in, 0};

    if (store_write(s, start_job, &ctx, err) < 0)
        return -1;
    *id = ctx.id;
    return 0;
}

struct end_ctx {
    int64_t id;
    const struct session_end *in;
};

static int
end_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct end_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_END);
    json_t *doc = NULL;
    int rc;

    sqlite3_bind_int64(st, 1, ctx->id);
    sqlite3_bind_int64(st, 2, ctx->in->ended_at);
    sqlite3_bind_int64(st, 3, ctx->in->size);
    sqlite3_bind_int64(st, 4, ctx->in->lines);
    if (ctx->in->state != NULL)
        sqlite3_bind_text(st, 5, ctx->in->state, -1, SQLITE_TRANSIENT);
    if (ctx->in->exit_status >= 0)
        sqlite3_bind_int(st, 6, ctx->in->exit_status);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "ending a session");
    if (sqlite3_changes(c->db) == 0)
        return 0;               /* already ended (or gone): nothing new */
    if (doc_load(c, ctx->id, &doc, NULL, err) < 0)
        return -1;
    rc = session_event(s, c, "session.end", ctx->id, doc, err);
    json_decref(doc);
    return rc;
}

int
store_session_end(struct store *s, int64_t id, const struct session_end *in,
                  struct problem *err)
{
    struct end_ctx ctx = {id, in};

    return store_write(s, end_job, &ctx, err);
}

/* --- reads ----------------------------------------------------------- */

int
store_session_get(struct store *s, int64_t id, json_t **doc, char **path,
                  struct problem *err)
{
    return doc_load(store_reader(s), id, doc, path, err);
}

int
store_session_list(struct store *s, const struct session_filter *f,
                   json_t **page, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_LIST);
    json_t *items = json_array();
    int64_t last = 0;
    int rc, n = 0;

    sqlite3_bind_int64(st, 1, f->after > 0 ? f->after : INT64_MAX);
    if (f->agent != NULL)
        sqlite3_bind_text(st, 2, f->agent, -1, SQLITE_TRANSIENT);
    if (f->task >= 0)
        sqlite3_bind_int64(st, 3, f->task);
    if (f->state != NULL)
        sqlite3_bind_text(st, 4, f->state, -1, SQLITE_TRANSIENT);
    if (f->since >= 0)
        sqlite3_bind_int64(st, 5, f->since);
    if (f->until >= 0)
        sqlite3_bind_int64(st, 6, f->until);
    sqlite3_bind_int(st, 7, f->limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit)
            break;
        json_array_append_new(items, session_doc(st));
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return store_sql_error(c, err, "listing sessions");
    }
    if (rc == SQLITE_ROW) {
        char next[24];

        snprintf(next, sizeof(next), "%lld", (long long)last);
        *page = json_pack("{s:o, s:s}", "items", items, "next", next);
    } else {
        *page = json_pack("{s:o, s:n}", "items", items, "next");
    }
    return 0;
}

int
store_session_open_list(struct store *s, json_t **items,
                        struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_OPEN_ALL);
    json_t *list = json_array();
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_pack(
            "{s:I, s:s, s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
            "path", (const char *)sqlite3_column_text(st, 1),
            "started_at", (json_int_t)sqlite3_column_int64(st, 2));

        /* What the store last committed of the agent (the glasspane and
         * the process record), for closing a session a crash left open:
         * unlike the file, nothing the agent prints can forge it. */
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            json_object_set_new(o, "state", json_string(
                (const char *)sqlite3_column_text(st, 3)));
            json_object_set_new(o, "state_since", json_integer(
                sqlite3_column_int64(st, 4)));
        }
        if (sqlite3_column_type(st, 5) != SQLITE_NULL)
            json_object_set_new(o, "pid", json_integer(
                sqlite3_column_int64(st, 5)));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            json_object_set_new(o, "exit_status", json_integer(
                sqlite3_column_int64(st, 6)));
        json_array_append_new(list, o);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(list);
        return store_sql_error(c, err, "listing open sessions");
    }
    *items = list;
    return 0;
}

/* --- retention ------------------------------------------------------- */

struct prune_ctx {
    int64_t ended_before;
    int64_t max_bytes;
    char **paths;
    size_t n;
};

static void
prune_note(struct prune_ctx *ctx, const char *path)
{
    ctx->paths = xrealloc(ctx->paths, (ctx->n + 2) * sizeof(*ctx->paths));
    ctx->paths[ctx->n++] = xstrdup(path);
    ctx->paths[ctx->n] = NULL;
}

static int
prune_row(struct conn *c, int64_t id, struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_SESSION_DELETE);

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "deleting a session");
    return 0;
}

/* Ids and paths of one page of candidates (st stepped), into arrays. */
static int
prune_page(struct conn *c, sqlite3_stmt *st, int64_t *ids, char **paths,
           int64_t *sizes, int *n, struct problem *err)
{
    int rc = SQLITE_DONE;

    *n = 0;
    while (*n < SESSION_PRUNE_PAGE && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ids[*n] = sqlite3_column_int64(st, 0);
        paths[*n] = xstrdup((const char *)sqlite3_column_text(st, 1));
        if (sizes != NULL)
            sizes[*n] = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    if (*n < SESSION_PRUNE_PAGE && rc != SQLITE_DONE) {
        sqlite3_reset(st);
        return store_sql_error(c, err, "finding sessions to prune");
    }
    sqlite3_reset(st);
    return 0;
}

static int
prune_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct prune_ctx *ctx = arg;
    int64_t *ids = xcalloc(SESSION_PRUNE_PAGE, sizeof(*ids));
    int64_t *sizes = xcalloc(SESSION_PRUNE_PAGE, sizeof(*sizes));
    char **paths = xcalloc(SESSION_PRUNE_PAGE, sizeof(*paths));
    sqlite3_stmt *st;
    int64_t total;
    int n = 0, i, rc = -1;

    (void)s;
    if (ctx->ended_before >= 0) {
        st = store_stmt(c, ST_SESSION_EXPIRED);
        sqlite3_bind_int64(st, 1, ctx->ended_before);
        sqlite3_bind_int(st, 2, SESSION_PRUNE_PAGE);
        if (prune_page(c, st, ids, paths, NULL, &n, err) < 0)
            goto out;
        for (i = 0; i < n; i++) {
            if (prune_row(c, ids[i], err) < 0)
                goto out;
            prune_note(ctx, paths[i]);
        }
    }
    if (ctx->max_bytes >= 0) {
        for (i = 0; i < n; i++) {
            free(paths[i]);
            paths[i] = NULL;
        }
        n = 0;
        st = store_stmt(c, ST_SESSION_TOTAL);
        if (sqlite3_step(st) != SQLITE_ROW) {
            store_sql_error(c, err, "adding up session sizes");
            goto out;
        }
        total = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (total > ctx->max_bytes) {
            st = store_stmt(c, ST_SESSION_OLDEST);
            sqlite3_bind_int(st, 1, SESSION_PRUNE_PAGE);
            if (prune_page(c, st, ids, paths, sizes, &n, err) < 0)
                goto out;
            for (i = 0; i < n && total > ctx->max_bytes; i++) {
                if (prune_row(c, ids[i], err) < 0)
                    goto out;
                prune_note(ctx, paths[i]);
                total -= sizes[i];
            }
        }
    }
    rc = 0;
out:
    for (i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(ids);
    free(sizes);
    return rc;
}

int
store_session_prune(struct store *s, int64_t ended_before, int64_t max_bytes,
                    char ***paths, size_t *n, struct problem *err)
{
    struct prune_ctx ctx = {ended_before, max_bytes, NULL, 0};
    size_t i;

    if (store_write(s, prune_job, &ctx, err) < 0) {
        for (i = 0; i < ctx.n; i++)
            free(ctx.paths[i]);
        free(ctx.paths);
        return -1;
    }
    *paths = ctx.paths;
    *n = ctx.n;
    return 0;
}
