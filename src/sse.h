/*
 * sse.h - Server-Sent Events over libmicrohttpd: the streaming half of the
 * HTTP transport (GET /api/v1/events).  Part of the transport, so it may
 * include microhttpd.h; handlers never see it.
 *
 * Idle subscribers cost no CPU: a stream with nothing to send suspends its
 * connection (inside the bus lock, see bus.h) and the next publish resumes
 * it.  A heartbeat thread wakes parked streams every heartbeat interval so
 * each writes a comment line: that keeps proxies from timing out and lets
 * a vanished client be noticed (a write fails).
 */
#ifndef COLIBRI_SSE_H
#define COLIBRI_SSE_H

#include <stddef.h>
#include <stdint.h>

struct bus;
struct store;
struct sse;
struct MHD_Connection;
struct MHD_Response;

struct sse_options {
    struct bus *bus;            /* borrowed */
    struct store *store;        /* borrowed: replays */
    size_t max_subscribers;     /* beyond it: 503 + Retry-After */
    int heartbeat_seconds;
    int retry_ms;               /* the client's reconnect hint */
};

int sse_new(struct sse **out, const struct sse_options *opts);
/* Ends every stream (resuming suspended ones) and stops the heartbeat.
 * Call before stopping the HTTP daemon. */
void sse_close(struct sse *s);
/* After the HTTP daemon stopped.  Accepts NULL. */
void sse_free(struct sse *s);

/*
 * Starts a stream on con: filters types/agent (may be NULL), resuming
 * after last_event_id (-1: from now).  Returns 0 with the response queued,
 * or an HTTP status (400 bad filter, 503 too many subscribers) for the
 * caller to answer with a problem.
 */
int sse_start(struct sse *s, struct MHD_Connection *con, const char *types,
              const char *agent, int64_t last_event_id, const char *rid,
              char *detail, size_t detail_len);

size_t sse_subscribers(struct sse *s);

/* Queues resp as an event stream on con (200, text/event-stream, no
 * caching, no proxy buffering, request id rid, no idle timeout: dead
 * clients are found by the heartbeat's write).  0, or -1 with resp
 * destroyed.  sse.c and sse_session.c use it. */
int sse_queue(struct MHD_Connection *con, struct MHD_Response *resp,
              const char *rid);

#endif
