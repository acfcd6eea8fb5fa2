/*
 * reaper.h - a thread that returns expired leases to todo at a fixed
 * interval, so a task whose agent died is offered again.
 */
#ifndef COLIBRI_REAPER_H
#define COLIBRI_REAPER_H

#include <stdint.h>

struct store;
struct reaper;

/* Also prunes the event log every minute (the first time a second after
 * the start): keep the newest events_keep, none older than
 * events_max_age seconds; and the metering rows older than
 * metering_max_age_ms (0: keeps them). */
int reaper_start(struct reaper **out, struct store *store,
                 int interval_seconds, int events_keep, int events_max_age,
                 int64_t metering_max_age_ms);

/* Also calls fn(ctx) every second (glasspanes settling by time). */
void reaper_set_tick(struct reaper *r, void (*fn)(void *ctx), void *ctx);
/* Stops the thread, waiting for a pass in progress.  Accepts NULL. */
void reaper_stop(struct reaper *r);

#endif
