/*
 * store.h - the persistent state of Colibri behind one interface.
 *
 * The store is opaque: callers see operations on the domain (create a
 * task, claim it, ...) and never SQL, so a second backend (PostgreSQL for
 * several daemons sharing one board) implements this header without
 * touching the handlers.  Results are JSON documents (new references) in
 * the shapes the API documents.
 *
 * Threading: every function may be called from any thread.  Writes go
 * through one writer thread that batches concurrent callers into group
 * commits (docs/internals/store.md); each call returns only after its
 * commit is durable at the configured level, so an acknowledged write is
 * never lost.  Reads use a per-thread connection and see the last commit.
 *
 * Errors: 0 on success; -1 with err filled (status, code, detail).
 */
#ifndef COLIBRI_STORE_H
#define COLIBRI_STORE_H

#include <stdint.h>
#include <jansson.h>

#include "problem.h"

struct store;

/*
 * An event: a change others must see, committed with the change itself
 * (same transaction, row in the events table) and published after the
 * commit with the sequence id the store gave it.
 */
struct store_event {
    int64_t id;                 /* sequence, increasing */
    int64_t time;               /* ms since epoch */
    char *type;                 /* "task.claimed", "agent.state", ... */
    char *subject;              /* "task:12", "agent:pi-1" */
    char *agent;                /* agent involved, or NULL */
    json_t *data;               /* payload */
};

/* Called on the writer thread after each commit with that commit's events
 * in id order; the events are borrowed for the call. */
typedef void (*store_publish_fn)(void *ctx, const struct store_event *ev,
                                 size_t n);

/* Task statuses, in the order /metrics reports them. */
enum task_status {
    TASK_TODO, TASK_IN_PROGRESS, TASK_BLOCKED, TASK_REVIEW, TASK_DONE,
    TASK_CANCELLED, TASK_STATUS_COUNT
};
extern const char *const task_status_names[TASK_STATUS_COUNT + 1];

/* Outcomes of a claim. */
enum claim_outcome { CLAIM_CLAIMED, CLAIM_RENEWED, CLAIM_STOLEN, CLAIM_DENIED };

struct store_options {
    const char *path;           /* database file; created when missing */
    int durable;                /* 1: synchronous=FULL, 0: NORMAL */
    int64_t (*clock)(void);     /* ms since epoch; NULL = wall clock */
    store_publish_fn publish;   /* NULL: events are only stored */
    void *publish_ctx;
};

/* Opens (creating and migrating as needed) the database. */
int store_open(struct store **out, const struct store_options *opts,
               struct problem *err);
/* Drains pending writes, stops the writer and closes every connection.
 * Accepts NULL. */
void store_close(struct store *s);

/* Sets where committed events go.  Call before the first write that
 * others may see (start-up), never while writes run. */
void store_set_publisher(struct store *s, store_publish_fn fn, void *ctx);

/* A cheap query that proves the database answers. */
int store_ping(struct store *s, struct problem *err);

/* Schema version after migration (PRAGMA user_version). */
int store_schema_version(struct store *s);

/*
 * Tasks.  Arguments arrive validated for type by the operations table;
 * the store checks the domain rules (existence, status, leases, cycles).
 */
int store_task_create(struct store *s, const json_t *fields, json_t **task,
                      struct problem *err);
int store_task_get(struct store *s, int64_t id, json_t **task,
                   struct problem *err);

struct task_filter {
    const char *statuses;       /* comma list, or NULL */
    const char *assignee;
    const char *label;
    int priority;               /* -1 = any */
    int ready_only;
    const char *agent;          /* only tasks this agent may claim */
    int64_t after;              /* cursor: id strictly greater */
    int limit;
};
/* {"items":[...],"next":"<id>"|null} ordered by id. */
int store_task_list(struct store *s, const struct task_filter *f,
                    json_t **page, struct problem *err);
/* Ready tasks ordered by priority, then age: {"items":[...]}.  With an
 * agent, only the tasks whose required skills it has. */
int store_task_ready(struct store *s, int limit, const char *agent,
                     json_t **page, struct problem *err);

