/*
 * store_task.c - the task board's rules, on the SQLite backend.
 *
 * Every mutation follows one pattern inside a write job: load the row
 * (struct task_row), check the rule, change the row in C, save it back
 * with the one UPDATE statement, and read the task document for the
 * answer.  The rules therefore live in plain C that reads top to bottom,
 * and the writer thread's serialization makes each load-check-save an
 * atomic compare-and-set.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "store_impl.h"
#include "util.h"

const char *const task_status_names[TASK_STATUS_COUNT + 1] = {
    "todo", "in_progress", "blocked", "review", "done", "cancelled", NULL
};

static const char *const claim_outcome_names[] = {
    "claimed", "renewed", "stolen", "denied"
};

/* A task as stored; strings are new (freed by row_free). */
struct task_row {
    int64_t id;
    char *title;
    char *body;
    char *status;
    int priority;
    char *labels;               /* JSON array text */
    char *assignee;             /* NULL when none */
    char *lease_holder;         /* NULL when no lease */
    int64_t lease_expires;
    int64_t attempt;
    int64_t version;
    char *result;               /* JSON text or NULL */
    int64_t created_at;
    int64_t updated_at;
    int64_t closed_at;          /* 0 when open */
    char *requires_skills;      /* JSON array text */
};

static char *
col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? xstrdup((const char *)t) : NULL;
}

static void
row_free(struct task_row *r)
{
    free(r->title);
    free(r->body);
    free(r->status);
    free(r->labels);
    free(r->assignee);
    free(r->lease_holder);
    free(r->result);
    free(r->requires_skills);
    memset(r, 0, sizeof(*r));
}

static void
set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? xstrdup(value) : NULL;
}

static int
is_closed_status(const char *status)
{
    return !strcmp(status, "done") || !strcmp(status, "cancelled");
}

/* Loads task id into r; 404 when missing. */
static int
row_load(struct conn *c, int64_t id, struct task_row *r,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_ROW);
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return problem_set(err, 404, "task_not_found",
                           "task %lld does not exist", (long long)id);
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "loading a task");
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    r->title = col_text(st, 1);
    r->body = col_text(st, 2);
    r->status = col_text(st, 3);
    r->priority = sqlite3_column_int(st, 4);
    r->labels = col_text(st, 5);
    r->assignee = col_text(st, 6);
    r->lease_holder = col_text(st, 7);
    r->lease_expires = sqlite3_column_int64(st, 8);
    r->attempt = sqlite3_column_int64(st, 9);
    r->version = sqlite3_column_int64(st, 10);
    r->result = col_text(st, 11);
    r->created_at = sqlite3_column_int64(st, 12);
    r->updated_at = sqlite3_column_int64(st, 13);
    r->closed_at = sqlite3_column_int64(st, 14);
    r->requires_skills = col_text(st, 15);
    sqlite3_reset(st);
    return 0;
}

static void
bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Writes r back; bump says whether the version advances. */
static int
row_save(struct store *s, struct conn *c, struct task_row *r, int bump,
         struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_UPDATE);

    r->updated_at = s->clock();
    if (bump)
        r->version++;
    if (is_closed_status(r->status)) {
        if (r->closed_at == 0)
            r->closed_at = r->updated_at;
    } else {
        r->closed_at = 0;
    }
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_text(st, 2, r->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->body, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, r->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, r->priority);
    sqlite3_bind_text(st, 6, r->labels, -1, SQLITE_TRANSIENT);
    bind_text_or_null(st, 7, r->assignee);
    bind_text_or_null(st, 8, r->lease_holder);
    if (r->lease_holder)
        sqlite3_bind_int64(st, 9, r->lease_expires);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_int64(st, 10, r->attempt);
    sqlite3_bind_int64(st, 11, r->version);
    bind_text_or_null(st, 12, r->result);
    sqlite3_bind_int64(st, 13, r->updated_at);
    if (r->closed_at)
        sqlite3_bind_int64(st, 14, r->closed_at);
    else
        sqlite3_bind_null(st, 14);
    sqlite3_bind_text(st, 15, r->requires_skills, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "saving a task");
    return 0;
}

