/*
 * bus.c - ring of rendered events, cursors, park and wake.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

struct ring_slot {
    int64_t id;
    char *type;
    char *agent;                /* NULL when none */
    char *sse;                  /* "id: ..\nevent: ..\ndata: ..\n\n" */
    size_t sse_len;
    char *line;                 /* JSON document + "\n": points into sse */
    size_t line_len;
};

struct bus_sub {
    struct bus_filter filter;
    int64_t cursor;
    unsigned heartbeat_seen;
    void (*wake)(void *ctx);
    void *ctx;
    int parked;
    size_t park_slot;           /* its index in bus.parked while parked */
    int refs;                   /* wakers holding it (see take_parked) */
    int dead;                   /* unsubscribed; the last waker frees */
    struct bus_sub *prev, *next;    /* all subscribers */
};

struct bus {
    pthread_mutex_t lock;
    pthread_cond_t unref;       /* a waker let go of its subscribers */
    struct ring_slot *ring;
    size_t size;                /* slots */
    size_t start;               /* index of the oldest event */
    size_t count;               /* events in the ring */
    int64_t floor;              /* every event with id > floor is here */
    int64_t head;               /* newest id */
    unsigned heartbeat;         /* epoch, bumped by bus_heartbeat */
    int closed;
    struct bus_sub *subs;
    size_t nsubs;
    /*
     * The parked subscribers, an array (not a list): parking appends,
     * unsubscribing a parked one swaps the last into its slot (O(1): a
     * list made 10,000 departures cost 1.4 s of CPU under this lock), and
     * a publish takes the whole array in one swap and walks it in order
     * (a list walk is one dependent cache miss after another).
     */
    struct bus_sub **parked;
    size_t nparked, parked_size;
    struct bus_sub **spare;     /* a taken array given back, for reuse */
    size_t spare_size;
};

struct bus *
bus_new(size_t ring_size, int64_t head)
{
    struct bus *b = xcalloc(1, sizeof(*b));

    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->unref, NULL);
    b->size = ring_size ? ring_size : 1;
    b->ring = xcalloc(b->size, sizeof(*b->ring));
    b->floor = head;
    b->head = head;
    return b;
}

static void
slot_clear(struct ring_slot *slot)
{
    free(slot->type);
    free(slot->agent);
    free(slot->sse);
    memset(slot, 0, sizeof(*slot));
}

void
bus_free(struct bus *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < b->size; i++)
        slot_clear(&b->ring[i]);
    free(b->ring);
    free(b->parked);
    free(b->spare);
    pthread_cond_destroy(&b->unref);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static json_t *
event_doc(const struct store_event *ev)
{
    char when[UTIL_TIME_LEN];

    util_format_time(ev->time, when);
    return json_pack("{s:I, s:s, s:s, s:s, s:s?, s:O}", "id",
                     (json_int_t)ev->id, "time", when, "type", ev->type,
                     "subject", ev->subject, "agent", ev->agent, "data",
                     ev->data);
}

void
bus_render(const struct store_event *ev, enum bus_format format,
           struct buf *out)
{
    json_t *doc = event_doc(ev);
    char *text = json_dumps(doc, JSON_COMPACT);

    /* jansson escapes newlines inside strings, so one data: line holds
     * the whole document. */
    if (format == BUS_SSE)
        buf_printf(out, "id: %lld\nevent: %s\ndata: %s\n\n",
                   (long long)ev->id, ev->type, text);
    else
        buf_printf(out, "%s\n", text);
    free(text);
    json_decref(doc);
}

int
bus_filter_parse(struct bus_filter *f, const char *types, const char *agent)
{
    const char *p = types;
    size_t n = 0;

    memset(f, 0, sizeof(*f));
    if (agent != NULL)
        f->agent = xstrdup(agent);
    if (types == NULL)
        return 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t i;

        if (len == 0 || len > 64)
            goto fail;
        for (i = 0; i < len; i++) {
            char ch = p[i];

            if (!((ch >= 'a' && ch <= 'z') || ch == '.' || ch == '_' ||
                  (ch == '*' && i == len - 1)))
                goto fail;
        }
        f->types = xrealloc(f->types, (n + 2) * sizeof(*f->types));
        f->types[n++] = xstrndup(p, len);
        f->types[n] = NULL;
        if (comma == NULL)
            break;
        p = comma + 1;
        if (*p == '\0')
            goto fail;
    }
    return 0;
fail:
    bus_filter_free(f);
    return -1;
}

void
bus_filter_free(struct bus_filter *f)
{
    size_t i;

    for (i = 0; f->types != NULL && f->types[i] != NULL; i++)
        free(f->types[i]);
    free(f->types);
    free(f->agent);
    memset(f, 0, sizeof(*f));
}

