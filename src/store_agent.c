/*
 * store_agent.c - the agent registry on the SQLite backend.
 *
 * Same pattern as store_task.c: a write job loads the row, checks, changes
 * it in C and saves it with the one UPDATE, then reads the document back.
 * "online" is derived when a document is built (last_seen + timeout >=
 * now), so it can never disagree with last_seen.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limits.h"
#include "store_impl.h"
#include "util.h"

struct agent_row {
    char *id;
    char *kind;
    char *host;
    char *labels;               /* JSON array text */
    char *skills;               /* JSON array text */
    char *state;
    int64_t state_since;
    int64_t last_seen;
    int64_t timeout_seconds;
    int64_t version;
    int64_t created_at;
    int64_t updated_at;
};

static char *
col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrdup((const char *)t) : NULL;
}

static void
row_free(struct agent_row *r)
{
    free(r->id);
    free(r->kind);
    free(r->host);
    free(r->labels);
    free(r->skills);
    free(r->state);
    memset(r, 0, sizeof(*r));
}

static void
set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? xstrdup(value) : NULL;
}

static int
row_load(struct conn *c, const char *id, struct agent_row *r,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_ROW);
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return problem_set(err, 404, "agent_not_found",
                           "agent '%s' is not registered", id);
    }
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "loading an agent");
    memset(r, 0, sizeof(*r));
    r->id = col_text(st, 0);
    r->kind = col_text(st, 1);
    r->host = col_text(st, 2);
    r->labels = col_text(st, 3);
    r->skills = col_text(st, 4);
    r->state = col_text(st, 5);
    r->state_since = sqlite3_column_int64(st, 6);
    r->last_seen = sqlite3_column_int64(st, 7);
    r->timeout_seconds = sqlite3_column_int64(st, 8);
    r->version = sqlite3_column_int64(st, 9);
    r->created_at = sqlite3_column_int64(st, 10);
    r->updated_at = sqlite3_column_int64(st, 11);
    sqlite3_reset(st);
    return 0;
}

static int
row_save(struct store *s, struct conn *c, struct agent_row *r, int bump,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_UPDATE);

    r->updated_at = s->clock();
    if (bump)
        r->version++;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->labels, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, r->skills, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, r->state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, r->state_since);
    sqlite3_bind_int64(st, 8, r->last_seen);
    sqlite3_bind_int64(st, 9, r->timeout_seconds);
    sqlite3_bind_int64(st, 10, r->version);
    sqlite3_bind_int64(st, 11, r->updated_at);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "saving an agent");
    return 0;
}

static json_t *
json_column(sqlite3_stmt *st, int i)
{
    const char *text = (const char *)sqlite3_column_text(st, i);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;

    return v ? v : json_array();
}

static json_t *
time_column(sqlite3_stmt *st, int i)
{
    char when[UTIL_TIME_LEN];

    util_format_time(sqlite3_column_int64(st, i), when);
    return json_string(when);
}

/* Builds the agent document from a row of AGENT_DOC_COLS. */
static json_t *
agent_doc(sqlite3_stmt *st, int64_t now)
{
    json_t *doc = json_object();
    json_t *tasks = json_column(st, 12);
    int64_t last_seen = sqlite3_column_int64(st, 7);
    int64_t timeout = sqlite3_column_int64(st, 8);

    json_object_set_new(doc, "id",
                        json_string((const char *)sqlite3_column_text(st,
                                                                      0)));
    json_object_set_new(doc, "kind",
                        json_string((const char *)sqlite3_column_text(st,
                                                                      1)));
    json_object_set_new(doc, "host",
                        json_string((const char *)sqlite3_column_text(st,
                                                                      2)));
    json_object_set_new(doc, "labels", json_column(st, 3));
    json_object_set_new(doc, "skills", json_column(st, 4));
    json_object_set_new(doc, "state",
                        json_string((const char *)sqlite3_column_text(st,
                                                                      5)));
    json_object_set_new(doc, "state_since", time_column(st, 6));
    json_object_set_new(doc, "last_seen", time_column(st, 7));
    json_object_set_new(doc, "online",
                        json_boolean(last_seen + timeout * 1000 >= now));
    json_object_set_new(doc, "timeout_seconds", json_integer(timeout));
    json_object_set_new(doc, "current_task",
                        json_array_size(tasks) > 0
                            ? json_incref(json_array_get(tasks, 0))
                            : json_null());
    json_object_set_new(doc, "tasks", tasks);
    json_object_set_new(doc, "version",
                        json_integer(sqlite3_column_int64(st, 9)));
    json_object_set_new(doc, "created_at", time_column(st, 10));
    json_object_set_new(doc, "updated_at", time_column(st, 11));
    json_object_set_new(
        doc, "process",
        json_pack("{s:o, s:o, s:I}", "pid",
                  sqlite3_column_type(st, 13) == SQLITE_NULL
                      ? json_null()
                      : json_integer(sqlite3_column_int64(st, 13)),
                  "exit_status",
                  sqlite3_column_type(st, 14) == SQLITE_NULL
                      ? json_null()
                      : json_integer(sqlite3_column_int64(st, 14)),
                  "restarts", (json_int_t)sqlite3_column_int64(st, 15)));
    {
        const char *jail = (const char *)sqlite3_column_text(st, 16);
        json_t *v = jail ? json_loads(jail, 0, NULL) : NULL;

        json_object_set_new(doc, "jail", v ? v : json_null());
    }
    return doc;
}

