/*
 * session.h - session logs: one append-only JSONL file per agent run,
 * indexed in the store (store_session_*).  session_file.c holds the file
 * (writing, reading), session.c the registry.
 *
 * Three layers:
 *
 * - struct session_file: one open file.  session_file_append writes a
 *   batch of whole lines with one write(2) on an O_APPEND descriptor and
 *   counts bytes and lines.  Nothing is ever rewritten: a crash leaves
 *   the lines written so far and at most one partial last line.
 * - session_read: a page of entries from a file at a byte offset; a
 *   partial last line (no newline yet) and lines that are not JSON are
 *   skipped, so readers never see a torn write.
 * - struct sessions: the registry of open sessions, one per agent that
 *   runs.  The spawner begins, appends to and ends them; the glasspane
 *   hook (sessions_note_state) annotates state changes; followers (SSE)
 *   park on it and are woken by appends.  On open it closes the sessions
 *   a crash left open; its tick prunes by age and total size.
 *
 * Annotations are Colibri's own lines, told apart by a "colibri" key:
 * {"colibri":"spawn",...}, {"colibri":"state",...},
 * {"colibri":"exit",...}.  See docs/internals/sessions.md.
 */
#ifndef COLIBRI_SESSION_H
#define COLIBRI_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "problem.h"

struct store;
struct session_file;
struct sessions;

/* --- one file ------------------------------------------------------- */

/* Opens (creating, mode 0600) path for appending.  The counters start at
 * the file's current size and its number of newlines.  0 or -1 (errno).
 * *out is new (session_file_close). */
int session_file_open(struct session_file **out, const char *path);
/* Appends len bytes of whole lines (a missing last newline is added),
 * with one write(2).  0 or -1 (errno; the counters then hold what the
 * file really got). */
int session_file_append(struct session_file *f, const char *text,
                        size_t len);
int64_t session_file_size(const struct session_file *f);
int64_t session_file_lines(const struct session_file *f);
/* Accepts NULL. */
void session_file_close(struct session_file *f);
/* The size of the file at path and its number of newlines (0 and 0 when
 * it cannot be read). */
void session_file_count(const char *path, int64_t *size, int64_t *lines);

/* --- reading -------------------------------------------------------- */

/*
 * Reads up to limit entries of path starting at byte offset, appending
 * {"offset":N,"entry":<the line's JSON value>} to items (borrowed).
 * *next is the offset after the last whole line consumed (== offset when
 * none); *seen the size of the file as read (so a follower knows whether
 * more came since).  Skips lines that do not parse and stops before a
 * partial last line.  0, or -1 with err (404 session_file_missing, 400
 * invalid_cursor when offset is past the end, 500).
 */
int session_read(const char *path, int64_t offset, int limit, json_t *items,
                 int64_t *next, int64_t *seen, struct problem *err);

/* --- the registry --------------------------------------------------- */

struct sessions_options {
    const char *data_dir;       /* files go under data_dir/sessions */
    struct store *store;        /* borrowed */
    int64_t max_age_ms;         /* retention; <= 0: none */
    int64_t max_bytes;          /* retention; <= 0: none */
    int heartbeat_seconds;      /* followers' comment heartbeat */
    size_t max_followers;
};

/* Also closes what a crash left open (ended_at = the file's mtime, state
 * from its last state annotation, else "error"). */
int sessions_open(struct sessions **out, const struct sessions_options *o,
                  struct problem *err);
/* Ends the sessions still open (their state as last annotated) and frees
 * the registry.  Followers must be gone (sessions_follow_close and the
 * HTTP transport stopped).  Accepts NULL. */
void sessions_close(struct sessions *ss);

/* The data directory (borrowed). */
const char *sessions_data_dir(const struct sessions *ss);

/*
 * Begins agent's run: creates data_dir/sessions/<agent>/<ms>-<pid>.jsonl,
 * writes the spawn annotation and indexes it (session.start) with the
 * prompt prefix it starts with (prefix_sha256, may be NULL).  An open
 * session of the agent is ended first.  task_id < 0: none.  *id (may be
 * NULL) and *path (new absolute path, may be NULL) say what was made.
 * 0 or -1 (logged).
 */