static void
time_or_null(json_t *doc, const char *key, sqlite3_stmt *st, int i)
{
    char when[UTIL_TIME_LEN];

    if (sqlite3_column_type(st, i) == SQLITE_NULL) {
        json_object_set_new(doc, key, json_null());
        return;
    }
    util_format_time(sqlite3_column_int64(st, i), when);
    json_object_set_new(doc, key, json_string(when));
}

static json_t *
json_column(sqlite3_stmt *st, int i, json_t *fallback)
{
    const char *text = (const char *)sqlite3_column_text(st, i);
    json_t *v;

    if (text == NULL)
        return fallback;
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        return fallback;
    json_decref(fallback);
    return v;
}

static json_t *
str_or_null(sqlite3_stmt *st, int i)
{
    const char *text = (const char *)sqlite3_column_text(st, i);

    return text ? json_string(text) : json_null();
}

/* Builds the task document from a row of TASK_DOC_COLS. */
static json_t *
task_doc(sqlite3_stmt *st)
{
    json_t *doc = json_object();
    json_t *lease;

    json_object_set_new(doc, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(doc, "title", str_or_null(st, 1));
    json_object_set_new(doc, "body", str_or_null(st, 2));
    json_object_set_new(doc, "status", str_or_null(st, 3));
    json_object_set_new(doc, "priority",
                        json_integer(sqlite3_column_int(st, 4)));
    json_object_set_new(doc, "labels", json_column(st, 5, json_array()));
    json_object_set_new(doc, "assignee", str_or_null(st, 6));
    json_object_set_new(doc, "depends_on", json_column(st, 15, json_array()));
    json_object_set_new(doc, "requires_skills",
                        json_column(st, 17, json_array()));
    json_object_set_new(doc, "ready",
                        json_boolean(sqlite3_column_int(st, 16)));
    if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
        lease = json_null();
    } else {
        lease = json_object();
        json_object_set_new(lease, "holder", str_or_null(st, 7));
        time_or_null(lease, "expires_at", st, 8);
    }
    json_object_set_new(doc, "lease", lease);
    json_object_set_new(doc, "attempt",
                        json_integer(sqlite3_column_int64(st, 9)));
    json_object_set_new(doc, "version",
                        json_integer(sqlite3_column_int64(st, 10)));
    json_object_set_new(doc, "result", json_column(st, 11, json_null()));
    time_or_null(doc, "created_at", st, 12);
    time_or_null(doc, "updated_at", st, 13);
    time_or_null(doc, "closed_at", st, 14);
    return doc;
}

/* Reads task id's document on connection c. */
static int
doc_load(struct conn *c, int64_t id, json_t **out, struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_SELECT);
    int rc;

    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return problem_set(err, 404, "task_not_found",
                           "task %lld does not exist", (long long)id);
    }
    if (rc != SQLITE_ROW)
        return store_sql_error(c, err, "reading a task");
    *out = task_doc(st);
    sqlite3_reset(st);
    return 0;
}

static int
agent_has_skills(struct conn *c, int64_t id, const char *agent)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_SKILLS_OK);
    int ok = 0;

    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, agent, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        ok = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return ok;
}

static int
task_is_ready(struct conn *c, int64_t id)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_IS_READY);
    int ready = 0;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        ready = sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return ready;
}

