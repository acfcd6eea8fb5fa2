/*
 * panes.h - every agent's live glasspane, fed by ingested events.
 *
 * One glasspane machine per agent, created on first use from the state
 * the store has for it.  A batch of pi events (a JSON array, or NDJSON
 * text, one event per line) is fed line by line; bad lines are reported
 * by number and the good ones still count; the transitions the batch
 * caused are committed in one write (agent.state events follow from it).
 * The same pipeline serves events posted by agents Colibri did not start
 * (agent.events) and, later, the spawner's child processes.
 */
#ifndef COLIBRI_PANES_H
#define COLIBRI_PANES_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "problem.h"

struct panes;
struct store;

int panes_new(struct panes **out, struct store *store);
void panes_free(struct panes *p);

/*
 * Feeds a batch for agent: text (NDJSON, len bytes) when non-NULL, else
 * array (a JSON array of events, borrowed).  *report (new) says how many
 * events were accepted, which were rejected and why, the transitions and
 * the state after.  -1 only when nothing could be applied (unknown
 * agent, store failure).
 */
int panes_ingest(struct panes *p, const char *agent, const char *text,
                 size_t len, json_t *array, json_t **report,
                 struct problem *err);

/*
 * The agent's process ended with status (shell style: exit status, or
 * 128 + signal); a run that had not settled becomes error (see
 * glasspane_exit).  *state (optional, borrowed static string) is the
 * state after.  0, or -1 (unknown agent, store failure).
 */
int panes_exit(struct panes *p, const char *agent, int status,
               const char **state, struct problem *err);

/* Called after each committed transition of an agent (the session log
 * annotates them); fn runs with that agent's pane locked, so calls for
 * one agent come in order.  Set once at start-up, before ingestion. */
typedef void (*panes_observer_fn)(void *ctx, const char *agent,
                                  const char *from, const char *to,
                                  const char *reason);
void panes_set_observer(struct panes *p, panes_observer_fn fn, void *ctx);

/* Settles what waits for time (a provisional agent_end). */
void panes_tick(struct panes *p);

/* Drops an agent's machine (it was removed). */
void panes_forget(struct panes *p, const char *agent);

#endif