static int
doc_load(struct store *s, struct conn *c, const char *id, json_t **out,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_SELECT);
    int rc;

    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return problem_set(err, 404, "agent_not_found",
                           "agent '%s' is not registered", id);
    }
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "reading an agent");
    *out = agent_doc(st, s->clock());
    sqlite3_reset(st);
    return 0;
}

int
store_agent_touch(struct conn *c, const char *agent, int64_t now,
                  struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_TOUCH);

    sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "marking an agent seen");
    return 0;
}

/* Records an agent event for the running job; data is borrowed. */
static int
agent_event(struct store *s, struct conn *c, const char *type,
            const char *id, json_t *data, struct problem *err)
{
    char subject[LIMIT_AGENT_CHARS + 8];

    snprintf(subject, sizeof(subject), "agent:%s", id);
    return store_event_append(s, c, type, subject, id, json_incref(data),
                              err);
}

static char *
json_text(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* --- register -------------------------------------------------------- */

struct register_ctx {
    const json_t *fields;
    json_t *agent;
};

static int
register_job(struct store *s, struct conn *c, void *arg,
             struct problem *err)
{
    struct register_ctx *ctx = arg;
    const json_t *f = ctx->fields;
    sqlite3_stmt *st;
    const json_t *v;
    const char *kind, *host;
    char id[LIMIT_AGENT_CHARS + 1], hostname[256];
    char *labels, *skills;
    int64_t now = s->clock();
    int rc;

    kind = json_string_value(json_object_get(f, "kind"));
    if (kind == NULL)
        kind = "generic";
    v = json_object_get(f, "id");
    if (v != NULL) {
        snprintf(id, sizeof(id), "%s", json_string_value(v));
    } else {
        unsigned char raw[4];
        char hex[9];

        util_random(raw, sizeof(raw));
        util_hex(raw, sizeof(raw), hex);
        snprintf(id, sizeof(id), "%.*s-%s", LIMIT_AGENT_CHARS - 10, kind,
                 hex);
    }
    host = json_string_value(json_object_get(f, "host"));
    if (host == NULL) {
        if (gethostname(hostname, sizeof(hostname)) < 0)
            snprintf(hostname, sizeof(hostname), "localhost");
        hostname[sizeof(hostname) - 1] = '\0';
        host = hostname;
    }
    v = json_object_get(f, "labels");
    labels = v ? json_text(v) : xstrdup("[]");
    v = json_object_get(f, "skills");
    skills = v ? json_text(v) : xstrdup("[]");
    v = json_object_get(f, "timeout_seconds");

    st = store_stmt(c, ST_AGENT_INSERT);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, host, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, labels, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, skills, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, v ? json_integer_value(v)
                                : LIMIT_AGENT_TIMEOUT_DEFAULT);
    free(labels);
    free(skills);
    rc = sqlite3_step(st);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return problem_set(err, 409, "agent_exists",
                           "agent '%s' is already registered; update it "
                           "with PATCH or remove it first", id);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "registering an agent");
    if (doc_load(s, c, id, &ctx->agent, err) < 0)
        return -1;
    return agent_event(s, c, "agent.registered", id, ctx->agent, err);
}

