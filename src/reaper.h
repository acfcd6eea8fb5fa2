/*
 * reaper.h - a thread that returns expired leases to todo at a fixed
 * interval, so a task whose agent died is offered again.
 */
#ifndef COLIBRI_REAPER_H
#define COLIBRI_REAPER_H

struct store;
struct reaper;

/* Also prunes the event log every minute: keep the newest events_keep,
 * none older than events_max_age seconds. */
int reaper_start(struct reaper **out, struct store *store,
                 int interval_seconds, int events_keep, int events_max_age);

/* Also prunes metering rows older than max_age_ms with the events
 * (0: keeps them; the default). */
void reaper_set_metering_max_age(struct reaper *r, int64_t max_age_ms);
/* Also calls fn(ctx) every second (glasspanes settling by time). */
void reaper_set_tick(struct reaper *r, void (*fn)(void *ctx), void *ctx);
/* Stops the thread, waiting for a pass in progress.  Accepts NULL. */
void reaper_stop(struct reaper *r);

#endif
