/*
 * op_task.c - handlers of the task operations: argument defaults and
 * shapes in, the store's documents out.  The rules live in the store.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "limits.h"
#include "store.h"
#include "util.h"

static int64_t
task_id(const struct call *c)
{
    return (int64_t)call_int(c, "id", 0);
}

/* Sets Location (for 201) and ETag from a task document. */
static void
describe_task(struct call *c, const json_t *task)
{
    json_int_t id = json_integer_value(json_object_get(task, "id"));
    json_int_t version = json_integer_value(json_object_get(task,
                                                             "version"));

    snprintf(c->etag, sizeof(c->etag), "\"%lld\"", (long long)version);
    if (c->op->status == 201)
        snprintf(c->location, sizeof(c->location), "/api/v1/tasks/%lld",
                 (long long)id);
}

int
op_task_create(struct call *c)
{
    if (store_task_create(c->app->store, c->args, &c->result, &c->err) < 0)
        return -1;
    describe_task(c, c->result);
    return 0;
}

int
op_task_get(struct call *c)
{
    if (store_task_get(c->app->store, task_id(c), &c->result, &c->err) < 0)
        return -1;
    describe_task(c, c->result);
    return 0;
}

int
op_task_list(struct call *c)
{
    struct task_filter f;
    const char *status = call_str(c, "status");
    const char *after = call_str(c, "after");
    long long cursor = 0;

    memset(&f, 0, sizeof(f));
    if (status != NULL) {
        const char *p = status;

        /* Every listed status must be a real one. */
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            int i, known = 0;

            for (i = 0; i < TASK_STATUS_COUNT; i++)
                if (strlen(task_status_names[i]) == len &&
                    !strncmp(task_status_names[i], p, len))
                    known = 1;
            if (!known) {
                problem_set(&c->err, 400, "invalid_argument",
                            "'status' lists '%.*s', which is not a task "
                            "status", (int)len, p);
                problem_extra(&c->err, "argument", json_string("status"));
                return -1;
            }
            if (comma == NULL)
                break;
            p = comma + 1;
        }
        f.statuses = status;
    }
    if (after != NULL && util_parse_ll(after, 0, INT64_MAX, &cursor) < 0) {
        problem_set(&c->err, 400, "invalid_argument",
                    "'after' must be the 'next' cursor of a previous page");
        problem_extra(&c->err, "argument", json_string("after"));
        return -1;
    }
    f.after = cursor;
    f.assignee = call_str(c, "assignee");
    f.label = call_str(c, "label");
    f.priority = (int)call_int(c, "priority", -1);
    f.ready_only = call_bool(c, "ready", 0);
    f.agent = call_str(c, "agent");
    f.limit = (int)call_int(c, "limit", LIMIT_LIST_DEFAULT);
    return store_task_list(c->app->store, &f, &c->result, &c->err);
}

int
op_task_ready(struct call *c)
{
    return store_task_ready(c->app->store,
                            (int)call_int(c, "limit", LIMIT_LIST_DEFAULT),
                            call_str(c, "agent"), &c->result, &c->err);
}

int
op_task_update(struct call *c)
{
    json_t *changes;
    int rc;

    if (call_arg(c, "version") == NULL)
        return problem_set(&c->err, 428, "version_required",
                           "an update needs the task's version: send "
                           "\"version\" in the body or an If-Match header");
    changes = json_deep_copy(c->args);
    json_object_del(changes, "id");
    json_object_del(changes, "version");
    rc = store_task_update(c->app->store, task_id(c), changes,
                           call_int(c, "version", 0),
                           c->version_from_header, &c->result, &c->err);
    json_decref(changes);
    if (rc == 0)
        describe_task(c, c->result);
    return rc;
}

int
op_task_delete(struct call *c)
{
    return store_task_delete(c->app->store, task_id(c),
                             call_int(c, "version", -1),
                             c->version_from_header, &c->err);
}

int
op_task_claim(struct call *c)
{
    return store_task_claim(c->app->store, task_id(c), call_str(c, "agent"),
                            (int)call_int(c, "lease_seconds",
                                          LIMIT_LEASE_DEFAULT),
                            &c->result, &c->err);
}

int
op_task_claim_next(struct call *c)
{
    return store_task_claim(c->app->store, 0, call_str(c, "agent"),
                            (int)call_int(c, "lease_seconds",
                                          LIMIT_LEASE_DEFAULT),
                            &c->result, &c->err);
}

int
op_task_heartbeat(struct call *c)
{
    return store_task_heartbeat(c->app->store, task_id(c),
                                call_str(c, "agent"),
                                (int)call_int(c, "lease_seconds",
                                              LIMIT_LEASE_DEFAULT),
                                call_int(c, "attempt", -1), &c->result,
                                &c->err);
}

int
op_task_release(struct call *c)
{
    return store_task_release(c->app->store, task_id(c),
                              call_str(c, "agent"),
                              call_int(c, "attempt", -1), &c->result,
                              &c->err);
}

int
op_task_complete(struct call *c)
{
    const char *status = call_str(c, "status");

    return store_task_complete(c->app->store, task_id(c),
                               call_str(c, "agent"),
                               call_int(c, "attempt", -1),
                               status ? status : "done",
                               call_arg(c, "result"), &c->result, &c->err);
}

int
op_task_dep_add(struct call *c)
{
    return store_task_dep_add(c->app->store, task_id(c),
                              call_int(c, "depends_on", 0), &c->result,
                              &c->err);
}

int
op_task_dep_remove(struct call *c)
{
    return store_task_dep_remove(c->app->store, task_id(c),
                                 call_int(c, "depends_on", 0), &c->result,
                                 &c->err);
}
