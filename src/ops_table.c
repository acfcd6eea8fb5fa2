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
    {"agent", ARG_STRING, BODY, REQ | ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, \
     NULL, "the agent that holds (or asks for) the lease"}
#define ARG_REQUIRES_SKILLS \
    {"requires_skills", ARG_STRINGS, BODY, ARG_SKILL_NAME, 0, LIMIT_LABELS, \
     1, 64, NULL, "skills an agent must have to claim the task"}
#define ARG_FOR_AGENT \
    {"agent", ARG_STRING, QUERY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, \
     NULL, "only tasks this agent has the skills to claim"}
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
    ARG_REQUIRES_SKILLS,
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
    ARG_FOR_AGENT,
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec task_ready_args[] = {
    ARG_LIMIT, ARG_FOR_AGENT, ARG_END
};

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
    ARG_REQUIRES_SKILLS,
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

static const char *const agent_states[] = {
    "idle", "working", "blocked", "done", "error", NULL
};

#define ARG_AGENT_ID \
    {"id", ARG_STRING, PATH, REQ | ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, \
     NULL, "agent id"}
#define ARG_AGENT_FIELDS \
    {"kind", ARG_STRING, BODY, ARG_SLUG, 1, 32, 0, 0, NULL, \
     "what runs: pi, smoke, ... (default generic)"}, \
    {"host", ARG_STRING, BODY, 0, 1, 255, 0, 0, NULL, \
     "host it runs on (default: this daemon's host name)"}, \
    {"labels", ARG_STRINGS, BODY, 0, 0, LIMIT_LABELS, 1, \
     LIMIT_LABEL_CHARS, NULL, "labels, capabilities"}, \
    {"skills", ARG_STRINGS, BODY, ARG_SKILL_NAME, 0, LIMIT_AGENT_SKILLS, \
     1, 64, NULL, "skills it has (names in the catalog's format)"}, \
    {"timeout_seconds", ARG_INT, BODY, 0, 1, LIMIT_LEASE_MAX, 0, 0, NULL, \
     "silence after which it is reported offline (default 60)"}

static const struct arg_spec agent_register_args[] = {
    {"id", ARG_STRING, BODY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "agent id (default: generated from kind)"},
    ARG_AGENT_FIELDS,
    ARG_END
};

static const struct arg_spec agent_id_args[] = {ARG_AGENT_ID, ARG_END};

static const char *const session_states[] = {
    "idle", "working", "blocked", "done", "error", "open", NULL
};

#define ARG_SESSION_ID \
    {"id", ARG_INT, PATH, REQ, 1, INT64_MAX, 0, 0, NULL, "session id"}

