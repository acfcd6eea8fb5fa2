/*
 * sse.c - event streams: replay from the store, then live from the bus.
 */
#include "autoconf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>

#include "bus.h"
#include "limits.h"
#include "log.h"
#include "sse.h"
#include "util.h"

/* Events read from the store per replay step. */
#define SSE_REPLAY_PAGE 256

/*
 * MHD allocates this much with every response, for the reader to fill.
 * An HTTP/1.1 stream is chunked, and for chunked responses MHD has the
 * reader write straight into the connection's own buffer (from the
 * --http-memory pool): the block is used only by HTTP/1.0 clients (nginx
 * proxies with HTTP/1.0 unless told otherwise), where a frame larger than
 * it takes one more call and one more send.  Each subscriber has its own
 * response, so the block is per-subscriber memory: with 4096, 10,000
 * subscribers took 10.3 KiB each, with 1024 7.0 KiB, with 512 6.5 KiB
 * (tests/bench/sse.sh).  1024 holds a typical task or agent frame whole.
 */
#define SSE_BLOCK 1024

struct sse {
    struct bus *bus;
    struct store *store;
    size_t max_subscribers;
    size_t subscribers;         /* atomic */
    int heartbeat_seconds;
    int retry_ms;
    pthread_t heartbeat;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stopping;
};

struct stream {
    struct sse *sse;
    struct MHD_Connection *con;
    struct bus_sub *sub;
    struct buf out;             /* bytes not yet handed to MHD */
    size_t out_off;
    int replaying;              /* catching up from the store */
    int ending;                 /* flush out, then end the stream */
};

static void *
heartbeat_main(void *arg)
{
    struct sse *s = arg;
    struct timespec deadline;

    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += s->heartbeat_seconds;
        while (!s->stopping &&
               pthread_cond_timedwait(&s->cond, &s->lock, &deadline) !=
                   ETIMEDOUT)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->lock);
        bus_heartbeat(s->bus);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int
sse_new(struct sse **out, const struct sse_options *opts)
{
    struct sse *s = xcalloc(1, sizeof(*s));

    s->bus = opts->bus;
    s->store = opts->store;
    s->max_subscribers = opts->max_subscribers;
    s->heartbeat_seconds = opts->heartbeat_seconds;
    s->retry_ms = opts->retry_ms;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->heartbeat, NULL, heartbeat_main, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->cond);
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void
sse_close(struct sse *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    if (s->stopping) {
        pthread_mutex_unlock(&s->lock);
        return;
    }
    s->stopping = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->heartbeat, NULL);
    /* Every parked stream is resumed and reads BUS_CLOSED. */
    bus_close(s->bus);
}

void
sse_free(struct sse *s)
{
    if (s == NULL)
        return;
    sse_close(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

size_t
sse_subscribers(struct sse *s)
{
    return __atomic_load_n(&s->subscribers, __ATOMIC_RELAXED);
}

static void
park(void *ctx)
{
    struct stream *st = ctx;

    MHD_suspend_connection(st->con);
}

static void
wake(void *ctx)
{
    struct stream *st = ctx;

    MHD_resume_connection(st->con);
}

/* Catches up from the store: one page of events after the cursor. */
static void
replay_step(struct stream *st)
{
    struct store_event *ev = NULL;
    struct problem err = {0};
    size_t n = 0, i;
    int64_t cursor = bus_sub_cursor(st->sub);

    if (store_events_after(st->sse->store, cursor, SSE_REPLAY_PAGE, &ev, &n,
                           &err) < 0) {
        log_warnx("sse: replay after %lld: %s", (long long)cursor,
                  err.detail);
        problem_clear(&err);
        st->ending = 1;
        return;
    }
    if (n == 0) {
        /* The ring starts past us, yet the store has nothing: the events
         * in between were pruned.  Only a reset is honest. */
        buf_printf(&st->out, "event: reset\ndata: {\"reason\":"
                   "\"retention\"}\n\n");
        st->ending = 1;
        return;
    }
    for (i = 0; i < n; i++)
        if (bus_filter_match(bus_sub_filter(st->sub), ev[i].type,
                             ev[i].agent))
            bus_render(&ev[i], BUS_SSE, &st->out);
    bus_sub_set_cursor(st->sub, ev[n - 1].id);
    store_events_free(ev, n);
}

/*
 * One scratch buffer per MHD thread: a live frame goes from the ring into
 * it and straight on into MHD's buffer, so that a subscriber keeps no
 * buffer of its own between events (st->out holds only what did not fit:
 * the first lines, replays, a frame larger than MHD's room).
 */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *p)
{
    buf_free(p);
    free(p);
}

static void
scratch_init(void)
{
    if (pthread_key_create(&scratch_key, scratch_free) != 0)
        fatalx("sse: cannot create a thread key");
}

static struct buf *
scratch_buf(void)
{
    struct buf *b;

    pthread_once(&scratch_once, scratch_init);
    b = pthread_getspecific(scratch_key);
    if (b == NULL) {
        b = xmalloc(sizeof(*b));
        buf_init(b, LIMIT_BODY_BYTES * 4);
        pthread_setspecific(scratch_key, b);
    } else if (b->size > 64 * 1024) {
        buf_free(b);            /* after a huge frame, give it back */
    }
    buf_reset(b);
    return b;
}

/*
 * MHD content reader.  Returns bytes written, 0 only after the connection
 * was suspended (returning 0 otherwise would spin), or end of stream.
 */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;

    (void)pos;
    for (;;) {
        struct buf *live;
        size_t n = buf_take(&st->out, &st->out_off, buf, max);

        if (n > 0)
            return (ssize_t)n;
        if (st->ending)
            return MHD_CONTENT_READER_END_OF_STREAM;
        live = scratch_buf();
        switch (bus_next(st->sse->bus, st->sub, BUS_SSE, live, park, st)) {
        case BUS_EVENT:
            break;
        case BUS_HEARTBEAT:
            buf_printf(live, ": heartbeat\n\n");
            break;
        case BUS_EMPTY:
            st->replaying = 0;
            return 0;
        case BUS_CLOSED:
            return MHD_CONTENT_READER_END_OF_STREAM;
        case BUS_BEHIND:
            if (st->replaying) {
                replay_step(st);
            } else {
                /* A live subscriber the ring has left behind: cut it
                 * rather than buffer for it. */
                buf_printf(&st->out, "event: reset\ndata: {\"reason\":"
                           "\"too_slow\"}\n\n");
                st->ending = 1;
            }
            break;
        }
        if (live->len > 0) {
            n = live->len < max ? live->len : max;
            memcpy(buf, live->data, n);
            if (n < live->len)
                buf_append(&st->out, live->data + n, live->len - n);
            return (ssize_t)n;
        }
    }
}