/* Serializes a JSON value for a TEXT column; new string. */
static char *
json_text(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Records a task event for the running job; data is borrowed. */
static int
task_event(struct store *s, struct conn *c, const char *type, int64_t id,
           const char *agent, json_t *data, struct problem *err)
{
    char subject[32];

    snprintf(subject, sizeof(subject), "task:%lld", (long long)id);
    return store_event_append(s, c, type, subject, agent, json_incref(data),
                              err);
}

/* --- create ---------------------------------------------------------- */

struct create_ctx {
    const json_t *fields;
    json_t *task;
};

static int
add_dep(struct conn *c, int64_t id, int64_t dep, struct problem *err)
{
    sqlite3_stmt *st;

    if (dep == id)
        return problem_set(err, 409, "dependency_cycle",
                           "task %lld cannot depend on itself",
                           (long long)id);
    st = store_stmt(c, ST_TASK_EXISTS);
    sqlite3_bind_int64(st, 1, dep);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_reset(st);
        return problem_set(err, 422, "dependency_not_found",
                           "dependency %lld does not exist",
                           (long long)dep);
    }
    sqlite3_reset(st);
    /* A cycle appears if dep already (transitively) depends on id. */
    st = store_stmt(c, ST_DEP_REACHES);
    sqlite3_bind_int64(st, 1, dep);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        sqlite3_reset(st);
        return problem_set(err, 409, "dependency_cycle",
                           "task %lld already depends on task %lld; the "
                           "dependency would make a cycle", (long long)dep,
                           (long long)id);
    }
    sqlite3_reset(st);
    st = store_stmt(c, ST_DEP_INSERT);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, dep);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "adding a dependency");
    return 0;
}

static int
create_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct create_ctx *ctx = arg;
    const json_t *f = ctx->fields;
    const json_t *v;
    sqlite3_stmt *st = store_stmt(c, ST_TASK_INSERT);
    const char *status = "todo";
    char *labels, *skills, *result = NULL;
    int64_t id, now = s->clock();
    size_t i;

    /* The table's choices exclude in_progress: only a claim enters it. */
    v = json_object_get(f, "status");
    if (v != NULL)
        status = json_string_value(v);
    v = json_object_get(f, "labels");
    labels = v ? json_text(v) : xstrdup("[]");
    v = json_object_get(f, "requires_skills");
    skills = v ? json_text(v) : xstrdup("[]");
    v = json_object_get(f, "result");
    if (v != NULL && !json_is_null(v))
        result = json_text(v);

    sqlite3_bind_text(st, 1, json_string_value(json_object_get(f, "title")),
                      -1, SQLITE_TRANSIENT);
    v = json_object_get(f, "body");
    sqlite3_bind_text(st, 2, v ? json_string_value(v) : "", -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    v = json_object_get(f, "priority");
    sqlite3_bind_int(st, 4, v ? (int)json_integer_value(v) : 2);
    sqlite3_bind_text(st, 5, labels, -1, SQLITE_TRANSIENT);
    v = json_object_get(f, "assignee");
    bind_text_or_null(st, 6, v ? json_string_value(v) : NULL);
    bind_text_or_null(st, 7, result);
    sqlite3_bind_int64(st, 8, now);
    if (is_closed_status(status))
        sqlite3_bind_int64(st, 9, now);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_text(st, 10, skills, -1, SQLITE_TRANSIENT);
    free(labels);
    free(skills);
    free(result);
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_sql_error(c, err, "creating a task");
    id = sqlite3_last_insert_rowid(c->db);

    v = json_object_get(f, "depends_on");
    for (i = 0; v != NULL && i < json_array_size(v); i++)
        if (add_dep(c, id, json_integer_value(json_array_get(v, i)),
                    err) < 0)
            return -1;
    if (doc_load(c, id, &ctx->task, err) < 0)
        return -1;
    return task_event(s, c, "task.created", id, NULL, ctx->task, err);
}

int
store_task_create(struct store *s, const json_t *fields, json_t **task,
                  struct problem *err)
{
    struct create_ctx ctx = {fields, NULL};

    if (store_write(s, create_job, &ctx, err) < 0) {
        json_decref(ctx.task);
        return -1;
    }
    *task = ctx.task;
    return 0;
}

/* --- reads ----------------------------------------------------------- */

