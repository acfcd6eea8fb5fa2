/*
 * ops_table.c - the operations table.  Adding a feature means adding a
 * row here (and its handler): it then exists over HTTP, appears in the
 * generated schemas and must appear in api/openapi.yaml (make check
 * compares the two both ways).
 */
#include "autoconf.h"

#include <stdint.h>

#include "handlers.h"
#include "limits.h"
#include "ops.h"

#define PATH    ARG_IN_PATH
#define QUERY   ARG_IN_QUERY
#define BODY    ARG_IN_BODY
#define REQ     ARG_REQUIRED
#define NULLABLE ARG_NULLABLE

static const char *const create_statuses[] = {
    "todo", "blocked", "review", "done", "cancelled", NULL
};
static const char *const update_statuses[] = {
    "todo", "in_progress", "blocked", "review", "done", "cancelled", NULL
};
static const char *const complete_statuses[] = {"done", "review", NULL};

#define ARG_TASK_ID \
    {"id", ARG_INT, PATH, REQ, 1, INT64_MAX, 0, 0, NULL, "task id"}
#define ARG_AGENT \
    {"agent", ARG_STRING, BODY, REQ, 1, LIMIT_AGENT_CHARS, 0, 0, NULL, \
     "the agent that holds (or asks for) the lease"}
#define ARG_LEASE \
    {"lease_seconds", ARG_INT, BODY, 0, 1, LIMIT_LEASE_MAX, 0, 0, NULL, \
     "lease length in seconds (default 300)"}
#define ARG_ATTEMPT \
    {"attempt", ARG_INT, BODY, 0, 0, INT64_MAX, 0, 0, NULL, \
     "the attempt the caller claimed; refused if the task moved on"}
#define ARG_LIMIT \
    {"limit", ARG_INT, QUERY, 0, 1, LIMIT_LIST_MAX, 0, 0, NULL, \
     "page size (default 100)"}
#define ARG_END {NULL, ARG_ANY, 0, 0, 0, 0, 0, 0, NULL, NULL}

static const struct arg_spec no_args[] = {ARG_END};

static const struct arg_spec task_create_args[] = {
    {"title", ARG_STRING, BODY, REQ, 1, LIMIT_TITLE_CHARS, 0, 0, NULL,
     "one-line title"},
    {"body", ARG_STRING, BODY, 0, 0, LIMIT_TEXT_BYTES, 0, 0, NULL,
     "free text: what is to be done"},
    {"priority", ARG_INT, BODY, 0, 0, 4, 0, 0, NULL,
     "0 (highest) to 4 (lowest); default 2"},
    {"labels", ARG_STRINGS, BODY, 0, 0, LIMIT_LABELS, 1, LIMIT_LABEL_CHARS,
     NULL, "labels"},
    {"assignee", ARG_STRING, BODY, NULLABLE, 1, LIMIT_AGENT_CHARS, 0, 0,
     NULL, "who is meant to do it"},
    {"depends_on", ARG_INTS, BODY, 0, 0, LIMIT_DEPS, 1, INT64_MAX, NULL,
     "ids of tasks that must be done first"},
    {"status", ARG_STRING, BODY, 0, 0, 0, 0, 0, create_statuses,
     "initial status (default todo)"},
    {"result", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL, "result document"},
    ARG_END
};

static const struct arg_spec task_id_args[] = {ARG_TASK_ID, ARG_END};