int
store_agent_register(struct store *s, const json_t *fields, json_t **agent,
                     struct problem *err)
{
    struct register_ctx ctx = {fields, NULL};

    if (store_write(s, register_job, &ctx, err) < 0) {
        json_decref(ctx.agent);
        return -1;
    }
    *agent = ctx.agent;
    return 0;
}

/* --- reads ----------------------------------------------------------- */

int
store_agent_get(struct store *s, const char *id, json_t **agent,
                struct problem *err)
{
    return doc_load(s, store_reader(s), id, agent, err);
}

int
store_agent_list(struct store *s, const struct agent_filter *f,
                 json_t **page, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_LIST);
    json_t *items = json_array();
    int64_t now = s->clock();
    char last[LIMIT_AGENT_CHARS + 1] = "";
    int rc, n = 0;

    sqlite3_bind_text(st, 1, f->after ? f->after : "", -1,
                      SQLITE_TRANSIENT);
    if (f->state)
        sqlite3_bind_text(st, 2, f->state, -1, SQLITE_TRANSIENT);
    if (f->kind)
        sqlite3_bind_text(st, 3, f->kind, -1, SQLITE_TRANSIENT);
    if (f->host)
        sqlite3_bind_text(st, 4, f->host, -1, SQLITE_TRANSIENT);
    if (f->label)
        sqlite3_bind_text(st, 5, f->label, -1, SQLITE_TRANSIENT);
    if (f->online >= 0)
        sqlite3_bind_int(st, 6, f->online);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int(st, 8, f->limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit)
            break;
        json_array_append_new(items, agent_doc(st, now));
        snprintf(last, sizeof(last), "%s", sqlite3_column_text(st, 0));
        n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return store_sql_error(c, err, "listing agents");
    }
    *page = json_pack("{s:o, s:o}", "items", items, "next",
                      rc == SQLITE_ROW ? json_string(last) : json_null());
    return 0;
}

/* --- update, heartbeat, remove --------------------------------------- */

struct agent_ctx {
    const char *id;
    json_t *changes;
    int64_t version;
    int from_if_match;
    json_t *agent;
};

static int
check_version(const struct agent_row *r, const struct agent_ctx *ctx,
              struct problem *err)
{
    if (ctx->version < 0 || ctx->version == r->version)
        return 0;
    problem_set(err, ctx->from_if_match ? 412 : 409, "version_conflict",
                "agent '%s' is at version %lld, not %lld; reload it and "
                "retry", r->id, (long long)r->version,
                (long long)ctx->version);
    problem_extra(err, "current_version", json_integer(r->version));
    return -1;
}

static int
update_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct agent_ctx *ctx = arg;
    struct agent_row r;
    const char *key;
    json_t *v;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (check_version(&r, ctx, err) < 0)
        goto out;
    json_object_foreach(ctx->changes, key, v) {
        if (!strcmp(key, "kind"))
            set_str(&r.kind, json_string_value(v));
        else if (!strcmp(key, "host"))
            set_str(&r.host, json_string_value(v));
        else if (!strcmp(key, "timeout_seconds"))
            r.timeout_seconds = json_integer_value(v);
        else if (!strcmp(key, "labels")) {
            free(r.labels);
            r.labels = json_text(v);
        } else if (!strcmp(key, "skills")) {
            free(r.skills);
            r.skills = json_text(v);
        }
    }
    r.last_seen = s->clock();
    if (row_save(s, c, &r, 1, err) < 0 ||
        doc_load(s, c, r.id, &ctx->agent, err) < 0)
        goto out;
    rc = agent_event(s, c, "agent.updated", r.id, ctx->agent, err);
out:
    row_free(&r);
    return rc;
}

int
store_agent_update(struct store *s, const char *id, json_t *changes,
                   int64_t version, int from_if_match, json_t **agent,
                   struct problem *err)
{
    struct agent_ctx ctx = {id, changes, version, from_if_match, NULL};

    if (store_write(s, update_job, &ctx, err) < 0) {
        json_decref(ctx.agent);
        return -1;
    }
    *agent = ctx.agent;
    return 0;
}

