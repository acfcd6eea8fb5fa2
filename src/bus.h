/*
 * bus.h - the event bus: committed events fanned out to subscribers
 * (SSE connections, socket subscriptions) from one shared ring.
 *
 * The store calls bus_publish after each commit with the events in id
 * order.  Each event is rendered once, at publish, both as an SSE frame
 * and as a JSON line; delivering it is a copy.  Subscribers hold only a
 * cursor (the last id they received) into the ring, so a slow subscriber
 * costs no memory: when the ring has moved past its cursor it is told so
 * (BUS_BEHIND) and either replays from the store (a fresh subscription
 * catching up) or is cut with a reset (a live one that fell behind).
 *
 * Waking without polling: a subscriber that finds nothing new "parks"
 * (the park callback runs under the bus lock, so no publish can slip in
 * between the check and the park); a publish takes the list of parked
 * subscribers under the lock and calls their wake callbacks after
 * releasing it.  See docs/internals/events.md.
 */
#ifndef COLIBRI_BUS_H
#define COLIBRI_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

struct bus;
struct bus_sub;

enum bus_format { BUS_SSE, BUS_JSON_LINE };

enum bus_next_result {
    BUS_EVENT,                  /* one frame appended to out */
    BUS_EMPTY,                  /* nothing new; park was called */
    BUS_BEHIND,                 /* the cursor is older than the ring */
    BUS_HEARTBEAT,              /* nothing new, but a heartbeat is due */
    BUS_CLOSED                  /* the bus is shutting down */
};

struct bus_filter {
    char **types;               /* patterns ("task.*", "agent.state");
                                 * NULL-terminated; NULL = all */
    char *agent;                /* only events about this agent */
};

/* ring_size: events kept in memory; head: the newest id in the store at
 * start (a subscription after it needs no replay). */
struct bus *bus_new(size_t ring_size, int64_t head);
/* Accepts NULL.  Every subscriber must be gone. */
void bus_free(struct bus *b);

/* store_publish_fn: ctx is the bus. */
void bus_publish(void *ctx, const struct store_event *ev, size_t n);

/* Parses "task.*,agent.state" into f (new strings); -1 on a bad pattern. */
int bus_filter_parse(struct bus_filter *f, const char *types,
                     const char *agent);
void bus_filter_free(struct bus_filter *f);
int bus_filter_match(const struct bus_filter *f, const char *type,
                     const char *agent);

/* Subscribes from cursor after (events with id > after follow).  The
 * filter is stolen.  wake(ctx) is called, outside the bus lock, when a
 * parked subscriber has something to do. */
struct bus_sub *bus_subscribe(struct bus *b, struct bus_filter *filter,
                              int64_t after, void (*wake)(void *ctx),
                              void *ctx);
/*
 * Ends a subscription.  bus_unsubscribe never blocks: safe in MHD
 * callbacks, because an SSE subscriber's wake (its resume) always happens
 * before its connection can end.  bus_unsubscribe_wait returns only when
 * no wake for sub is running or pending, so ctx may be freed right after:
 * use it from threads of your own (socket subscriptions).
 */
void bus_unsubscribe(struct bus *b, struct bus_sub *sub);
void bus_unsubscribe_wait(struct bus *b, struct bus_sub *sub);

/*
 * The next frame for sub, appended to out.  On BUS_EMPTY, park(park_ctx)
 * was called under the bus lock (suspend the connection there).
 */
enum bus_next_result bus_next(struct bus *b, struct bus_sub *sub,
                              enum bus_format format, struct buf *out,
                              void (*park)(void *ctx), void *park_ctx);

int64_t bus_sub_cursor(const struct bus_sub *sub);
/* Moves the cursor (after a replay from the store delivered up to id). */
void bus_sub_set_cursor(struct bus_sub *sub, int64_t id);
const struct bus_filter *bus_sub_filter(const struct bus_sub *sub);

/* Renders one event (a replayed one) as a frame appended to out. */
void bus_render(const struct store_event *ev, enum bus_format format,
                struct buf *out);

/* The newest id published (or the start head). */
int64_t bus_head(struct bus *b);

/* Wakes every parked subscriber with a heartbeat due. */
void bus_heartbeat(struct bus *b);

/* Ends every subscription: parked ones are woken and get BUS_CLOSED. */
void bus_close(struct bus *b);

/* Subscribers now, for caps and metrics. */
size_t bus_subscribers(struct bus *b);

#endif
