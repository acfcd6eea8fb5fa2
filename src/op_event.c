/*
 * op_event.c - the event operations.  The streams themselves are served
 * by the transports (SSE in sse.c, the socket's subscription); the
 * handlers here answer a transport that cannot stream.
 */
#include "autoconf.h"

#include "app.h"
#include "handlers.h"
#include "panes.h"
#include "store.h"

int
op_events_stream(struct call *c)
{
    return problem_set(&c->err, 400, "stream_only",
                       "%s is a stream: use GET /api/v1/events (SSE) or "
                       "events.subscribe on the socket", c->op->name);
}

/*
 * Reached only where the connection cannot become a stream (the socket
 * serves events.subscribe itself, before any handler; HTTP has no route
 * to it): refuse, naming the ways that do stream.
 */
int
op_events_subscribe(struct call *c)
{
    return problem_set(&c->err, 400, "stream_only",
                       "%s turns a Unix-socket connection into an event "
                       "stream and is served there only; over HTTP use GET "
                       "/api/v1/events (SSE)", c->op->name);
}

/*
 * The events come as an NDJSON body (c->raw, HTTP), as a JSON array, or
 * as NDJSON text in one JSON string: the socket's way to forward lines
 * as they are, so that a line that is not JSON is still reported by its
 * number (colibri ingest uses it).
 */
int
op_agent_events(struct call *c)
{
    json_t *events = call_arg(c, "events");
    const char *text = c->raw;
    size_t len = c->raw_len;

    if (text == NULL && json_is_string(events)) {
        text = json_string_value(events);
        len = json_string_length(events);
    }
    if (text == NULL && !json_is_array(events))
        return problem_set(&c->err, 400, "invalid_argument",
                           "'events' must be an array of pi events or "
                           "their JSON lines as one string (or send the "
                           "body as application/x-ndjson)");
    return panes_ingest(c->app->panes, call_str(c, "id"), text, len,
                        text ? NULL : events, &c->result, &c->err);
}

int
op_agent_state(struct call *c)
{
    return store_agent_state(c->app->store, call_str(c, "id"),
                             (int)call_int(c, "limit", 50), &c->result,
                             &c->err);
}