static int
heartbeat_job(struct store *s, struct conn *c, void *arg,
              struct problem *err)
{
    struct agent_ctx *ctx = arg;
    struct agent_row r;
    int rc;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    row_free(&r);
    rc = store_agent_touch(c, ctx->id, s->clock(), err);
    if (rc == 0)
        rc = doc_load(s, c, ctx->id, &ctx->agent, err);
    return rc;
}

int
store_agent_heartbeat(struct store *s, const char *id, json_t **agent,
                      struct problem *err)
{
    struct agent_ctx ctx = {id, NULL, -1, 0, NULL};

    if (store_write(s, heartbeat_job, &ctx, err) < 0) {
        json_decref(ctx.agent);
        return -1;
    }
    *agent = ctx.agent;
    return 0;
}

static int
remove_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct agent_ctx *ctx = arg;
    struct agent_row r;
    sqlite3_stmt *st;
    int64_t held[LIMIT_LIST_MAX];
    int n = 0, i, rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (check_version(&r, ctx, err) < 0)
        goto out;
    /* Its leases go back to todo, as if they had expired now; a batch at
     * a time, until it holds none (a returned task leaves the query). */
    do {
        n = 0;
        i = SQLITE_DONE;
        st = store_stmt(c, ST_TASK_HELD_BY);
        sqlite3_bind_text(st, 1, r.id, -1, SQLITE_TRANSIENT);
        while (n < LIMIT_LIST_MAX && (i = sqlite3_step(st)) == SQLITE_ROW)
            held[n++] = sqlite3_column_int64(st, 0);
        if (n < LIMIT_LIST_MAX && i != SQLITE_DONE) {
            store_sql_error(c, err, "finding an agent's leases");
            goto out;
        }
        sqlite3_reset(st);
        for (i = 0; i < n; i++)
            if (store_task_return(s, c, held[i], "task.released", err) < 0)
                goto out;
    } while (n == LIMIT_LIST_MAX);
    st = store_stmt(c, ST_AGENT_DELETE);
    sqlite3_bind_text(st, 1, r.id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_sql_error(c, err, "removing an agent");
        goto out;
    }
    {
        json_t *data = json_pack("{s:s}", "id", r.id);

        rc = agent_event(s, c, "agent.removed", r.id, data, err);
        json_decref(data);
    }
out:
    row_free(&r);
    return rc;
}

int
store_agent_remove(struct store *s, const char *id, int64_t version,
                   int from_if_match, struct problem *err)
{
    struct agent_ctx ctx = {id, NULL, version, from_if_match, NULL};

    return store_write(s, remove_job, &ctx, err);
}

/* --- state (the glasspane's transitions) ----------------------------- */

/* Transitions kept per agent. */
#define AGENT_HISTORY_KEEP 256

struct state_ctx {
    const char *id;
    const struct agent_transition *t;
    size_t n;
};

static json_t *
transition_doc(const char *agent, const struct agent_transition *t,
               int64_t when)
{
    char time_text[UTIL_TIME_LEN];

    util_format_time(when, time_text);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}", "agent", agent,
                     "from", t->from, "to", t->to, "reason", t->reason,
                     "substate", t->substate ? t->substate : "",
                     "truncated", t->truncated, "time", time_text);
}

static int
state_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct state_ctx *ctx = arg;
    struct agent_row r;
    sqlite3_stmt *st;
    int64_t now = s->clock();
    char subject[LIMIT_AGENT_CHARS + 8];
    size_t i;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    snprintf(subject, sizeof(subject), "agent:%s", r.id);
    for (i = 0; i < ctx->n; i++) {
        const struct agent_transition *t = &ctx->t[i];

        st = store_stmt(c, ST_TRANSITION_INSERT);
        sqlite3_bind_text(st, 1, r.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_text(st, 3, t->from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, t->to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, t->reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, t->substate ? t->substate : "", -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, t->truncated);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_sql_error(c, err, "recording a transition");
            goto out;
        }
        if (strcmp(r.state, t->to) != 0) {
            set_str(&r.state, t->to);
            r.state_since = now;
        }
        if (store_event_append(s, c, "agent.state", subject, r.id,
                               transition_doc(r.id, t, now), err) < 0)
            goto out;
    }
    st = store_stmt(c, ST_TRANSITION_PRUNE);
    sqlite3_bind_text(st, 1, r.id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, AGENT_HISTORY_KEEP);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_sql_error(c, err, "pruning transitions");
        goto out;
    }
    r.last_seen = now;
    rc = row_save(s, c, &r, 0, err);
