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