static const struct arg_spec session_list_args[] = {
    {"agent", ARG_STRING, QUERY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "only this agent's sessions"},
    {"task", ARG_INT, QUERY, 0, 1, INT64_MAX, 0, 0, NULL,
     "only sessions of runs for this task"},
    {"state", ARG_STRING, QUERY, 0, 0, 0, 0, 0, session_states,
     "only sessions that ended in this state, or 'open' ones"},
    {"since", ARG_STRING, QUERY, 0, 1, 64, 0, 0, NULL,
     "only sessions started at or after this time (RFC 3339)"},
    {"until", ARG_STRING, QUERY, 0, 1, 64, 0, 0, NULL,
     "only sessions started before this time (RFC 3339)"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec session_id_args[] = {ARG_SESSION_ID, ARG_END};

static const struct arg_spec session_entries_args[] = {
    ARG_SESSION_ID,
    {"after", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL,
     "cursor: the 'next' of the previous page (a byte offset)"},
    ARG_LIMIT,
    {"follow", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "stream new entries as they are written (SSE only)"},
    ARG_END
};

static const struct arg_spec agent_list_args[] = {
    {"state", ARG_STRING, QUERY, 0, 0, 0, 0, 0, agent_states,
     "only agents in this state"},
    {"kind", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL, "only this kind"},
    {"host", ARG_STRING, QUERY, 0, 1, 255, 0, 0, NULL, "only this host"},
    {"label", ARG_STRING, QUERY, 0, 1, LIMIT_LABEL_CHARS, 0, 0, NULL,
     "only agents with this label"},
    {"online", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "only agents seen (true) or not seen (false) within their timeout"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec agent_update_args[] = {
    ARG_AGENT_ID,
    {"version", ARG_INT, BODY | ARG_IN_HEADER, 0, 1, INT64_MAX, 0, 0, NULL,
     "change only if the agent is at this version (or If-Match)"},
    ARG_AGENT_FIELDS,
    ARG_END
};

static const struct arg_spec agent_remove_args[] = {
    ARG_AGENT_ID,
    {"version", ARG_INT, QUERY | ARG_IN_HEADER, 0, 1, INT64_MAX, 0, 0, NULL,
     "remove only if the agent is at this version (or If-Match)"},
    ARG_END
};

#define ARG_SKILL \
    {"name", ARG_STRING, PATH, REQ, 1, 64, 0, 0, NULL, "skill name"}

static const struct arg_spec skill_list_args[] = {
    {"invalid", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "list the invalid skills, with their reasons, instead"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 4096, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec skill_search_args[] = {
    {"q", ARG_STRING, QUERY, REQ, 1, LIMIT_SKILL_QUERY_CHARS, 0, 0, NULL,
     "words to look for in names, descriptions and bodies"},
    {"limit", ARG_INT, QUERY, 0, 1, LIMIT_SKILL_SEARCH_MAX, 0, 0, NULL,
     "most results (default 20)"},
    ARG_END
};

static const struct arg_spec skill_name_args[] = {ARG_SKILL, ARG_END};

static const struct arg_spec skill_file_args[] = {
    ARG_SKILL,
    {"path", ARG_STRING, PATH, REQ, 1, LIMIT_SKILL_PATH_BYTES, 0, 0, NULL,
     "path of the file in the skill folder"},
    ARG_END
};

static const struct arg_spec skill_put_args[] = {
    ARG_SKILL,
    {"skill_md", ARG_STRING, BODY, REQ, 1, LIMIT_SKILL_MD_BYTES, 0, 0, NULL,
     "the whole text of SKILL.md"},
    {"files", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "other files of the skill: {\"relative/path\": \"text\"}"},
    ARG_END
};

static const struct arg_spec events_stream_args[] = {
    {"types", ARG_STRING, QUERY, 0, 1, 1024, 0, 0, NULL,
     "comma list of event types; a trailing * matches a prefix (task.*)"},
    {"agent", ARG_STRING, QUERY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "only events about this agent"},
    {"last_event_id", ARG_INT, QUERY, 0, 0, INT64_MAX, 0, 0, NULL,
     "resume after this event id (or the Last-Event-ID header)"},
    ARG_END
};

/* The socket's subscription: no path, served only where a connection can
 * turn into a stream (OP_LOCAL: the Unix socket). */
static const struct arg_spec events_subscribe_args[] = {
    {"types", ARG_STRING, BODY, 0, 1, 1024, 0, 0, NULL,
     "comma list of event types; a trailing * matches a prefix (task.*)"},
    {"agent", ARG_STRING, BODY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "only events about this agent"},
    {"last_event_id", ARG_INT, BODY, 0, 0, INT64_MAX, 0, 0, NULL,
     "resume after this event id (replayed from the store)"},
    ARG_END
};

static const struct arg_spec agent_events_args[] = {
    ARG_AGENT_ID,
    {"events", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "pi events, in order: an array, or NDJSON text as one string (or an "
     "application/x-ndjson body, one per line)"},
    ARG_END
};

static const struct arg_spec agent_spawn_args[] = {
    {"runner", ARG_STRING, BODY, REQ | ARG_SLUG, 1, 64, 0, 0, NULL,
     "a configured runner (--runner NAME=...); never a binary"},
    {"id", ARG_STRING, BODY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "agent id (default: generated from the runner's name)"},
    {"args", ARG_STRINGS, BODY, 0, 0, 64, 0, 4096, NULL,
     "arguments appended to the runner's argv"},
    {"prompt", ARG_STRING, BODY, 0, 0, LIMIT_TEXT_BYTES, 0, 0, NULL,
     "appended as the last argument"},
    {"cwd", ARG_STRING, BODY, 0, 1, 1024, 0, 0, NULL,
     "working directory (absolute)"},
    {"task_id", ARG_INT, BODY, 0, 1, INT64_MAX, 0, 0, NULL,
     "the task it works on (COLIBRI_TASK_ID)"},
    {"env", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "extra environment {NAME: value}; only --spawn-env-allow names"},
    {"jail", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "run in a FreeBSD jail: {name, path, ip4, user}"},
    {"max_restarts", ARG_INT, BODY, 0, 0, 100, 0, 0, NULL,
     "restarts after a run that did not end done (default 3)"},
    {"backoff_floor_ms", ARG_INT, BODY, 0, 1, 600000, 0, 0, NULL,
     "smallest delay before a restart (default 500)"},
    {"backoff_cap_ms", ARG_INT, BODY, 0, 1, 3600000, 0, 0, NULL,
     "largest delay before a restart (default 30000)"},
    ARG_END
};

static const struct arg_spec agent_kill_args[] = {
    ARG_AGENT_ID,
    {"grace_seconds", ARG_INT, BODY, 0, 0, 3600, 0, 0, NULL,
     "seconds between SIGTERM and SIGKILL (default 10)"},
    ARG_END
};

static const struct arg_spec agent_state_args[] = {
    ARG_AGENT_ID,
    {"limit", ARG_INT, QUERY, 0, 1, 256, 0, 0, NULL,
     "transitions of history, newest first (default 50)"},
    ARG_END
};

static const struct arg_spec prompt_assemble_args[] = {
    {"kind", ARG_STRING, BODY, REQ | ARG_SLUG, 1, 64, 0, 0, NULL,
     "agent kind (a runner name): picks the system prompt"},
    {"task", ARG_INT, BODY, 0, 1, INT64_MAX, 0, 0, NULL,
     "the task of region 2 (none: region 2 is empty)"},
    {"tail", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "region 3: [{\"role\": \"user\"|\"assistant\"|\"tool\", "
     "\"content\": \"...\"}]"},
    {"session", ARG_INT, BODY, 0, 1, INT64_MAX, 0, 0, NULL,
     "check the prefix against the one this session started with"},
    ARG_END
};

static const char *const metering_sources[] = {"api", "probe", NULL};
static const char *const metering_groups[] = {
    "agent", "model", "session", "day", NULL
};

#define ARG_METERING_TOKENS(name, what) \
    {name, ARG_INT, BODY, REQ, 0, LIMIT_METERING_TOKENS, 0, 0, NULL, what}
#define ARG_METERING_FILTERS \
    {"agent", ARG_STRING, QUERY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, \
     NULL, "only this agent's calls"}, \
    {"model", ARG_STRING, QUERY, 0, 1, LIMIT_METERING_NAME_CHARS, 0, 0, \
     NULL, "only this model's calls"}, \
    {"since", ARG_STRING, QUERY, 0, 10, 40, 0, 0, NULL, \
     "calls at or after this time (RFC 3339, or a date)"}, \
    {"until", ARG_STRING, QUERY, 0, 10, 40, 0, 0, NULL, \
     "calls before this time (RFC 3339, or a date)"}

static const struct arg_spec metering_record_args[] = {
    {"source", ARG_STRING, BODY, 0, 0, 0, 0, 0, metering_sources,
     "who measured the call (default api)"},
    {"provider", ARG_STRING, BODY, REQ, 1, LIMIT_METERING_NAME_CHARS, 0, 0,
     NULL, "the provider that served the call (deepseek, openai, ...)"},
    {"model", ARG_STRING, BODY, REQ, 1, LIMIT_METERING_NAME_CHARS, 0, 0,
     NULL, "the model, as prices name it"},
    {"agent", ARG_STRING, BODY, ARG_SLUG, 1, LIMIT_AGENT_CHARS, 0, 0, NULL,
     "the agent that made the call"},
    {"session", ARG_INT, BODY, 0, 1, INT64_MAX, 0, 0, NULL,
     "its session (default: the agent's open session, if any)"},
    ARG_METERING_TOKENS("input_tokens",
                        "prompt tokens neither read from nor written to "
                        "a cache"),
    ARG_METERING_TOKENS("output_tokens", "completion tokens"),
    ARG_METERING_TOKENS("cache_read_tokens",
                        "prompt tokens served from a cache"),
    ARG_METERING_TOKENS("cache_write_tokens",
                        "prompt tokens written to a cache"),
    {"cost", ARG_ANY, BODY, NULLABLE, 0, 0, 0, 0, NULL,
     "USD the provider reported for the call (a number), or null"},
    {"prefix_drift", ARG_BOOL, BODY, 0, 0, 0, 0, 0, NULL,
     "the call's prompt prefix changed when it should not have"},
    ARG_END
};

static const struct arg_spec metering_list_args[] = {
    ARG_METERING_FILTERS,
    {"session", ARG_INT, QUERY, 0, 1, INT64_MAX, 0, 0, NULL,
     "only this session's calls"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 32, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec metering_summary_args[] = {
    {"group_by", ARG_STRING, QUERY, REQ, 0, 0, 0, 0, metering_groups,
     "agent, model, session or day (UTC)"},
    ARG_METERING_FILTERS,
    {"limit", ARG_INT, QUERY, 0, 1, LIMIT_LIST_MAX, 0, 0, NULL,
     "groups at most (default 100; the total covers all)"},
    ARG_END
};

static const struct arg_spec runtime_get_args[] = {
    {"fresh", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "look for the runtimes and jails again now instead of using the "
     "last minute's answer"},
    ARG_END
};

/* host.report: the body is a manifest (runtime.h); its members are the
 * arguments, so a typo in one is refused like any unknown argument. */
static const struct arg_spec host_report_args[] = {
    {"manifest_version", ARG_INT, BODY, 0, 1, 1, 0, 0, NULL,
     "format of the manifest (1)"},
    {"generated_at", ARG_STRING, BODY, 0, 1, 64, 0, 0, NULL,
     "when the reporting host made it (RFC 3339)"},
    {"host", ARG_ANY, BODY, REQ, 0, 0, 0, 0, NULL,
     "host facts; host.name names the host"},
    {"runtimes", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "agent runtimes found on its PATH, with versions"},
    {"runtimes_checked_at", ARG_STRING, BODY, 0, 1, 64, 0, 0, NULL,
     "when the runtimes were looked for"},
    {"jails", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "its jails (FreeBSD), or null"},
    {"colibri", ARG_ANY, BODY, 0, 0, 0, 0, 0, NULL,
     "the reporting Colibri's role, version and uptime"},
    ARG_END
};

static const struct arg_spec host_list_args[] = {
    {"online", ARG_BOOL, QUERY, 0, 0, 0, 0, 0, NULL,
     "only hosts that reported (true) or did not (false) in the last 5 "
     "minutes"},
    ARG_LIMIT,
    {"after", ARG_STRING, QUERY, 0, 1, 255, 0, 0, NULL,
     "cursor: the 'next' of the previous page"},
    ARG_END
};

static const struct arg_spec host_get_args[] = {
    {"name", ARG_STRING, PATH, REQ, 1, 255, 0, 0, NULL, "host name"},
    ARG_END
};

const struct op ops_table[] = {
    {"system.health", "GET", "/api/v1/health", op_system_health,
     OP_OPEN, 200, "Is the daemon up and its store usable", no_args},
    {"system.version", "GET", "/api/v1/version", op_system_version,
     0, 200, "Version of the daemon and its libraries", no_args},
    {"system.metrics", "GET", "/metrics", op_system_metrics,
     OP_TEXT, 200, "Prometheus metrics: requests, latency, tasks", no_args},
    {"system.status", "GET", "/api/v1/status", op_system_status,
     0, 200, "Overview: the daemon and its addresses, tasks by status",
     no_args},

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

    {"agent.register", "POST", "/api/v1/agents", op_agent_register,
     OP_WRITE, 201, "Register an agent", agent_register_args},
    {"agent.list", "GET", "/api/v1/agents", op_agent_list,
     0, 200, "List agents with filters, by id, a page at a time",
     agent_list_args},
    {"agent.get", "GET", "/api/v1/agents/{id}", op_agent_get,
     0, 200, "One agent, with its state and current task", agent_id_args},
    {"agent.update", "PATCH", "/api/v1/agents/{id}", op_agent_update,
     OP_WRITE, 200, "Change an agent's kind, host, labels, skills or "
     "timeout", agent_update_args},
    {"agent.heartbeat", "POST", "/api/v1/agents/{id}/heartbeat",
     op_agent_heartbeat, OP_WRITE, 200, "Tell that an agent is alive",
     agent_id_args},
    {"agent.state", "GET", "/api/v1/agents/{id}/state", op_agent_state,
     0, 200, "An agent's glasspane state and its recent transitions",
     agent_state_args},
    {"agent.events", "POST", "/api/v1/agents/{id}/events", op_agent_events,
     OP_WRITE | OP_NDJSON, 200, "Feed an agent's pi events (JSON lines) "
     "to its glasspane; bad lines are reported, good ones count",
     agent_events_args},
    {"agent.spawn", "POST", "/api/v1/agents/spawn", op_agent_spawn,
     OP_WRITE, 202, "Start an agent from a configured runner, supervised "
     "and restarted on failure", agent_spawn_args},
    {"agent.kill", "POST", "/api/v1/agents/{id}/kill", op_agent_kill,
     OP_WRITE, 200, "Stop a spawned agent: SIGTERM to its process group, "
     "SIGKILL after the grace period", agent_kill_args},
    {"agent.restart", "POST", "/api/v1/agents/{id}/restart",
     op_agent_restart, OP_WRITE, 200, "Stop a spawned agent and start it "
     "again now", agent_id_args},
    {"agent.process", "GET", "/api/v1/agents/{id}/process",
     op_agent_process, 0, 200, "A spawned agent's process: pid, exit "
     "status, restarts, stderr tail", agent_id_args},
    {"events.stream", "GET", "/api/v1/events", op_events_stream,
     OP_STREAM, 200, "Live events (Server-Sent Events), resumable with "
     "Last-Event-ID", events_stream_args},
    {"events.subscribe", NULL, NULL, op_events_subscribe,
     OP_STREAM | OP_LOCAL, 200, "Live events as JSON lines on the socket "
     "connection, resumable with last_event_id", events_subscribe_args},
    {"agent.remove", "DELETE", "/api/v1/agents/{id}", op_agent_remove,
     OP_WRITE, 204, "Remove an agent; the tasks it held go back to todo",
     agent_remove_args},

    {"runtime.get", "GET", "/api/v1/runtime", op_runtime_get,
     0, 200, "This host's runtime manifest: OS, CPUs, memory, load, disk, "
     "agent runtimes on PATH, jails, Colibri's version and uptime",
     runtime_get_args},
    {"host.report", "POST", "/api/v1/hosts", op_host_report,
     OP_WRITE, 200, "Another host pushes its runtime manifest (colibri "
     "inventory --report)", host_report_args},
    {"host.list", "GET", "/api/v1/hosts", op_host_list,
     0, 200, "Hosts that reported their manifest, with last seen and "
     "online", host_list_args},
    {"host.get", "GET", "/api/v1/hosts/{name}", op_host_get,
     0, 200, "One reported host and its manifest", host_get_args},
    {"host.remove", "DELETE", "/api/v1/hosts/{name}", op_host_remove,
     OP_WRITE, 204, "Forget a reported host (it reappears when it reports "
     "again)", host_get_args},

    {"skill.list", "GET", "/api/v1/skills", op_skill_list,
     0, 200, "List skills by name, or the invalid ones with their reasons",
     skill_list_args},
    {"skill.search", "GET", "/api/v1/skills/search", op_skill_search,
     0, 200, "Search skills by words, best match first", skill_search_args},
    {"skill.rescan", "POST", "/api/v1/skills/rescan", op_skill_rescan,
     OP_WRITE | OP_ADMIN, 200, "Scan the skill roots again and swap in the "
     "new index", no_args},
    {"skill.get", "GET", "/api/v1/skills/{name}", op_skill_get,
     0, 200, "One skill: front matter, body and file list",
     skill_name_args},
    {"skill.file", "GET", "/api/v1/skills/{name}/files/{path*}",
     op_skill_file, 0, 200, "One file of a skill", skill_file_args},
    {"skill.put", "PUT", "/api/v1/skills/{name}", op_skill_put,
     OP_WRITE, 200, "Create or replace a skill in the first writable root",
     skill_put_args},

    {"session.list", "GET", "/api/v1/sessions", op_session_list,
     0, 200, "Agent runs' session logs, newest first, with filters",
     session_list_args},
    {"session.get", "GET", "/api/v1/sessions/{id}", op_session_get,
     0, 200, "One session: agent, task, times, size, final state",
     session_id_args},
    {"session.entries", "GET", "/api/v1/sessions/{id}/entries",
     op_session_entries, OP_FOLLOW, 200, "A session's entries from a "
     "cursor; followed live on SSE or the socket", session_entries_args},

    {"prompt.assemble", "POST", "/api/v1/prompt/assemble",
     op_prompt_assemble, OP_WRITE, 200, "The three prompt regions for an "
     "agent kind and a task, with the SHA-256 of region 1 and of regions "
     "1+2",
     prompt_assemble_args},

    {"metering.record", "POST", "/api/v1/metering", op_metering_record,
     OP_WRITE, 201, "Record one model call's usage (the probe, or a "
     "client that saw the provider's answer)", metering_record_args},
    {"metering.list", "GET", "/api/v1/metering", op_metering_list,
     0, 200, "Metered model calls, newest first", metering_list_args},
    {"metering.summary", "GET", "/api/v1/metering/summary",
     op_metering_summary, 0, 200, "Tokens, cache hit ratio, cost and "
     "saving against uncached, by agent, model, session or day",
     metering_summary_args},
};

const size_t ops_count = sizeof(ops_table) / sizeof(ops_table[0]);