/* Partial update of title/body/priority/labels/assignee/status/result.
 * version must equal the stored one (stale: 409, or 412 when
 * from_if_match). */
int store_task_update(struct store *s, int64_t id, json_t *changes,
                      int64_t version, int from_if_match, json_t **task,
                      struct problem *err);
/* version < 0: unconditional. */
int store_task_delete(struct store *s, int64_t id, int64_t version,
                      int from_if_match, struct problem *err);

/*
 * Claims task id for agent (id 0: the first ready task by priority then
 * age).  *result is {"outcome":..., "task":...}; a denial is an error
 * (409 claim_denied) whose extension members carry the same shape.
 */
int store_task_claim(struct store *s, int64_t id, const char *agent,
                     int lease_seconds, json_t **result,
                     struct problem *err);
/* attempt < 0: not checked. */
int store_task_heartbeat(struct store *s, int64_t id, const char *agent,
                         int lease_seconds, int64_t attempt, json_t **task,
                         struct problem *err);
int store_task_release(struct store *s, int64_t id, const char *agent,
                       int64_t attempt, json_t **task, struct problem *err);
/* status is "done" or "review"; result may be NULL. */
int store_task_complete(struct store *s, int64_t id, const char *agent,
                        int64_t attempt, const char *status,
                        const json_t *result, json_t **task,
                        struct problem *err);
int store_task_dep_add(struct store *s, int64_t id, int64_t depends_on,
                       json_t **task, struct problem *err);
int store_task_dep_remove(struct store *s, int64_t id, int64_t depends_on,
                          json_t **task, struct problem *err);

/*
 * Agents.  The registry keeps who works here, what they can do (skills),
 * and when they were last seen; online is derived from last_seen and the
 * agent's timeout, never stored.
 */
int store_agent_register(struct store *s, const json_t *fields,
                         json_t **agent, struct problem *err);
int store_agent_get(struct store *s, const char *id, json_t **agent,
                    struct problem *err);
/* Records the process the spawner runs for agent: pid (< 0: none), exit
 * status (< 0: none yet), restarts, jail (JSON text, borrowed, or NULL).
 * Not a change of the agent's version: runtime facts. */
int store_agent_set_process(struct store *s, const char *id, long long pid,
                            int exit_status, int restarts, const char *jail,
                            struct problem *err);

struct agent_filter {
    const char *state;
    const char *kind;
    const char *host;
    const char *label;
    int online;                 /* -1 any, 0 offline, 1 online */
    const char *after;          /* cursor: id strictly greater */
    int limit;
};
/* {"items":[...],"next":"<id>"|null} ordered by id. */
int store_agent_list(struct store *s, const struct agent_filter *f,
                     json_t **page, struct problem *err);
/* Partial update of kind/host/labels/skills/timeout_seconds; version < 0
 * is unconditional. */
int store_agent_update(struct store *s, const char *id, json_t *changes,
                       int64_t version, int from_if_match, json_t **agent,
                       struct problem *err);
int store_agent_heartbeat(struct store *s, const char *id, json_t **agent,
                          struct problem *err);
/* {"total":N,"online":N,"by_state":{"idle":N,...}} */
int store_agent_counts(struct store *s, json_t **out, struct problem *err);

/* Removes the agent and returns the tasks it held to todo. */
int store_agent_remove(struct store *s, const char *id, int64_t version,
                       int from_if_match, struct problem *err);

/*
 * Events.  store_event_add commits an event that belongs to no other
 * change (e.g. a skill rescan); domain changes add theirs themselves.
 * data is stolen.
 */
int store_event_add(struct store *s, const char *type, const char *subject,
                    const char *agent, json_t *data, struct problem *err);
/* Up to limit events with id > after, oldest first; *out is new (free
 * with store_events_free). */
int store_events_after(struct store *s, int64_t after, int limit,
                       struct store_event **out, size_t *n,
                       struct problem *err);
void store_events_free(struct store_event *ev, size_t n);
/* Lowest and highest id kept (0, 0 when none). */
int store_events_bounds(struct store *s, int64_t *oldest, int64_t *newest,
                        struct problem *err);
/* Deletes events beyond the newest keep, and older than max_age_ms. */
int store_events_prune(struct store *s, int64_t keep, int64_t max_age_ms,
                       int *deleted, struct problem *err);

