/*
 * cli_events.h - the two colibri commands that are streams rather than
 * one call: "colibri events" (tails the event stream) and "colibri
 * ingest" (forwards a pi JSONL stream to agent.events in batches).
 */
#ifndef COLIBRI_CLI_EVENTS_H
#define COLIBRI_CLI_EVENTS_H

#include <stdio.h>
#include <jansson.h>

#include "cli_client.h"

/*
 * Follows the events: over the socket with events.subscribe, over HTTP
 * (ep->url) by reading the SSE stream of GET /api/v1/events.  filter has
 * "types", "agent" and "last_event_id" (each optional; borrowed).  Prints
 * one line per event on out, for people or (json) the event's JSON line;
 * resumes after the last id seen when the connection drops (backoff up
 * to 5 s while the daemon restarts).  Returns on SIGINT or SIGTERM with
 * 0; with an exit status (cli_exit) when the daemon cannot be reached at
 * first or refuses the subscription.
 */
int cli_events_follow(const struct cli_endpoint *ep, json_t *filter,
                      int json, FILE *out);

/* "colibri events [--types T] [--agent A] [--since ID] [--json]": argv
 * holds the words after "events". */
int cli_events_main(const struct cli_endpoint *ep, int argc, char **argv,
                    int json);

/*
 * "colibri ingest --agent ID [--batch N] [--json]": reads pi JSON lines
 * from in and sends them to agent.events in batches of at most N lines
 * (default 200), at least every 200 ms while lines come, and at end of
 * input.  Over HTTP the batch is an application/x-ndjson body; over the
 * socket it is the NDJSON text as one JSON string (args.events), so a
 * line that is not JSON reaches the daemon as it is and is reported by
 * it.  A summary goes to stderr (rejected lines by number, the agent's
 * state).  0 when every line was accepted, 1 when some were rejected,
 * the call's status (6 unreachable, 3 unknown agent) when a batch could
 * not be delivered.
 */
int cli_ingest_main(const struct cli_endpoint *ep, int argc, char **argv,
                    int json, int in_fd);

/* Helpers, exposed for tests. */

/* Bytes text takes as a JSON string's contents (jansson's escapes). */
size_t cli_json_escaped_len(const char *text, size_t len);

/* One event (the JSON of a stream line) as a person reads it: time,
 * type, subject, agent and a short summary; new string, no newline. */
char *cli_event_human(const json_t *event);

#endif
