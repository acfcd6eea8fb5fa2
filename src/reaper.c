/*
 * reaper.c - the lease reaper thread.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "reaper.h"
#include "store.h"
#include "util.h"

struct reaper {
    struct store *store;
    int interval;
    int events_keep;
    int events_max_age;
    int64_t metering_max_age_ms;        /* 0: keep */
    int64_t next_prune_ms;              /* the thread's own */
    void (*tick)(void *ctx);
    void *tick_ctx;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
};

#define METERING_PRUNE_BATCH 10000

/* Deletes metering rows past their age, a batch per write job. */
static void
prune_metering(struct reaper *r, int64_t max_age_ms)
{
    struct problem err = {0};
    int64_t before = util_now_ms() - max_age_ms;
    int n = 0, total = 0;

    do {
        if (store_metering_prune(r->store, before, METERING_PRUNE_BATCH, &n,
                                 &err) < 0) {
            log_warnx("reaper: pruning metering: %s", err.detail);
            problem_clear(&err);
            break;
        }
        total += n;
    } while (n == METERING_PRUNE_BATCH);
    if (total > 0)
        log_info("reaper: pruned %d old metering rows", total);
}

/*
 * Wakes every second: settles glasspanes that wait for time, returns
 * expired leases every interval seconds, prunes events (and metering
 * rows, if they have an age limit) every minute.
 */
static void *
reaper_main(void *arg)
{
    struct reaper *r = arg;
    struct timespec deadline;
    int64_t next_reap_ms = util_now_ms() + (int64_t)r->interval * 1000;

    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct problem err = {0};
        void (*tick)(void *);
        void *tick_ctx;
        int count = 0;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 1;
        while (!r->stopping &&
               pthread_cond_timedwait(&r->cond, &r->lock, &deadline) !=
                   ETIMEDOUT)
            ;
        if (r->stopping)
            break;
        /* What the setters said, read after the wait (they may have
         * spoken during it). */
        tick = r->tick;
        tick_ctx = r->tick_ctx;
        pthread_mutex_unlock(&r->lock);
        if (tick != NULL)
            tick(tick_ctx);
        if (util_now_ms() >= next_reap_ms) {
            if (store_task_reap(r->store, &count, &err) < 0)
                log_warnx("reaper: %s", err.detail);
            else if (count > 0)
                log_info("reaper: returned %d expired lease%s to todo",
                         count, count == 1 ? "" : "s");
            problem_clear(&err);
            next_reap_ms = util_now_ms() + (int64_t)r->interval * 1000;
        }
        if (util_now_ms() >= r->next_prune_ms) {
            if (store_events_prune(r->store, r->events_keep,
                                   (int64_t)r->events_max_age * 1000,
                                   &count, &err) < 0)
                log_warnx("reaper: pruning events: %s", err.detail);
            else if (count > 0)
                log_info("reaper: pruned %d old events", count);
            problem_clear(&err);
            if (r->metering_max_age_ms > 0)
                prune_metering(r, r->metering_max_age_ms);
            r->next_prune_ms = util_now_ms() + 60000;
        }
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

void
reaper_set_tick(struct reaper *r, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&r->lock);
    r->tick = fn;
    r->tick_ctx = ctx;
    pthread_mutex_unlock(&r->lock);
}

int
reaper_start(struct reaper **out, struct store *store, int interval_seconds,
             int events_keep, int events_max_age, int64_t metering_max_age_ms)
{
    struct reaper *r = xcalloc(1, sizeof(*r));

    r->metering_max_age_ms = metering_max_age_ms;
    r->store = store;
    r->interval = interval_seconds;
    r->events_keep = events_keep;
    r->events_max_age = events_max_age;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void
reaper_stop(struct reaper *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}