int
store_task_get(struct store *s, int64_t id, json_t **task,
               struct problem *err)
{
    struct conn *c = store_reader(s);

    return doc_load(c, id, task, err);
}

int
store_task_list(struct store *s, const struct task_filter *f,
                json_t **page, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_TASK_LIST);
    json_t *items = json_array();
    char *statuses = NULL;
    int64_t last = 0;
    int rc, n = 0;

    if (f->statuses != NULL) {
        json_t *arr = json_array();
        const char *p = f->statuses;

        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);

            json_array_append_new(arr, json_stringn(p, len));
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        statuses = json_text(arr);
        json_decref(arr);
    }
    sqlite3_bind_int64(st, 1, f->after);
    bind_text_or_null(st, 2, statuses);
    bind_text_or_null(st, 3, f->assignee);
    bind_text_or_null(st, 4, f->label);
    sqlite3_bind_int(st, 5, f->priority);
    sqlite3_bind_int(st, 6, f->ready_only);
    /* One extra row tells whether another page exists. */
    sqlite3_bind_int(st, 7, f->limit + 1);
    bind_text_or_null(st, 8, f->agent);
    free(statuses);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == f->limit)
            break;
        json_array_append_new(items, task_doc(st));
        last = sqlite3_column_int64(st, 0);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(items);
        return store_sql_error(c, err, "listing tasks");
    }
    sqlite3_reset(st);
    *page = json_object();
    json_object_set_new(*page, "items", items);
    if (rc == SQLITE_ROW) {
        char cursor[32];

        snprintf(cursor, sizeof(cursor), "%lld", (long long)last);
        json_object_set_new(*page, "next", json_string(cursor));
    } else {
        json_object_set_new(*page, "next", json_null());
    }
    return 0;
}

int
store_task_ready(struct store *s, int limit, const char *agent,
                 json_t **page, struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_TASK_READY);
    json_t *items = json_array();
    int rc;

    sqlite3_bind_int(st, 1, limit);
    bind_text_or_null(st, 2, agent);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(items, task_doc(st));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        json_decref(items);
        return store_sql_error(c, err, "listing ready tasks");
    }
    *page = json_pack("{s:o}", "items", items);
    return 0;
}

int
store_task_counts(struct store *s, int64_t counts[TASK_STATUS_COUNT],
                  struct problem *err)
{
    struct conn *c = store_reader(s);
    sqlite3_stmt *st = store_stmt(c, ST_TASK_COUNTS);
    int rc, i;

    for (i = 0; i < TASK_STATUS_COUNT; i++)
        counts[i] = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);

        for (i = 0; i < TASK_STATUS_COUNT; i++)
            if (name && !strcmp(name, task_status_names[i]))
                counts[i] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "counting tasks");
    return 0;
}

/* --- update and delete ----------------------------------------------- */

struct update_ctx {
    int64_t id;
    json_t *changes;
    int64_t version;
    int from_if_match;
    json_t *task;
};

static int
stale_version(struct problem *err, int from_if_match, int64_t id,
              int64_t expected, int64_t current)
{
    problem_set(err, from_if_match ? 412 : 409, "version_conflict",
                "task %lld is at version %lld, not %lld; reload it and "
                "retry", (long long)id, (long long)current,
                (long long)expected);
    problem_extra(err, "current_version", json_integer(current));
    return -1;
}

