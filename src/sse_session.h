/*
 * sse_session.h - following a session's entries over Server-Sent Events
 * (session.entries with ?follow=true or Accept: text/event-stream).  Part
 * of the HTTP transport; see sse_session.c and
 * docs/internals/sessions.md.
 */
#ifndef COLIBRI_SSE_SESSION_H
#define COLIBRI_SSE_SESSION_H

#include <stdint.h>

#include "problem.h"

struct sessions;
struct store;
struct MHD_Connection;

/* Starts following session id from byte offset after on con.  0 with the
 * response queued, or -1 with err (404 unknown session, 400 bad cursor,
 * 503 too many followers or shutting down). */
int sse_session_start(struct sessions *ss, struct store *store,
                      struct MHD_Connection *con, int64_t id, int64_t after,
                      const char *rid, struct problem *err);

#endif