int
bus_filter_match(const struct bus_filter *f, const char *type,
                 const char *agent)
{
    size_t i;

    if (f->agent != NULL && (agent == NULL || strcmp(f->agent, agent) != 0))
        return 0;
    if (f->types == NULL)
        return 1;
    for (i = 0; f->types[i] != NULL; i++) {
        const char *pat = f->types[i];
        size_t len = strlen(pat);

        if (pat[len - 1] == '*') {
            if (strncmp(pat, type, len - 1) == 0)
                return 1;
        } else if (strcmp(pat, type) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Takes the parked subscribers (under the lock) into an array, holding a
 * reference on each so that none is freed before wake_all has called it:
 * the wake calls (MHD_resume_connection for SSE) then run outside the
 * lock, where they cost the readers nothing.
 */
struct wake_list {
    struct bus_sub **subs;
    size_t n, size;
};

/* Subscribers a loop over an array touches ahead of time: each is a cache
 * miss, and these overlap. */
#define BUS_PREFETCH 8

static struct wake_list
take_parked(struct bus *b)
{
    struct wake_list w = {NULL, 0, 0};
    size_t i;

    if (b->nparked == 0)
        return w;
    w.subs = b->parked;
    w.n = b->nparked;
    w.size = b->parked_size;
    b->parked = b->spare;
    b->parked_size = b->spare_size;
    b->nparked = 0;
    b->spare = NULL;
    b->spare_size = 0;
    for (i = 0; i < w.n; i++) {
        struct bus_sub *s = w.subs[i];

        if (i + BUS_PREFETCH < w.n)
            __builtin_prefetch(w.subs[i + BUS_PREFETCH], 1);
        s->parked = 0;
        s->refs++;
    }
    return w;
}

static void
sub_free(struct bus_sub *sub)
{
    bus_filter_free(&sub->filter);
    free(sub);
}

static void
wake_all(struct bus *b, struct wake_list w)
{
    size_t i, ndead = 0;

    if (w.n == 0)
        return;
    for (i = 0; i < w.n; i++) {
        if (i + BUS_PREFETCH < w.n)
            __builtin_prefetch(w.subs[i + BUS_PREFETCH], 0);
        w.subs[i]->wake(w.subs[i]->ctx);
    }
    pthread_mutex_lock(&b->lock);
    for (i = 0; i < w.n; i++) {
        struct bus_sub *s = w.subs[i];

        if (i + BUS_PREFETCH < w.n)
            __builtin_prefetch(w.subs[i + BUS_PREFETCH], 1);
        s->refs--;
        if (s->dead && s->refs == 0) {
            s->dead = 2;        /* ours to free, below */
            w.subs[ndead++] = s;
        }
    }
    pthread_cond_broadcast(&b->unref);
    if (b->spare == NULL && ndead == 0) {
        /* keep the array for the next take (no allocation per publish) */
        b->spare = w.subs;
        b->spare_size = w.size;
        w.subs = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    for (i = 0; i < ndead; i++)
        sub_free(w.subs[i]);
    free(w.subs);
}

void
bus_publish(void *ctx, const struct store_event *ev, size_t n)
{
    struct bus *b = ctx;
    struct ring_slot *fresh = xcalloc(n ? n : 1, sizeof(*fresh));
    struct wake_list wake;
    size_t i;

    /*
     * Render outside the lock, once: this runs on the store's writer
     * thread, so it is paid by every write.  The JSON line is a tail of
     * the SSE frame ("id: ..\nevent: ..\ndata: <json>\n\n"), so one
     * document dump serves both formats.
     */
    for (i = 0; i < n; i++) {
        struct buf sse;
        size_t head;

        buf_init(&sse, SIZE_MAX / 2);
        buf_printf(&sse, "id: %lld\nevent: %s\ndata: ", (long long)ev[i].id,
                   ev[i].type);
        head = sse.len;
        bus_render(&ev[i], BUS_JSON_LINE, &sse);
        buf_append(&sse, "\n", 1);
        fresh[i].id = ev[i].id;
        fresh[i].type = xstrdup(ev[i].type);
        fresh[i].agent = ev[i].agent ? xstrdup(ev[i].agent) : NULL;
        fresh[i].sse = sse.data;
        fresh[i].sse_len = sse.len;
        fresh[i].line = sse.data + head;
        fresh[i].line_len = sse.len - head - 1;
    }
    pthread_mutex_lock(&b->lock);
    for (i = 0; i < n; i++) {
        size_t at;

        if (b->count == b->size) {
            /* Evict the oldest: from now on a cursor below it is behind. */
            b->floor = b->ring[b->start].id;
            slot_clear(&b->ring[b->start]);
            b->start = (b->start + 1) % b->size;
            b->count--;
        }
        at = (b->start + b->count) % b->size;
        b->ring[at] = fresh[i];
        b->count++;
        b->head = fresh[i].id;
    }
    wake = take_parked(b);
    pthread_mutex_unlock(&b->lock);
    free(fresh);
    wake_all(b, wake);
}

struct bus_sub *
bus_subscribe(struct bus *b, struct bus_filter *filter, int64_t after,
              void (*wake)(void *ctx), void *ctx)
{
    struct bus_sub *sub = xcalloc(1, sizeof(*sub));

    sub->filter = *filter;
    memset(filter, 0, sizeof(*filter));
    sub->cursor = after;
    sub->wake = wake;
    sub->ctx = ctx;
    pthread_mutex_lock(&b->lock);
    sub->heartbeat_seen = b->heartbeat;
    sub->next = b->subs;
    if (b->subs)
        b->subs->prev = sub;
    b->subs = sub;
    b->nsubs++;
    pthread_mutex_unlock(&b->lock);
    return sub;
}

/* Unlinks sub; returns 1 when the caller may free it now. */
static int
unlink_sub(struct bus *b, struct bus_sub *sub, int wait)
{
    int mine;

    if (sub->parked) {
        struct bus_sub *last = b->parked[--b->nparked];

        b->parked[sub->park_slot] = last;
        last->park_slot = sub->park_slot;
        sub->parked = 0;
    }
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        b->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    b->nsubs--;
    while (wait && sub->refs > 0)
        pthread_cond_wait(&b->unref, &b->lock);
    mine = sub->refs == 0;
    if (!mine)
        sub->dead = 1;
    return mine;
}

void
bus_unsubscribe(struct bus *b, struct bus_sub *sub)
{
    int mine;

    if (sub == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    mine = unlink_sub(b, sub, 0);
    pthread_mutex_unlock(&b->lock);
    if (mine)
        sub_free(sub);
}

void
bus_unsubscribe_wait(struct bus *b, struct bus_sub *sub)
{
    if (sub == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    unlink_sub(b, sub, 1);
    pthread_mutex_unlock(&b->lock);
    sub_free(sub);
}

/* Index of the first ring slot with id > cursor, or count if none. */
static size_t
ring_find(const struct bus *b, int64_t cursor)
{
    size_t lo = 0, hi = b->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (b->ring[(b->start + mid) % b->size].id <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum bus_next_result
bus_next(struct bus *b, struct bus_sub *sub, enum bus_format format,
         struct buf *out, void (*park)(void *ctx), void *park_ctx)
{
    enum bus_next_result res;
    size_t i;

    pthread_mutex_lock(&b->lock);
    if (b->closed) {
        res = BUS_CLOSED;
        goto out;
    }
    if (sub->cursor < b->floor) {
        res = BUS_BEHIND;
        goto out;
    }
    for (i = ring_find(b, sub->cursor); i < b->count; i++) {
        const struct ring_slot *slot = &b->ring[(b->start + i) % b->size];

        sub->cursor = slot->id;
        if (!bus_filter_match(&sub->filter, slot->type, slot->agent))
            continue;
        if (format == BUS_SSE)
            buf_append(out, slot->sse, slot->sse_len);
        else
            buf_append(out, slot->line, slot->line_len);
        res = BUS_EVENT;
        goto out;
    }
    if (sub->heartbeat_seen != b->heartbeat) {
        sub->heartbeat_seen = b->heartbeat;
        res = BUS_HEARTBEAT;
        goto out;
    }
    if (b->nparked == b->parked_size) {
        b->parked_size = b->parked_size ? b->parked_size * 2 : 64;
        b->parked = xrealloc(b->parked,
                             b->parked_size * sizeof(*b->parked));
    }
    sub->parked = 1;
    sub->park_slot = b->nparked;
    b->parked[b->nparked++] = sub;
    park(park_ctx);
    res = BUS_EMPTY;
out:
    pthread_mutex_unlock(&b->lock);
    return res;
}

int64_t
bus_sub_cursor(const struct bus_sub *sub)
{
    return sub->cursor;
}

void
bus_sub_set_cursor(struct bus_sub *sub, int64_t id)
{
    sub->cursor = id;
}

const struct bus_filter *
bus_sub_filter(const struct bus_sub *sub)
{
    return &sub->filter;
}

int64_t
bus_head(struct bus *b)
{
    int64_t head;

    pthread_mutex_lock(&b->lock);
    head = b->head;
    pthread_mutex_unlock(&b->lock);
    return head;
}

void
bus_heartbeat(struct bus *b)
{
    struct wake_list wake;

    pthread_mutex_lock(&b->lock);
    b->heartbeat++;
    wake = take_parked(b);
    pthread_mutex_unlock(&b->lock);
    wake_all(b, wake);
}

void
bus_close(struct bus *b)
{
    struct wake_list wake;

    pthread_mutex_lock(&b->lock);
    b->closed = 1;
    wake = take_parked(b);
    pthread_mutex_unlock(&b->lock);
    wake_all(b, wake);
}

size_t
bus_subscribers(struct bus *b)
{
    size_t n;

    pthread_mutex_lock(&b->lock);
    n = b->nsubs;
    pthread_mutex_unlock(&b->lock);
    return n;
}