static int
update_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct update_ctx *ctx = arg;
    struct task_row r;
    const char *key;
    json_t *v;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (ctx->version != r.version) {
        stale_version(err, ctx->from_if_match, r.id, ctx->version,
                      r.version);
        goto out;
    }
    json_object_foreach(ctx->changes, key, v) {
        if (!strcmp(key, "title")) {
            set_str(&r.title, json_string_value(v));
        } else if (!strcmp(key, "body")) {
            set_str(&r.body, json_string_value(v));
        } else if (!strcmp(key, "priority")) {
            r.priority = (int)json_integer_value(v);
        } else if (!strcmp(key, "labels")) {
            free(r.labels);
            r.labels = json_text(v);
        } else if (!strcmp(key, "requires_skills")) {
            free(r.requires_skills);
            r.requires_skills = json_text(v);
        } else if (!strcmp(key, "assignee")) {
            set_str(&r.assignee, json_string_value(v));
        } else if (!strcmp(key, "result")) {
            free(r.result);
            r.result = json_is_null(v) ? NULL : json_text(v);
        } else if (!strcmp(key, "status")) {
            const char *to = json_string_value(v);

            if (!strcmp(to, "in_progress") &&
                strcmp(r.status, "in_progress") != 0) {
                problem_set(err, 422, "invalid_status",
                            "a task enters in_progress only by being "
                            "claimed");
                goto out;
            }
            /* Leaving in_progress ends the lease: the holder's late
             * heartbeat or completion will be refused. */
            if (strcmp(to, "in_progress") != 0) {
                set_str(&r.lease_holder, NULL);
                r.lease_expires = 0;
            }
            set_str(&r.status, to);
        }
    }
    if (row_save(s, c, &r, 1, err) < 0 ||
        doc_load(c, r.id, &ctx->task, err) < 0)
        goto out;
    rc = task_event(s, c, "task.updated", r.id, NULL, ctx->task, err);
out:
    row_free(&r);
    return rc;
}

int
store_task_update(struct store *s, int64_t id, json_t *changes,
                  int64_t version, int from_if_match, json_t **task,
                  struct problem *err)
{
    struct update_ctx ctx = {id, changes, version, from_if_match, NULL};

    if (store_write(s, update_job, &ctx, err) < 0) {
        json_decref(ctx.task);
        return -1;
    }
    *task = ctx.task;
    return 0;
}

struct delete_ctx {
    int64_t id;
    int64_t version;
    int from_if_match;
};

static int
delete_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct delete_ctx *ctx = arg;
    struct task_row r;
    sqlite3_stmt *st;
    const char *dependents;
    int rc = -1;

    (void)s;
    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (ctx->version >= 0 && ctx->version != r.version) {
        stale_version(err, ctx->from_if_match, r.id, ctx->version,
                      r.version);
        goto out;
    }
    st = store_stmt(c, ST_TASK_HAS_DEPENDENTS);
    sqlite3_bind_int64(st, 1, r.id);
    if (sqlite3_step(st) == SQLITE_ROW &&
        (dependents = (const char *)sqlite3_column_text(st, 0)) != NULL) {
        problem_set(err, 409, "task_has_dependents",
                    "tasks %s depend on task %lld; remove those "
                    "dependencies first", dependents, (long long)r.id);
        sqlite3_reset(st);
        goto out;
    }
    sqlite3_reset(st);
    st = store_stmt(c, ST_TASK_DELETE);
    sqlite3_bind_int64(st, 1, r.id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_sql_error(c, err, "deleting a task");
        goto out;
    }
    {
        json_t *data = json_pack("{s:I}", "id", (json_int_t)r.id);

        rc = task_event(s, c, "task.deleted", r.id, NULL, data, err);
        json_decref(data);
    }
out:
    row_free(&r);
    return rc;
}

int
store_task_delete(struct store *s, int64_t id, int64_t version,
                  int from_if_match, struct problem *err)
{
    struct delete_ctx ctx = {id, version, from_if_match};

    return store_write(s, delete_job, &ctx, err);
}

/* --- leases ---------------------------------------------------------- */

struct lease_ctx {
    int64_t id;
    const char *agent;
    int lease_seconds;
    int64_t attempt;            /* < 0: not checked */
    const char *status;         /* complete: done or review */
    const json_t *result;
    json_t *out;
};

static int
next_ready_id(struct conn *c, const char *agent, int64_t *id,
              struct problem *err)
{
    sqlite3_stmt *st = store_stmt(c, ST_TASK_NEXT_READY);
    int rc;

