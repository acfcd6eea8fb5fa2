/*
 * store_impl.h - private to the SQLite backend (store.c, store_task.c).
 *
 * The statement table: every SQL statement the backend runs is listed
 * once here and prepared once per connection, on first use.
 */
#ifndef COLIBRI_STORE_IMPL_H
#define COLIBRI_STORE_IMPL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"

enum stmt_id {
    ST_TASK_INSERT,
    ST_TASK_SELECT,
    ST_TASK_LIST,
    ST_TASK_READY,
    ST_TASK_NEXT_READY,
    ST_TASK_EXISTS,
    ST_TASK_ROW,
    ST_TASK_IS_READY,
    ST_TASK_UPDATE,
    ST_TASK_DELETE,
    ST_TASK_HAS_DEPENDENTS,
    ST_TASK_COUNTS,
    ST_TASK_REAP,
    ST_TASK_SKILLS_OK,
    ST_TASK_HELD_BY,
    ST_AGENT_INSERT,
    ST_AGENT_SELECT,
    ST_AGENT_LIST,
    ST_AGENT_ROW,
    ST_AGENT_UPDATE,
    ST_AGENT_DELETE,
    ST_AGENT_TOUCH,
    ST_AGENT_COUNTS,
    ST_EVENT_INSERT,
    ST_EVENT_AFTER,
    ST_EVENT_BOUNDS,
    ST_EVENT_PRUNE,
    ST_TRANSITION_INSERT,
    ST_TRANSITION_LIST,
    ST_TRANSITION_PRUNE,
    ST_DEP_INSERT,
    ST_DEP_DELETE,
    ST_DEP_REACHES,
    ST_AGENT_SET_PROCESS,
    ST_HOST_UPSERT,
    ST_HOST_SELECT,
    ST_HOST_LIST,
    ST_HOST_COUNT,
    ST_HOST_DELETE,
    ST_SESSION_INSERT,
    ST_SESSION_END,
    ST_SESSION_SELECT,
    ST_SESSION_LIST,
    ST_SESSION_OPEN_ALL,
    ST_SESSION_EXPIRED,
    ST_SESSION_OLDEST,
    ST_SESSION_TOTAL,
    ST_SESSION_DELETE,
    ST_PREFIX_GET,              /* store_prompt.c */
    ST_PREFIX_PUT,
    ST_SESSION_PREFIX_GET,
    ST_SESSION_PREFIX_SET,
    ST_METERING_INSERT,         /* store_metering.c */
    ST_METERING_OPEN_SESSION,
    ST_METERING_SESSION_EXISTS,
    ST_METERING_DRIFT_TAKE,
    ST_METERING_DRIFT_MARK,
    ST_METERING_LIST,
    ST_METERING_SUM_AGENT,      /* the summary, by group_by */
    ST_METERING_SUM_MODEL,
    ST_METERING_SUM_SESSION,
    ST_METERING_SUM_DAY,
    ST_METERING_TOTALS_ADD,
    ST_METERING_TOTALS,
    ST_METERING_PRUNE,
    ST_COUNT
};

/* One SQLite connection and its lazily prepared statements. */
struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST_COUNT];
    struct conn *next_reader;   /* list of reader connections, for close */
};

/* A unit of work for the writer thread: fn runs inside the group
 * transaction (within its own savepoint) on the writer connection. */
struct write_job {
    int (*fn)(struct store *s, struct conn *c, void *ctx,
              struct problem *err);
    void *ctx;
    struct problem *err;
    int rc;
    int done;
    struct write_job *next;
};

/* Events gathered on the writer thread: per job, then per batch. */
struct event_list {
    struct store_event *items;
    size_t n, size;
};

struct store {
    char *path;
    int durable;
    int64_t (*clock)(void);
    store_publish_fn publish;
    void *publish_ctx;
    struct event_list job_events;   /* writer thread only */
    struct event_list batch_events; /* writer thread only */

    struct conn *writer;
    pthread_t writer_thread;
    pthread_mutex_t lock;       /* queue, stopping, readers */
    pthread_cond_t work_cond;   /* writer waits for jobs */
    pthread_cond_t done_cond;   /* callers wait for their commit */
    struct write_job *queue_head, *queue_tail;
    int stopping;

    pthread_key_t reader_key;
    struct conn *readers;
    int schema_version;
};

sqlite3_stmt *store_stmt(struct conn *c, enum stmt_id id);
struct conn *store_reader(struct store *s);
int store_write(struct store *s,
                int (*fn)(struct store *, struct conn *, void *,
                          struct problem *),
                void *ctx, struct problem *err);
/* Marks a registered agent as seen now (no-op for an unknown one). */
int store_agent_touch(struct conn *c, const char *agent, int64_t now,
                      struct problem *err);
/* store_agent_set_state's step inside a running job (n may be 0: the
 * agent is only marked seen); 404 for an unknown agent. */
int store_agent_apply_state(struct store *s, struct conn *c,
                            const char *agent,
                            const struct agent_transition *t, size_t n,
                            struct problem *err);
/* Inserts one metering row for the running job (store_metering.c) and
 * appends its metering event; *row (optional) gets the document (new). */
struct metering_record;
int store_metering_insert(struct store *s, struct conn *c,
                          const struct metering_record *r, json_t **row,
                          struct problem *err);
/* Marks session's next metering row as made with a drifted prompt
 * prefix (inside a running job). */
int store_metering_drift(struct store *s, struct conn *c, int64_t session,
                         struct problem *err);
/* Returns a held task to todo (lease ended): the reaper's step, also used
 * when an agent is removed. */
int store_task_return(struct store *s, struct conn *c, int64_t id,
                      const char *type, struct problem *err);
/* Appends an event to the running job (writer thread, inside a job);
 * data is stolen. */
int store_event_append(struct store *s, struct conn *c, const char *type,
                       const char *subject, const char *agent, json_t *data,
                       struct problem *err);
int store_sql_error(struct conn *c, struct problem *err, const char *what);

#endif