int sessions_begin(struct sessions *ss, const char *agent, int64_t task_id,
                   const char *runner, const char *prefix_sha256, long pid,
                   int restarts, int64_t *id, char **path);
/* Appends the agent's raw lines to its open session (none: nothing). */
void sessions_append(struct sessions *ss, const char *agent,
                     const char *text, size_t len);
/* A glasspane transition of agent: annotated when a session is open. */
void sessions_note_state(struct sessions *ss, const char *agent,
                         const char *from, const char *to,
                         const char *reason);
/* Ends agent's open session: exit annotation, index row closed
 * (session.end) with size, lines, the final state (the last annotated
 * one; state, which may be NULL, when the run annotated none) and
 * exit_status (< 0: none). */
void sessions_end(struct sessions *ss, const char *agent, int exit_status,
                  const char *state);

/* Live counters of session id when it is open here: 1 (size and lines
 * set), else 0. */
int sessions_live(struct sessions *ss, int64_t id, int64_t *size,
                  int64_t *lines);

/* Once a second (the reaper's tick): followers' heartbeats, and every
 * minute the retention pass. */
void sessions_tick(struct sessions *ss);
/* One retention pass now; *removed (may be NULL) counts the files. */
int sessions_prune(struct sessions *ss, int *removed, struct problem *err);

/* --- followers ------------------------------------------------------ */

enum session_wake { SESSION_WAKE_DATA, SESSION_WAKE_HEARTBEAT,
                    SESSION_WAKE_CLOSING };
enum session_wait { SESSION_WAIT_PARKED, SESSION_WAIT_MORE,
                    SESSION_WAIT_ENDED, SESSION_WAIT_CLOSING };

/* Counts a new follower against the cap: 0, or -1 when full or
 * closing. */
int sessions_follow_add(struct sessions *ss);
void sessions_follow_remove(struct sessions *ss);

/*
 * A follower of session id has read the file up to seen bytes and found
 * nothing new.  Returns SESSION_WAIT_MORE when the file has grown since,
 * SESSION_WAIT_ENDED when the session is not open (read the rest, then
 * stop), SESSION_WAIT_CLOSING at shutdown; else parks: park(ctx) runs
 * under the registry lock (so no append slips in between), and the next
 * append, heartbeat or close calls wake(ctx, why) outside it, once.
 */
enum session_wait sessions_follow_wait(struct sessions *ss, int64_t id,
                                       int64_t seen,
                                       void (*park)(void *ctx),
                                       void (*wake)(void *ctx,
                                                    enum session_wake why),
                                       void *ctx);
/* Wakes every parked follower with SESSION_WAKE_CLOSING; later waits
 * answer SESSION_WAIT_CLOSING.  Before the HTTP transport stops. */
void sessions_follow_close(struct sessions *ss);

/* The file of session id (new absolute path) after checking that the
 * session exists and that after is a cursor within its file.  0, or -1
 * with err (404 session_not_found, session_file_missing; 400
 * invalid_cursor). */
int sessions_follow_check(struct sessions *ss, int64_t id, int64_t after,
                          char **path, struct problem *err);

/*
 * Follows a session on a transport that has a thread of its own for it
 * (the Unix socket): JSON lines to emit(ctx, text, len) --
 * {"event":"entry","offset":N,"next":M,"entry":...} per line as written,
 * {"event":"heartbeat"} when idle for the heartbeat interval, and
 * {"event":"end","session":{...}} once the session has ended and its
 * file is read.  Between looks it calls idle(ctx, ms), which waits up
 * to ms: the file's growth is polled every 200 ms, a small cost that a
 * thread per socket stream makes irrelevant.  emit or idle returning -1
 * ends it.  Returns 0 after the end line, -1 when stopped.
 */
int sessions_follow_run(struct sessions *ss, int64_t id, const char *path,
                        int64_t after,
                        int (*emit)(void *ctx, const char *text,
                                    size_t len),
                        int (*idle)(void *ctx, int ms), void *ctx);

#endif