    sqlite3_bind_text(st, 1, agent, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_sql_error(c, err, "finding a ready task");
    return problem_set(err, 404, "no_ready_task",
                       "no task is ready to be claimed by %s", agent);
}

/*
 * The claim compare-and-set.  Runs on the writer, so the load, the
 * decision and the save are one atomic step.
 */
static int
claim_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct lease_ctx *ctx = arg;
    struct task_row r;
    enum claim_outcome outcome;
    int64_t now = s->clock();
    int64_t id = ctx->id;
    json_t *task = NULL;
    const char *why = NULL;
    int rc = -1;

    if (id == 0 && next_ready_id(c, ctx->agent, &id, err) < 0)
        return -1;
    if (row_load(c, id, &r, err) < 0)
        return -1;
    if (!strcmp(r.status, "in_progress")) {
        if (r.lease_holder && !strcmp(r.lease_holder, ctx->agent))
            outcome = CLAIM_RENEWED;
        else if (r.lease_holder == NULL || r.lease_expires <= now)
            outcome = CLAIM_STOLEN;
        else {
            outcome = CLAIM_DENIED;
            why = "the task is held by another agent whose lease is live";
        }
    } else if (!strcmp(r.status, "todo")) {
        if (task_is_ready(c, id)) {
            outcome = CLAIM_CLAIMED;
        } else {
            outcome = CLAIM_DENIED;
            why = "the task waits on dependencies that are not done";
        }
    } else {
        outcome = CLAIM_DENIED;
        why = "only todo tasks can be claimed";
    }

    /* Routing: a new holder must have every skill the task requires. */
    if ((outcome == CLAIM_CLAIMED || outcome == CLAIM_STOLEN) &&
        !agent_has_skills(c, id, ctx->agent)) {
        outcome = CLAIM_DENIED;
        why = "the agent lacks skills the task requires";
    }
    if (outcome == CLAIM_DENIED) {
        if (doc_load(c, id, &task, err) < 0)
            goto out;
        problem_set(err, 409, "claim_denied", "task %lld: %s",
                    (long long)id, why);
        problem_extra(err, "outcome", json_string("denied"));
        problem_extra(err, "task", task);
        goto out;
    }
    if (outcome != CLAIM_RENEWED) {
        r.attempt++;
        set_str(&r.lease_holder, ctx->agent);
        set_str(&r.assignee, ctx->agent);
        set_str(&r.status, "in_progress");
    }
    r.lease_expires = now + (int64_t)ctx->lease_seconds * 1000;
    if (row_save(s, c, &r, outcome != CLAIM_RENEWED, err) < 0 ||
        store_agent_touch(c, ctx->agent, now, err) < 0)
        goto out;
    if (doc_load(c, id, &task, err) < 0)
        goto out;
    ctx->out = json_pack("{s:s, s:o}", "outcome",
                         claim_outcome_names[outcome], "task", task);
    rc = task_event(s, c, "task.claimed", id, ctx->agent, ctx->out, err);
out:
    row_free(&r);
    return rc;
}

int
store_task_claim(struct store *s, int64_t id, const char *agent,
                 int lease_seconds, json_t **result, struct problem *err)
{
    struct lease_ctx ctx = {id, agent, lease_seconds, -1, NULL, NULL, NULL};

    if (store_write(s, claim_job, &ctx, err) < 0) {
        json_decref(ctx.out);
        return -1;
    }
    *result = ctx.out;
    return 0;
}

/*
 * The check shared by heartbeat, release and complete: the caller must
 * still hold the lease of this attempt.
 */