static const struct arg_spec task_list_args[] = {
    {"status", ARG_STRING, QUERY, 0, 1, 128, 0, 0, NULL,
     "comma-separated statuses to include"},
    {"assignee", ARG_STRING, QUERY, 0, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "only tasks assigned to this agent"},
    {"label", ARG_STRING, QUERY, 0, 1, LIMIT_LABEL_CHARS, 0, 0, NULL,
     "only tasks with this label"},
    {"priority", ARG_INT, QUERY, 0, 0, 4, 0, 0, NULL,
     "only tasks of this priority"},
    {"ready", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "only ready tasks (todo with every dependency done)"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec task_ready_args[] = {ARG_LIMIT, ARG_END};

static const struct arg_spec task_update_args[] = {
    ARG_TASK_ID,
    {"version", ARG_INT, BODY | ARG_IN_HEADER, 0, 1, INT64_MAX, 0, 0, NULL,
     "the version being changed (or If-Match); required"},
    {"title", ARG_STRING, BODY, 0, 1, LIMIT_TITLE_CHARS, 0, 0, NULL,
     "one-line title"},
    {"body", ARG_STRING, BODY, 0, 0, LIMIT_TEXT_BYTES, 0, 0, NULL,
     "free text"},
    {"priority", ARG_INT, BODY, 0, 0, 4, 0, 0, NULL, "0 (highest) to 4"},
    {"labels", ARG_STRINGS, BODY, 0, 0, LIMIT_LABELS, 1, LIMIT_LABEL_CHARS,
     NULL, "labels (replaces the list)"},
    {"assignee", ARG_STRING, BODY, NULLABLE, 1, LIMIT_AGENT_CHARS, 0, 0,
     NULL, "assignee; null clears"},
    {"status", ARG_STRING, BODY, 0, 0, 0, 0, 0, update_statuses,
     "new status; leaving in_progress ends the lease"},
    {"result", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL, "result document"},
    ARG_END
};

static const struct arg_spec task_delete_args[] = {
    ARG_TASK_ID,
    {"version", ARG_INT, QUERY | ARG_IN_HEADER, 0, 1, INT64_MAX, 0, 0, NULL,
     "delete only if the task is at this version (or If-Match)"},
    ARG_END
};

static const struct arg_spec task_claim_args[] = {
    ARG_TASK_ID, ARG_AGENT, ARG_LEASE, ARG_END
};

static const struct arg_spec task_claim_next_args[] = {
    ARG_AGENT, ARG_LEASE, ARG_END
};

static const struct arg_spec task_heartbeat_args[] = {
    ARG_TASK_ID, ARG_AGENT, ARG_LEASE, ARG_ATTEMPT, ARG_END
};

static const struct arg_spec task_release_args[] = {
    ARG_TASK_ID, ARG_AGENT, ARG_ATTEMPT, ARG_END
};

static const struct arg_spec task_complete_args[] = {
    ARG_TASK_ID, ARG_AGENT, ARG_ATTEMPT,
    {"status", ARG_STRING, BODY, 0, 0, 0, 0, 0, complete_statuses,
     "done (default) or review"},
    {"result", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL, "result document"},
    ARG_END
};

static const struct arg_spec task_dep_add_args[] = {
    ARG_TASK_ID,
    {"depends_on", ARG_INT, BODY, REQ, 1, INT64_MAX, 0, 0, NULL,
     "the task that must be done first"},
    ARG_END
};

static const struct arg_spec task_dep_remove_args[] = {
    ARG_TASK_ID,
    {"depends_on", ARG_INT, PATH, REQ, 1, INT64_MAX, 0, 0, NULL,
     "the dependency to remove"},
    ARG_END
};

const struct op ops_table[] = {
    {"system.health", "GET", "/api/v1/health", op_system_health,
     OP_OPEN, 200, "Is the daemon up and its store usable", no_args},
    {"system.version", "GET", "/api/v1/version", op_system_version,
     0, 200, "Version of the daemon and its libraries", no_args},
    {"system.metrics", "GET", "/metrics", op_system_metrics,
     OP_TEXT, 200, "Prometheus metrics: requests, latency, tasks", no_args},

    {"task.create", "POST", "/api/v1/tasks", op_task_create,
     OP_WRITE, 201, "Create a task", task_create_args},
    {"task.list", "GET", "/api/v1/tasks", op_task_list,
     0, 200, "List tasks with filters, by id, a page at a time",
     task_list_args},
    {"task.ready", "GET", "/api/v1/tasks/ready", op_task_ready,
     0, 200, "Ready tasks by priority, then age", task_ready_args},
    {"task.claim_next", "POST", "/api/v1/tasks/claim", op_task_claim_next,
     OP_WRITE, 200, "Claim the first ready task by priority, then age",
     task_claim_next_args},
    {"task.get", "GET", "/api/v1/tasks/{id}", op_task_get,
     0, 200, "One task", task_id_args},
    {"task.update", "PATCH", "/api/v1/tasks/{id}", op_task_update,
     OP_WRITE, 200, "Change some fields of a task (needs its version)",
     task_update_args},
    {"task.delete", "DELETE", "/api/v1/tasks/{id}", op_task_delete,
     OP_WRITE, 204, "Delete a task that nothing depends on",
     task_delete_args},
    {"task.claim", "POST", "/api/v1/tasks/{id}/claim", op_task_claim,
     OP_WRITE, 200, "Claim a ready task with a lease (or renew, or steal "
     "an expired one)", task_claim_args},
    {"task.heartbeat", "POST", "/api/v1/tasks/{id}/heartbeat",
     op_task_heartbeat, OP_WRITE, 200, "Renew the lease on a claimed task",
     task_heartbeat_args},
    {"task.release", "POST", "/api/v1/tasks/{id}/release", op_task_release,
     OP_WRITE, 200, "Give a claimed task back to todo", task_release_args},
    {"task.complete", "POST", "/api/v1/tasks/{id}/complete",
     op_task_complete, OP_WRITE, 200, "Finish a claimed task with a result",
     task_complete_args},
    {"task.dep_add", "POST", "/api/v1/tasks/{id}/deps", op_task_dep_add,
     OP_WRITE, 200, "Make a task depend on another (cycles are refused)",
     task_dep_add_args},
    {"task.dep_remove", "DELETE", "/api/v1/tasks/{id}/deps/{depends_on}",
     op_task_dep_remove, OP_WRITE, 200, "Remove a dependency",
     task_dep_remove_args},
};

const size_t ops_count = sizeof(ops_table) / sizeof(ops_table[0]);