/*
 * Agent state (the glasspane's output): records a transition, updates the
 * agent's state and state_since, and publishes agent.state.
 */
struct agent_transition {
    const char *from;
    const char *to;
    const char *reason;
    const char *substate;       /* "" or e.g. "retrying" */
    int truncated;
};
int store_agent_set_state(struct store *s, const char *agent,
                          const struct agent_transition *t, size_t n,
                          struct problem *err);
/* {"id","state","state_since","history":[{from,to,reason,...,time}]},
 * newest first, at most limit transitions. */
int store_agent_state(struct store *s, const char *agent, int limit,
                      json_t **out, struct problem *err);

/* Returns expired leases to todo; *count says how many. */
int store_task_reap(struct store *s, int *count, struct problem *err);

/*
 * Sessions: one row per agent run, indexing its append-only JSONL file
 * (docs/internals/sessions.md).  Documents are {"id","agent","task_id",
 * "runner","started_at","ended_at","size","lines","state","exit_status",
 * "prefix_sha256"}; start and end publish session.start / session.end.
 */
struct session_start {
    const char *agent;
    int64_t task_id;            /* < 0: none */
    const char *runner;         /* or NULL */
    const char *path;           /* relative to the data directory */
    int64_t started_at;         /* ms */
    const char *prefix_sha256;  /* the prompt prefix it starts with, or
                                 * NULL */
};
int store_session_start(struct store *s, const struct session_start *in,
                        int64_t *id, struct problem *err);

struct session_end {
    int64_t ended_at;           /* ms */
    int64_t size, lines;
    const char *state;          /* final glasspane state, or NULL */
    int exit_status;            /* < 0: none */
};
/* Closes an open session (an ended one is left as it is: 0). */
int store_session_end(struct store *s, int64_t id,
                      const struct session_end *in, struct problem *err);
/* *doc new; *path (new, may be NULL to skip) the file relative to the
 * data directory.  404 session_not_found. */
int store_session_get(struct store *s, int64_t id, json_t **doc,
                      char **path, struct problem *err);

struct session_filter {
    const char *agent;
    int64_t task;               /* < 0: any */
    const char *state;          /* a glasspane state, "open", or NULL */
    int64_t since, until;       /* started_at bounds in ms; < 0: none */
    int64_t after;              /* cursor: ids below it; 0: from newest */
    int limit;
};
/* {"items":[...],"next":"<id>"|null}, newest first. */
int store_session_list(struct store *s, const struct session_filter *f,
                       json_t **page, struct problem *err);
/* The sessions still open: [{"id","path","started_at", and of their
 * agent as committed: "state","state_since" (ms),"pid","exit_status"
 * when known}] (new). */
int store_session_open_list(struct store *s, json_t **items,
                            struct problem *err);
/*
 * Retention: deletes the rows of ended sessions that ended before
 * ended_before (ms; < 0: no age limit), then the oldest ended ones while
 * the sizes of all sessions add up to more than max_bytes (< 0: no
 * limit).  Open sessions are never touched.  *paths (new, NULL-ended)
 * are the files of the rows deleted, for the caller to unlink.
 */
int store_session_prune(struct store *s, int64_t ended_before,
                        int64_t max_bytes, char ***paths, size_t *n,
                        struct problem *err);

/* Number of tasks per status (index enum task_status). */
int store_task_counts(struct store *s, int64_t counts[TASK_STATUS_COUNT],
                      struct problem *err);

/*
 * Hosts (store_host.c): other hosts' runtime manifests (runtime.h).
 * manifest is borrowed and already checked; the host's name is its
 * host.name.  A document is {"name","online","first_seen","reported_at",
 * "last_seen","reports","manifest"}; online = last seen within
 * online_seconds of now, derived, never stored.  report publishes
 * host.reported.
 */
int store_host_report(struct store *s, const json_t *manifest,
                      int online_seconds, json_t **host,
                      struct problem *err);
int store_host_get(struct store *s, const char *name, int online_seconds,
                   json_t **host, struct problem *err);