static int
check_holder(const struct task_row *r, const struct lease_ctx *ctx,
             struct problem *err)
{
    if (strcmp(r->status, "in_progress") != 0 || r->lease_holder == NULL)
        return problem_set(err, 409, "lease_lost",
                           "task %lld is %s and has no lease; claim it "
                           "again", (long long)r->id, r->status);
    if (strcmp(r->lease_holder, ctx->agent) != 0)
        return problem_set(err, 409, "lease_lost",
                           "task %lld is now held by another agent "
                           "(attempt %lld)", (long long)r->id,
                           (long long)r->attempt);
    if (ctx->attempt >= 0 && ctx->attempt != r->attempt)
        return problem_set(err, 409, "lease_lost",
                           "task %lld is at attempt %lld, not %lld",
                           (long long)r->id, (long long)r->attempt,
                           (long long)ctx->attempt);
    return 0;
}

static int
heartbeat_job(struct store *s, struct conn *c, void *arg,
              struct problem *err)
{
    struct lease_ctx *ctx = arg;
    struct task_row r;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (check_holder(&r, ctx, err) < 0 ||
        store_agent_touch(c, ctx->agent, s->clock(), err) < 0)
        goto out;
    r.lease_expires = s->clock() + (int64_t)ctx->lease_seconds * 1000;
    /* A heartbeat extends the lease only: the version stays, so it never
     * conflicts with an edit of the task's fields. */
    if (row_save(s, c, &r, 0, err) < 0)
        goto out;
    rc = doc_load(c, r.id, &ctx->out, err);
out:
    row_free(&r);
    return rc;
}

static int
release_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct lease_ctx *ctx = arg;
    struct task_row r;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (check_holder(&r, ctx, err) < 0 ||
        store_agent_touch(c, ctx->agent, s->clock(), err) < 0)
        goto out;
    set_str(&r.status, "todo");
    set_str(&r.lease_holder, NULL);
    set_str(&r.assignee, NULL);
    r.lease_expires = 0;
    if (row_save(s, c, &r, 1, err) < 0)
        goto out;
    if (doc_load(c, r.id, &ctx->out, err) < 0)
        goto out;
    rc = task_event(s, c, "task.released", r.id, ctx->agent, ctx->out, err);
out:
    row_free(&r);
    return rc;
}

static int
complete_job(struct store *s, struct conn *c, void *arg,
             struct problem *err)
{
    struct lease_ctx *ctx = arg;
    struct task_row r;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (check_holder(&r, ctx, err) < 0 ||
        store_agent_touch(c, ctx->agent, s->clock(), err) < 0)
        goto out;
    set_str(&r.status, ctx->status);
    set_str(&r.lease_holder, NULL);
    r.lease_expires = 0;
    if (ctx->result != NULL) {
        free(r.result);
        r.result = json_is_null(ctx->result) ? NULL : json_text(ctx->result);
    }
    if (row_save(s, c, &r, 1, err) < 0)
        goto out;
    if (doc_load(c, r.id, &ctx->out, err) < 0)
        goto out;
    rc = task_event(s, c, "task.completed", r.id, ctx->agent, ctx->out,
                    err);
out:
    row_free(&r);
    return rc;
}

static int
run_lease_job(struct store *s,
              int (*fn)(struct store *, struct conn *, void *,
                        struct problem *),
              struct lease_ctx *ctx, json_t **task, struct problem *err)
{
    if (store_write(s, fn, ctx, err) < 0) {
        json_decref(ctx->out);
        return -1;
    }
    *task = ctx->out;
    return 0;
}

int
store_task_heartbeat(struct store *s, int64_t id, const char *agent,
                     int lease_seconds, int64_t attempt, json_t **task,
                     struct problem *err)
{
    struct lease_ctx ctx = {id, agent, lease_seconds, attempt, NULL, NULL,
                            NULL};

    return run_lease_job(s, heartbeat_job, &ctx, task, err);
}

int
store_task_release(struct store *s, int64_t id, const char *agent,
                   int64_t attempt, json_t **task, struct problem *err)
{
    struct lease_ctx ctx = {id, agent, 0, attempt, NULL, NULL, NULL};

    return run_lease_job(s, release_job, &ctx, task, err);
}

