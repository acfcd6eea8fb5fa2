/*
 * sse_session.c - following a session over Server-Sent Events:
 * GET /api/v1/sessions/{id}/entries?follow=true (or Accept:
 * text/event-stream).  Part of the HTTP transport (it may include
 * microhttpd.h).
 *
 * A stream reads the session's file from its cursor and sends each whole
 * line as an "entry" frame whose id is the byte offset after it, so a
 * reconnect with Last-Event-ID resumes exactly there.  When it has read
 * everything it parks on the session registry (suspending its
 * connection, under the registry's lock, so an append cannot slip in
 * between): the next append, a heartbeat or shutdown resumes it.  When
 * the session ends, the rest of the file is sent, then an "end" frame,
 * and the stream closes.  No thread per stream, no polling.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "limits.h"
#include "session.h"
#include "sse.h"
#include "sse_session.h"
#include "store.h"
#include "util.h"

/* Entries read per step. */
#define FOLLOW_PAGE 256

struct follow {
    struct sessions *ss;
    struct store *store;
    struct MHD_Connection *con;
    int64_t id;
    char *path;
    int64_t offset;             /* next byte to read */
    struct buf out;
    size_t out_off;
    int ending;
    int woken_for;              /* enum session_wake, set by wake */
};

static void
follow_park(void *ctx)
{
    struct follow *f = ctx;

    MHD_suspend_connection(f->con);
}

static void
follow_wake(void *ctx, enum session_wake why)
{
    struct follow *f = ctx;

    __atomic_store_n(&f->woken_for, (int)why, __ATOMIC_RELEASE);
    MHD_resume_connection(f->con);
}

/* Reads what is new into out; the number of entries, or -1 (the file is
 * gone: the stream ends with an error frame). */
static int
follow_step(struct follow *f, int64_t *seen)
{
    json_t *items = json_array();
    struct problem err = {0};
    int64_t next = f->offset;
    size_t i;
    int n;

    if (session_read(f->path, f->offset, FOLLOW_PAGE, items, &next, seen,
                     &err) < 0) {
        buf_printf(&f->out, "event: error\ndata: {\"code\":\"%s\"}\n\n",
                   err.code);
        problem_clear(&err);
        json_decref(items);
        f->ending = 1;
        return -1;
    }
    for (i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        json_t *nitem = json_array_get(items, i + 1);
        int64_t after = nitem != NULL
                            ? json_integer_value(json_object_get(nitem,
                                                                 "offset"))
                            : next;
        char *data = json_dumps(item, JSON_COMPACT);

        /* The frame's id is where the next entry starts: resuming with
         * it as Last-Event-ID (after=) continues after this one. */
        buf_printf(&f->out, "id: %lld\nevent: entry\ndata: %s\n\n",
                   (long long)after, data ? data : "null");
        free(data);
    }
    n = (int)json_array_size(items);
    f->offset = next;
    json_decref(items);
    return n;
}

static void
follow_end_frame(struct follow *f)
{
    json_t *doc = NULL;
    struct problem err = {0};
    char *data = NULL;

    if (store_session_get(f->store, f->id, &doc, NULL, &err) == 0)
        data = json_dumps(doc, JSON_COMPACT);
    problem_clear(&err);
    buf_printf(&f->out, "event: end\ndata: %s\n\n", data ? data : "{}");
    free(data);
    json_decref(doc);
    f->ending = 1;
}

static ssize_t
follow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct follow *f = cls;

    (void)pos;
    for (;;) {
        int64_t seen = 0;
        int woken;
        size_t n = buf_take(&f->out, &f->out_off, buf, max);

        if (n > 0)
            return (ssize_t)n;
        if (f->ending)
            return MHD_CONTENT_READER_END_OF_STREAM;
        woken = __atomic_exchange_n(&f->woken_for, -1, __ATOMIC_ACQUIRE);
        if (woken == SESSION_WAKE_CLOSING) {
            f->ending = 1;
            continue;
        }
        if (follow_step(f, &seen) != 0)
            continue;
        if (woken == SESSION_WAKE_HEARTBEAT) {
            buf_printf(&f->out, ": heartbeat\n\n");
            continue;
        }
        switch (sessions_follow_wait(f->ss, f->id, seen, follow_park,
                                     follow_wake, f)) {
        case SESSION_WAIT_PARKED:
            return 0;
        case SESSION_WAIT_MORE:
            break;
        case SESSION_WAIT_ENDED:
            /* Ended: what it wrote last is in the file now. */
            if (follow_step(f, &seen) == 0)
                follow_end_frame(f);
            break;
        case SESSION_WAIT_CLOSING:
            f->ending = 1;
            break;
        }
    }
}

static void
follow_free(void *cls)
{
    struct follow *f = cls;

    sessions_follow_remove(f->ss);
    buf_free(&f->out);
    free(f->path);
    free(f);
}

int
sse_session_start(struct sessions *ss, struct store *store,
                  struct MHD_Connection *con, int64_t id, int64_t after,
                  const char *rid, struct problem *err)
{
    struct follow *f;
    struct MHD_Response *resp;
    char *path = NULL;

    /* The session and the cursor are checked now, so that a bad one is
     * a problem (404, 400), not a frame. */
    if (sessions_follow_check(ss, id, after, &path, err) < 0)
        return -1;
    if (sessions_follow_add(ss) < 0) {
        free(path);
        return problem_set(err, 503, "too_many_followers",
                           "%d session followers already, or shutting "
                           "down; try again later",
                           LIMIT_SESSION_FOLLOWERS);
    }
    f = xcalloc(1, sizeof(*f));
    f->path = path;
    f->ss = ss;
    f->store = store;
    f->con = con;
    f->id = id;
    f->offset = after;
    f->woken_for = -1;
    buf_init(&f->out, LIMIT_BODY_BYTES * 8);
    buf_printf(&f->out, "retry: 2000\n\n");
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024,
                                             follow_read, f, follow_free);
    if (resp == NULL) {
        follow_free(f);
        return problem_set(err, 503, "stream_failed",
                           "cannot create the stream");
    }
    if (sse_queue(con, resp, rid) < 0)
        return problem_set(err, 503, "stream_failed",
                           "cannot queue the stream");
    MHD_destroy_response(resp);
    return 0;
}