/* {"items":[...],"next":"<name>"|null} by name; online -1 any, 0, 1. */
int store_host_list(struct store *s, const char *after, int online,
                    int online_seconds, int limit, json_t **page,
                    struct problem *err);
/* Forgets a host (it reports again as new); publishes host.removed. */
int store_host_remove(struct store *s, const char *name,
                      struct problem *err);

/*
 * Prompt prefixes (store_prompt.c, docs/internals/prompt.md): what an
 * assembly produced, checked against what was seen before.  For the
 * kind: a region 1 that changed while its inputs did not is drift (a
 * determinism bug: event prompt.drift); changed inputs replace the row
 * (event prompt.prefix).  With a session (> 0): the session's
 * prefix_sha256 is set if it has none, and a different one is drift
 * (prompt.drift, and the session's next metering row is flagged).
 * *drift (may be NULL) counts the drifts found.  404 session_not_found.
 */
struct prompt_observation {
    const char *kind;
    const char *region1_sha256;
    const char *inputs_sha256;
    int64_t session;            /* <= 0: none */
    const char *prefix_sha256;  /* regions 1 + 2, for the session */
};
int store_prompt_observe(struct store *s, const struct prompt_observation *o,
                         int *drift, struct problem *err);

/*
 * Metering (store_metering.c, docs/internals/metering.md): one row per
 * model call, {"id","time","agent","session_id","source","provider",
 * "model","input_tokens","output_tokens","cache_read_tokens",
 * "cache_write_tokens","cost","prefix_drift"}; each stored row publishes
 * a metering event.
 */
struct metering_usage;
struct metering_prices;
struct metering_record {
    const char *source;         /* "stream", "probe" or "api" */
    const char *agent;          /* or NULL */
    int64_t session;            /* > 0: that session (422 unknown_session
                                 * when missing); 0: the agent's open
                                 * session, if any; < 0: none */
    const struct metering_usage *usage;     /* time 0 = now */
    int prefix_drift;           /* 1: flagged by the caller */
};
int store_metering_record(struct store *s, const struct metering_record *r,
                          json_t **row, struct problem *err);
/*
 * One ingestion batch of agent in one write: the glasspane transitions
 * (as store_agent_set_state; n 0 only marks the agent seen) and a row
 * (source "stream", the agent's open session) per usage.
 */
int store_agent_ingest(struct store *s, const char *agent,
                       const struct agent_transition *t, size_t n,
                       const struct metering_usage *u, size_t nu,
                       struct problem *err);
/* Deletes the metering rows older than before_ms (at most limit of them:
 * call again while *deleted == limit, so the writer is never held long).
 * The per-model totals behind /metrics are kept: counters never go
 * back. */
int store_metering_prune(struct store *s, int64_t before_ms, int limit,
                         int *deleted, struct problem *err);
/* The next metering row of session (> 0) is flagged prefix_drift: its
 * prompt prefix changed when it should not have. */
int store_metering_flag_drift(struct store *s, int64_t session,
                              struct problem *err);

struct metering_filter {
    const char *agent;
    const char *model;
    int64_t session;            /* < 0: any */
    int64_t since, until;       /* time bounds in ms, until exclusive;
                                 * < 0: none */
    int64_t after;              /* cursor: ids below it; 0: from newest */
    int limit;
};
/* {"items":[...],"next":"<id>"|null}, newest first. */
int store_metering_list(struct store *s, const struct metering_filter *f,
                        json_t **page, struct problem *err);
/*
 * {"group_by","items":[{"key",...}],"total":{...},"truncated"}: calls,
 * tokens by kind, hit_ratio, cost, uncached_cost, saving, prefix_drift
 * per group (agent, model, session or day), at most f->limit groups.
 * Costs use prices where the model has one, else the reported cost.
 */
int store_metering_summary(struct store *s, const char *group_by,
                           const struct metering_filter *f,
                           const struct metering_prices *prices,
                           json_t **out, struct problem *err);
/* The same document grouped by model over every call ever metered, from
 * totals kept with each insert (cheap at any size: /metrics). */
int store_metering_totals(struct store *s, int limit,
                          const struct metering_prices *prices, json_t **out,
                          struct problem *err);

#endif
