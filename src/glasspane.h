/*
 * glasspane.h - an agent's live state as a pure function of its event
 * stream.
 *
 * One machine per agent.  It is fed pi's JSON events one at a time (each
 * already parsed) and answers with the state transitions they cause, each
 * with a human reason.  Five states: idle, working, blocked, done, error;
 * "working" has a sub-state ("retrying" while pi backs off and retries,
 * "compacting" while it compacts its context).
 *
 * The module is pure: no I/O, no threads, no globals, no clock.  Time is
 * passed in (now_ms, any monotonic or wall milliseconds, as long as the
 * caller is consistent) and only matters for the two things that settle
 * by waiting: a provisional agent_end (see glasspane_tick) and a dialog's
 * own timeout.  A machine is not thread-safe; its owner serialises calls.
 *
 * The rules, the choices made where pi's stream is ambiguous, and the
 * transitions each real transcript produces are in
 * docs/internals/glasspane.md.
 */
#ifndef COLIBRI_GLASSPANE_H
#define COLIBRI_GLASSPANE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum gp_state { GP_IDLE, GP_WORKING, GP_BLOCKED, GP_DONE, GP_ERROR };

/* How long a provisional agent_end (stopReason "error") waits for pi to
 * announce a retry before it settles as error.  pi announces it within a
 * millisecond or two; the issue caps the wait at 5 s. */
#define GLASSPANE_GRACE_MS 3000

/* The most transitions one call can produce (a pending provisional end
 * settling, a dialog ending, then the event's own transition); an out
 * array of this size never loses one. */
#define GP_MAX_TRANSITIONS 4

#define GP_REASON_LEN 128
#define GP_SUBSTATE_LEN 32

/*
 * One change of state.  from/to may be equal when only the sub-state of
 * "working" changed (to "retrying", to "compacting", back to ""): those
 * are reported too, so a watcher sees a retry begin and end.  reason is
 * one line of text (control characters replaced, cut at a UTF-8 boundary
 * to fit); substate is the sub-state after the change ("" outside
 * "working").  truncated is 1 when the run settled done with stopReason
 * "length" (the answer was cut by the token limit), else 0.
 */
struct gp_transition {
    enum gp_state from;
    enum gp_state to;
    char reason[GP_REASON_LEN];
    char substate[GP_SUBSTATE_LEN];
    int truncated;
};

struct glasspane;

/* "idle", "working", "blocked", "done", "error"; "unknown" otherwise. */
const char *glasspane_state_name(enum gp_state state);

/* New machine in state initial (usually GP_IDLE; a daemon restoring an
 * agent passes the state it had).  Caller frees; aborts on OOM. */
struct glasspane *glasspane_new(enum gp_state initial);
/* Accepts NULL. */
void glasspane_free(struct glasspane *g);

/*
 * Feeds one event, borrowed: the JSON object as pi printed it.  Writes at
 * most max transitions to out and returns how many (0 when the event
 * changes nothing).  Never fails: an unknown type, a non-object, a missing
 * or non-string "type", or fields of the wrong shape are ignored (0).
 * Pass max >= GP_MAX_TRANSITIONS; with less, the extra transitions are
 * not reported but the state still moves.
 */
int glasspane_feed(struct glasspane *g, const json_t *event, int64_t now_ms,
                   struct gp_transition *out, int max);

/*
 * Time passes: settles what was waiting for a deadline at or before
 * now_ms.  A provisional agent_end that nothing followed for
 * GLASSPANE_GRACE_MS becomes error; a dialog whose own "timeout" ran out
 * counts as answered (pi gives the extension the default answer).  Call
 * it when glasspane_pending_deadline says so; calling it more often is
 * harmless.  Returns the number of transitions written, as above.
 */
int glasspane_tick(struct glasspane *g, int64_t now_ms,
                   struct gp_transition *out, int max);

/*
 * The process ended.  status is as a shell reports it: the exit status
 * (0-127), or 128 + N after death by signal N (143 = SIGTERM).  A run
 * that had not settled (working, blocked, or a provisional end) becomes
 * error; done, error, and idle-with-status-0 stay as they are (pi exits 0
 * even on failure in --mode json, so the status never makes a run done).
 */
int glasspane_exit(struct glasspane *g, int status, int64_t now_ms,
                   struct gp_transition *out, int max);

/*
 * 1 when an event whose "type" is the len bytes at type cannot change the
 * machine as it stands (message_update while working, and the like), so
 * that an ingester which needs the event for nothing else may skip
 * parsing it; 0 when it must be fed.  Feeding it anyway is always
 * correct.  pi writes "type" as the first key, so it can be read off the
 * raw line; message_update lines carry the whole message so far, twice,
 * and are most of a stream's bytes.
 */
int glasspane_can_skip(const struct glasspane *g, const char *type,
                       size_t len);

enum gp_state glasspane_state(const struct glasspane *g);
/* "", "retrying" or "compacting"; borrowed, static. */
const char *glasspane_substate(const struct glasspane *g);
/* The earliest now_ms at which glasspane_tick can change something (a
 * provisional end's grace period or a dialog's timeout); 0 when nothing
 * waits. */
int64_t glasspane_pending_deadline(const struct glasspane *g);

#endif
