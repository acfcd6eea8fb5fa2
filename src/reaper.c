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
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
};

static void *
reaper_main(void *arg)
{
    struct reaper *r = arg;
    struct timespec deadline;

    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        struct problem err = {0};
        int count = 0;

        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += r->interval;
        while (!r->stopping &&
               pthread_cond_timedwait(&r->cond, &r->lock, &deadline) !=
                   ETIMEDOUT)
            ;
        if (r->stopping)
            break;
        pthread_mutex_unlock(&r->lock);
        if (store_task_reap(r->store, &count, &err) < 0)
            log_warnx("reaper: %s", err.detail);
        else if (count > 0)
            log_info("reaper: returned %d expired lease%s to todo", count,
                     count == 1 ? "" : "s");
        problem_clear(&err);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int
reaper_start(struct reaper **out, struct store *store, int interval_seconds)
{
    struct reaper *r = xcalloc(1, sizeof(*r));

    r->store = store;
    r->interval = interval_seconds;
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