static void
stream_free(void *cls)
{
    struct stream *st = cls;

    bus_unsubscribe(st->sse->bus, st->sub);
    __atomic_sub_fetch(&st->sse->subscribers, 1, __ATOMIC_RELAXED);
    buf_free(&st->out);
    free(st);
}

int
sse_start(struct sse *s, struct MHD_Connection *con, const char *types,
          const char *agent, int64_t last_event_id, const char *rid,
          char *detail, size_t detail_len)
{
    struct bus_filter filter;
    struct stream *st;
    struct MHD_Response *resp;
    struct problem err = {0};
    int64_t oldest = 0, newest = 0, head = bus_head(s->bus);
    int64_t after = last_event_id < 0 ? head : last_event_id;
    int reset = 0;

    if (bus_filter_parse(&filter, types, agent) < 0) {
        snprintf(detail, detail_len, "'types' must be a comma list of "
                 "event types, each may end in '*' (task.*)");
        return 400;
    }
    if (__atomic_add_fetch(&s->subscribers, 1, __ATOMIC_RELAXED) >
        s->max_subscribers) {
        __atomic_sub_fetch(&s->subscribers, 1, __ATOMIC_RELAXED);
        bus_filter_free(&filter);
        snprintf(detail, detail_len, "%zu event subscribers already; try "
                 "again later", s->max_subscribers);
        return 503;
    }
    /* A client that asks for events the store no longer has (older than
     * retention), or for ids this store never gave, gets a reset and the
     * live stream from here. */
    if (last_event_id >= 0 && last_event_id < head) {
        if (store_events_bounds(s->store, &oldest, &newest, &err) < 0)
            problem_clear(&err);
        else if (oldest == 0 || last_event_id < oldest - 1)
            reset = 1;
    } else if (last_event_id > head) {
        /* A replay reads committed events that the bus may not have
         * published yet: an id the store has is no reason to reset. */
        if (store_events_bounds(s->store, &oldest, &newest, &err) < 0)
            problem_clear(&err);
        if (last_event_id > newest)
            reset = 1;
    }
    if (reset)
        after = head;

    st = xcalloc(1, sizeof(*st));
    st->sse = s;
    st->con = con;
    buf_init(&st->out, LIMIT_BODY_BYTES * 4);
    st->replaying = after < head;
    buf_printf(&st->out, "retry: %d\n\n", s->retry_ms);
    if (reset)
        buf_printf(&st->out, "id: %lld\nevent: reset\ndata: {\"reason\":"
                   "\"retention\",\"oldest\":%lld}\n\n", (long long)head,
                   (long long)oldest);
    else
        /* A frame with an id and no data dispatches nothing, but sets the
         * client's last event id: a reconnect before the first event
         * resumes from here instead of missing what came meanwhile. */
        buf_printf(&st->out, "id: %lld\n\n", (long long)after);
    st->sub = bus_subscribe(s->bus, &filter, after, wake, st);

    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK,
                                             stream_read, st, stream_free);
    if (resp == NULL) {
        stream_free(st);
        snprintf(detail, detail_len, "cannot create the stream");
        return 503;
    }
    if (sse_queue(con, resp, rid) < 0) {
        snprintf(detail, detail_len, "cannot queue the stream");
        return 503;
    }
    MHD_destroy_response(resp);
    return 0;
}

int
sse_queue(struct MHD_Connection *con, struct MHD_Response *resp,
          const char *rid)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    MHD_add_response_header(resp, "X-Request-Id", rid);
    /* Streams live as long as the client wants: no idle timeout; dead
     * clients are found by the heartbeat's write. */
    MHD_set_connection_option(con, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned int)0);
    if (MHD_queue_response(con, MHD_HTTP_OK, resp) != MHD_YES) {
        MHD_destroy_response(resp);
        return -1;
    }
    return 0;
}