int
store_task_complete(struct store *s, int64_t id, const char *agent,
                    int64_t attempt, const char *status,
                    const json_t *result, json_t **task,
                    struct problem *err)
{
    struct lease_ctx ctx = {id, agent, 0, attempt, status, result, NULL};

    return run_lease_job(s, complete_job, &ctx, task, err);
}

/* --- dependencies ---------------------------------------------------- */

struct dep_ctx {
    int64_t id;
    int64_t dep;
    int add;
    json_t *task;
};

static int
dep_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    struct dep_ctx *ctx = arg;
    struct task_row r;
    sqlite3_stmt *st;
    int rc = -1;

    if (row_load(c, ctx->id, &r, err) < 0)
        return -1;
    if (ctx->add) {
        if (add_dep(c, r.id, ctx->dep, err) < 0)
            goto out;
    } else {
        st = store_stmt(c, ST_DEP_DELETE);
        sqlite3_bind_int64(st, 1, r.id);
        sqlite3_bind_int64(st, 2, ctx->dep);
        if (sqlite3_step(st) != SQLITE_DONE) {
            store_sql_error(c, err, "removing a dependency");
            goto out;
        }
        if (sqlite3_changes(c->db) == 0) {
            problem_set(err, 404, "not_a_dependency",
                        "task %lld does not depend on task %lld",
                        (long long)r.id, (long long)ctx->dep);
            goto out;
        }
    }
    if (row_save(s, c, &r, 1, err) < 0)
        goto out;
    if (doc_load(c, r.id, &ctx->task, err) < 0)
        goto out;
    rc = task_event(s, c, "task.updated", r.id, NULL, ctx->task, err);
out:
    row_free(&r);
    return rc;
}

static int
run_dep_job(struct store *s, struct dep_ctx *ctx, json_t **task,
            struct problem *err)
{
    if (store_write(s, dep_job, ctx, err) < 0) {
        json_decref(ctx->task);
        return -1;
    }
    *task = ctx->task;
    return 0;
}

int
store_task_dep_add(struct store *s, int64_t id, int64_t depends_on,
                   json_t **task, struct problem *err)
{
    struct dep_ctx ctx = {id, depends_on, 1, NULL};

    return run_dep_job(s, &ctx, task, err);
}

int
store_task_dep_remove(struct store *s, int64_t id, int64_t depends_on,
                      json_t **task, struct problem *err)
{
    struct dep_ctx ctx = {id, depends_on, 0, NULL};

    return run_dep_job(s, &ctx, task, err);
}

/* --- reaper ---------------------------------------------------------- */

int
store_task_return(struct store *s, struct conn *c, int64_t id,
                  const char *type, struct problem *err)
{
    struct task_row r;
    json_t *doc = NULL;
    char *holder;
    int rc = -1;

    if (row_load(c, id, &r, err) < 0)
        return -1;
    holder = r.lease_holder;
    r.lease_holder = NULL;
    set_str(&r.status, "todo");
    set_str(&r.assignee, NULL);
    r.lease_expires = 0;
    if (row_save(s, c, &r, 1, err) == 0 && doc_load(c, id, &doc, err) == 0)
        rc = task_event(s, c, type, id, holder, doc, err);
    json_decref(doc);
    free(holder);
    row_free(&r);
    return rc;
}

static int
reap_job(struct store *s, struct conn *c, void *arg, struct problem *err)
{
    int *count = arg;
    sqlite3_stmt *st = store_stmt(c, ST_TASK_REAP);
    int64_t ids[1000];
    int n = 0, i, rc;

    sqlite3_bind_int64(st, 1, s->clock());
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 1000)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_sql_error(c, err, "finding expired leases");
    for (i = 0; i < n; i++)
        if (store_task_return(s, c, ids[i], "task.expired", err) < 0)
            return -1;
    *count = n;
    return 0;
}

int
store_task_reap(struct store *s, int *count, struct problem *err)
{
    *count = 0;
    return store_write(s, reap_job, count, err);
}
