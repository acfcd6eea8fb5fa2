/*
 * reaper.h - a thread that returns expired leases to todo at a fixed
 * interval, so a task whose agent died is offered again.
 */
#ifndef COLIBRI_REAPER_H
#define COLIBRI_REAPER_H

struct store;
struct reaper;

int reaper_start(struct reaper **out, struct store *store,
                 int interval_seconds);
/* Stops the thread, waiting for a pass in progress.  Accepts NULL. */
void reaper_stop(struct reaper *r);

#endif