out:
    row_free(&r);
    return rc;
}

int
store_agent_apply_state(struct store *s, struct conn *c, const char *agent,
                        const struct agent_transition *t, size_t n,
                        struct problem *err)
{
    struct state_ctx ctx = {agent, t, n};

    return state_job(s, c, &ctx, err);
}

int
store_agent_set_state(struct store *s, const char *agent,
                      const struct agent_transition *t, size_t n,
                      struct problem *err)
{
    struct state_ctx ctx = {agent, t, n};

    return store_write(s, state_job, &ctx, err);
}

int
store_agent_state(struct store *s, const char *agent, int limit,
                  json_t **out, struct problem *err)
{
    struct conn *c = store_reader(s);
    struct agent_row r;
    sqlite3_stmt *st;
    json_t *history = json_array();
    char when[UTIL_TIME_LEN];
    int rc;

    if (row_load(c, agent, &r, err) < 0) {
        json_decref(history);
        return -1;
    }
    st = store_stmt(c, ST_TRANSITION_LIST);
    sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        util_format_time(sqlite3_column_int64(st, 0), when);
        json_array_append_new(history, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:b}", "time", when,
            "from", (const char *)sqlite3_column_text(st, 1),
            "to", (const char *)sqlite3_column_text(st, 2),
            "reason", (const char *)sqlite3_column_text(st, 3),
            "substate", (const char *)sqlite3_column_text(st, 4),
            "truncated", sqlite3_column_int(st, 5)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        row_free(&r);
        json_decref(history);
        return store_sql_error(c, err, "reading transitions");
    }
    util_format_time(r.state_since, when);
    *out = json_pack("{s:s, s:s, s:s, s:o}", "id", r.id, "state", r.state,
                     "state_since", when, "history", history);
    row_free(&r);
    return 0;
}

int
store_agent_counts(struct store *s, json_t **out, struct problem *err)
{
    static const char *const states[] = {"idle", "working", "blocked",
                                         "done", "error"};
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_COUNTS);
    json_t *by_state = json_object();
    json_int_t total = 0, online = 0;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        json_object_set_new(by_state, states[i], json_integer(0));
    sqlite3_bind_int64(st, 1, s->clock());
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_object_set_new(by_state,
                            (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
        total += sqlite3_column_int64(st, 1);
        online += sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(by_state);
        return store_sql_error(c, err, "counting agents");
    }
    *out = json_pack("{s:I, s:I, s:o}", "total", total, "online", online,
                     "by_state", by_state);
    return 0;
}

struct process_ctx {
    const char *id;
    long long pid;              /* < 0: NULL */
    int exit_status;            /* < 0: NULL */
    int restarts;
    const char *jail;           /* JSON text or NULL */
};

static int
process_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct process_ctx *ctx = arg;
    sqlite3_stmt *st = store_stmt(c, ST_AGENT_SET_PROCESS);

    (void)s;
    sqlite3_bind_text(st, 1, ctx->id, -1, SQLITE_TRANSIENT);
    if (ctx->pid < 0)
        sqlite3_bind_null(st, 2);
    else
        sqlite3_bind_int64(st, 2, ctx->pid);
    if (ctx->exit_status < 0)
        sqlite3_bind_null(st, 3);
    else
        sqlite3_bind_int(st, 3, ctx->exit_status);
    sqlite3_bind_int(st, 4, ctx->restarts);
    if (ctx->jail == NULL)
        sqlite3_bind_null(st, 5);
    else
        sqlite3_bind_text(st, 5, ctx->jail, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "saving an agent's process");
    return 0;
}

int
store_agent_set_process(struct store *s, const char *id, long long pid,
                        int exit_status, int restarts, const char *jail,
                        struct problem *err)
{
    struct process_ctx ctx = {id, pid, exit_status, restarts, jail};

    return store_write(s, process_job, &ctx, err);
}
