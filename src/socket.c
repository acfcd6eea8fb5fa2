/*
 * socket.c - the Unix-socket transport: an adapter over the operations
 * table, like http.c, speaking newline-delimited JSON (the protocol
 * itself, framing and answers, is in socket_proto.c).
 *
 * One thread accepts, checks the peer's credentials and hands the
 * connection to a pool of worker threads; a worker serves one connection
 * at a time, reading lines and answering each in order (or, after
 * events.subscribe, following the event bus until the client closes: see
 * serve_stream).  Workers are created on demand up to
 * LIMIT_SOCKET_CLIENTS and then kept: the store gives every thread its
 * own reader connection for the life of the daemon, so a thread per
 * connection would leave one behind per client.
 * docs/internals/socket.md explains the choices.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "app.h"
#include "bus.h"
#include "limits.h"
#include "log.h"
#include "ops.h"
#include "session.h"
#include "socket.h"
#include "store.h"
#include "util.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0          /* SIGPIPE is ignored by colibrid anyway */
#endif

/* An answer that makes no progress for this long drops the connection
 * (the client does not read); during shutdown the grace is shorter. */
#define SOCKET_WRITE_TIMEOUT_US (30 * 1000000LL)
#define SOCKET_STOP_GRACE_US    (1 * 1000000LL)
#define SOCKET_READ_CHUNK       16384
#define SOCKET_MAX_GROUPS       256
/* Event streams: events read from the store per replay step, and the
 * bytes gathered before a write. */
#define STREAM_REPLAY_PAGE      256
#define STREAM_FLUSH_BYTES      (64 * 1024)

struct peer {
    int fd;
    long uid, gid, pid;         /* pid -1 when the system does not say */
    unsigned long id;           /* connection number, for the log */
};

struct socket_server {
    struct app *app;
    char *path;
    dev_t dev;                  /* of the socket file we bound */
    ino_t ino;
    int listen_fd;
    int stop_pipe[2];           /* readable once stopping */
    int stopping;               /* atomic */
    int have_group;
    gid_t gid;
    char *group;
    struct bus *bus;            /* borrowed; NULL: no event streams */

    pthread_t acceptor;
    int acceptor_started;

    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t cond;        /* a connection is queued, or stopping */
    struct peer queue[LIMIT_SOCKET_CLIENTS];
    size_t qhead, qlen;
    int active;                 /* queued + being served */
    int nthreads;
    pthread_t threads[LIMIT_SOCKET_CLIENTS];
    unsigned long next_id;
    int subscribers;            /* connections that are event streams */
};

/* What a worker needs while it feeds lines of one connection. */
struct conn {
    struct socket_server *s;
    struct peer *peer;
    unsigned long requests;
    int eof;                    /* the client will send nothing more */
};

static void *accept_main(void *arg);
static void *worker_main(void *arg);

static int
stopping(const struct socket_server *s)
{
    return __atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST);
}

/* --- connections ----------------------------------------------------- */

/*
 * Writes all of data.  The connection is non-blocking: a client that
 * stops reading while it keeps sending would otherwise hold a worker (and
 * shutdown) forever.  No progress for SOCKET_WRITE_TIMEOUT_US, or for
 * SOCKET_STOP_GRACE_US once stopping, drops the connection.
 */
static int
write_all(struct conn *c, const char *data, size_t len)
{
    int64_t deadline = util_mono_us() + SOCKET_WRITE_TIMEOUT_US;
    int64_t stop_deadline = 0;

    while (len > 0) {
        ssize_t n = send(c->peer->fd, data, len, MSG_NOSIGNAL);
        struct pollfd pfd;
        int64_t now;

        if (n > 0) {
            data += n;
            len -= (size_t)n;
            deadline = util_mono_us() + SOCKET_WRITE_TIMEOUT_US;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        now = util_mono_us();
        if (stopping(c->s)) {
            if (stop_deadline == 0)
                stop_deadline = now + SOCKET_STOP_GRACE_US;
            if (now > stop_deadline)
                return -1;
        }
        if (now > deadline) {
            log_warnx("socket: connection %lu (uid %ld) reads no answers; "
                      "closing it", c->peer->id, c->peer->uid);
            return -1;
        }
        pfd.fd = c->peer->fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        poll(&pfd, 1, 100);
    }
    return 0;
}

static int serve_stream(struct conn *c,
                        const struct socket_stream_request *req);
static int serve_follow(struct conn *c,
                        const struct socket_stream_request *req);

static int
on_line(void *ctx, enum socket_line_kind kind, const char *line, size_t len)
{
    struct conn *c = ctx;
    struct socket_stream_request stream;
    char rid[48], *answer;
    size_t alen = 0;
    int rc = 0;

    c->requests++;
    if (kind == SOCKET_LINE_TOO_LONG) {
        answer = socket_error_line(413, "line_too_long", &alen,
                                   "the request line is longer than %d "
                                   "bytes; the rest of it is discarded",
                                   LIMIT_SOCKET_LINE);
    } else {
        snprintf(rid, sizeof(rid), "socket-%lu-%lu", c->peer->id,
                 c->requests);
        answer = socket_answer_stream(c->s->app, line, len, rid, &alen,
                                      &stream);
        if (stream.op != NULL) {
            /* The connection becomes a stream; when it ends, so does
             * the connection.  A refused subscription keeps it. */
            rc = serve_stream(c, &stream);
            socket_stream_request_clear(&stream);
            return rc < 0 || stopping(c->s) ? -1 : 0;
        }
    }
    if (answer != NULL) {
        rc = write_all(c, answer, alen);
        free(answer);
    }
    /* Finish the request in progress, then stop when asked to. */
    return rc < 0 || stopping(c->s) ? -1 : 0;
}

/* --- event streams (events.subscribe) ------------------------------ */

/*
 * A subscription holds its worker for as long as it lasts: the worker
 * writes what the bus has, then waits in poll() on the client, a wake
 * pipe of its own and the stop pipe.  The bus parks the subscription
 * under its lock (nothing to do here: the pipe is the parking place) and
 * a publish writes a byte to the pipe, outside the lock.  Nothing is
 * buffered per subscriber beyond the bytes of one write: a client that
 * reads too slowly falls behind the ring and is cut with a reset.
 */
struct stream {
    struct conn *c;
    struct bus_sub *sub;
    int wake_pipe[2];
    struct buf out;             /* lines not yet written */
    int replaying;              /* catching up from the store */
    int ending;                 /* write out, then end the stream */
};

static void
stream_park(void *ctx)
{
    (void)ctx;                  /* the worker waits on its pipe */
}

static void
stream_wake(void *ctx)
{
    struct stream *st = ctx;
    char one = 1;

    /* Non-blocking: a full pipe already says "wake up". */
    while (write(st->wake_pipe[1], &one, 1) < 0 && errno == EINTR)
        ;
}

static int
stream_flush(struct stream *st)
{
    int rc = 0;

    if (st->out.len > 0)
        rc = write_all(st->c, st->out.data, st->out.len);
    buf_reset(&st->out);
    return rc;
}

/*
 * One wait of a streaming connection (events.subscribe, a followed
 * session): for the client, shutdown, and wake_fd (-1: none), at most ms
 * (-1: no limit).  What the client sends is read and ignored; its end of
 * input (shutdown(SHUT_WR), as `nc -N` does) does not end the stream, its
 * closing the connection does.  -1: the stream ends (the client is gone,
 * or the daemon stops); 1: wake_fd was written (and is drained); 0:
 * anything else (time is up, input was read, a signal).
 */
static int
peer_wait(struct conn *c, int wake_fd, int ms)
{
    struct pollfd pfd[3];
    char sink[4096];
    ssize_t n;

    pfd[0].fd = c->peer->fd;
    pfd[0].events = c->eof ? 0 : POLLIN;
    pfd[1].fd = c->s->stop_pipe[0];
    pfd[1].events = POLLIN;
    pfd[2].fd = wake_fd;
    pfd[2].events = POLLIN;
    pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
    if (poll(pfd, wake_fd >= 0 ? 3 : 2, ms) < 0)
        return errno == EINTR ? 0 : -1;
    if (pfd[1].revents != 0 || stopping(c->s))
        return -1;
    if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
        return -1;
    if (pfd[0].revents & POLLIN) {
        n = read(c->peer->fd, sink, sizeof(sink));
        if (n == 0)
            c->eof = 1;
        else if (n < 0 && errno != EINTR && errno != EAGAIN &&
                 errno != EWOULDBLOCK)
            return -1;
    }
    if (wake_fd >= 0 && pfd[2].revents != 0) {
        while (read(wake_fd, sink, sizeof(sink)) > 0)
            ;
        return 1;
    }
    return 0;
}

/* Waits for a wake, the client or shutdown.  0: look at the bus again;
 * -1: the stream ends. */
static int
stream_wait(struct stream *st)
{
    int rc;

    while ((rc = peer_wait(st->c, st->wake_pipe[0], -1)) == 0)
        ;
    return rc < 0 ? -1 : 0;
}

/* Catches up from the store: one page of events after the cursor, with
 * the subscription's filter (the rules of sse.c's replay). */
static int
stream_replay_step(struct stream *st)
{
    struct app *app = st->c->s->app;
    struct store_event *ev = NULL;
    struct problem err = {0};
    size_t n = 0, i;
    int64_t cursor = bus_sub_cursor(st->sub);
    int rc = 0;

    if (store_events_after(app->store, cursor, STREAM_REPLAY_PAGE, &ev, &n,
                           &err) < 0) {
        log_warnx("socket: connection %lu: replay after %lld: %s",
                  st->c->peer->id, (long long)cursor, err.detail);
        problem_clear(&err);
        st->ending = 1;
        return 0;
    }
    if (n == 0) {
        /* The ring starts past us, yet the store has nothing: the
         * events in between were pruned.  Only a reset is honest. */
        buf_printf(&st->out, "{\"event\":\"reset\",\"reason\":"
                   "\"retention\"}\n");
        st->ending = 1;
        return 0;
    }
    for (i = 0; i < n && rc == 0; i++) {
        if (bus_filter_match(bus_sub_filter(st->sub), ev[i].type,
                             ev[i].agent))
            bus_render(&ev[i], BUS_JSON_LINE, &st->out);
        if (st->out.len >= STREAM_FLUSH_BYTES)
            rc = stream_flush(st);
    }
    if (rc == 0)
        bus_sub_set_cursor(st->sub, ev[n - 1].id);
    store_events_free(ev, n);
    return rc;
}

/* Follows the bus until the stream ends; always -1 (the connection
 * closes after a stream). */
static int
stream_run(struct stream *st)
{
    struct bus *bus = st->c->s->bus;

    for (;;) {
        if (stopping(st->c->s))
            return -1;
        if (st->ending) {
            stream_flush(st);
            return -1;
        }
        if (st->out.len >= STREAM_FLUSH_BYTES && stream_flush(st) < 0)
            return -1;
        switch (bus_next(bus, st->sub, BUS_JSON_LINE, &st->out, stream_park,
                         st)) {
        case BUS_EVENT:
            break;
        case BUS_HEARTBEAT:
            buf_printf(&st->out, "{\"event\":\"heartbeat\"}\n");
            break;
        case BUS_BEHIND:
            if (st->replaying) {
                if (stream_replay_step(st) < 0)
                    return -1;
            } else {
                /* A live subscriber the ring has left behind: cut it
                 * rather than buffer for it.  It may resume from the
                 * last id it got (a replay from the store). */
                buf_printf(&st->out, "{\"event\":\"reset\",\"reason\":"
                           "\"too_slow\"}\n");
                st->ending = 1;
            }
            break;
        case BUS_CLOSED:
            stream_flush(st);
            return -1;
        case BUS_EMPTY:
            /* Parked: write what there is, then sleep until a publish,
             * a heartbeat or the end. */
            st->replaying = 0;
            if (stream_flush(st) < 0 || stream_wait(st) < 0)
                return -1;
            break;
        }
    }
}

/* Writes a refusal for the subscription request; 0 when written. */
static int
stream_refuse(struct conn *c, json_t *id, int status, const char *code,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
stream_refuse(struct conn *c, json_t *id, int status, const char *code,
              const char *fmt, ...)
{
    struct problem p = {0};
    va_list ap;
    size_t len;
    char *line;
    int rc;

    p.status = status;
    p.code = code;
    va_start(ap, fmt);
    vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
    va_end(ap);
    line = socket_answer_line(id, NULL, &p, &len);
    problem_clear(&p);
    rc = write_all(c, line, len);
    free(line);
    return rc;
}

/* --- following a session (session.entries with follow) -------------- */

static int
follow_emit(void *ctx, const char *text, size_t len)
{
    return write_all(ctx, text, len);
}

/* Waits up to ms for the client to go or the daemon to stop: -1 then,
 * else 0.  What the client sends is read and ignored. */
static int
follow_idle(void *ctx, int ms)
{
    return peer_wait(ctx, -1, ms) < 0 ? -1 : 0;
}

/*
 * session.entries with follow=true: the answer line ({"following":true,
 * "after":N}), then the session's entries as JSON lines as they are
 * written, then an end line (sessions_follow_run).  Counts as one of the
 * socket's streams.  0: refused (the connection goes on); -1: it ran.
 */
static int
serve_follow(struct conn *c, const struct socket_stream_request *req)
{
    struct socket_server *s = c->s;
    struct problem err = {0};
    const char *after_s = json_string_value(json_object_get(req->args,
                                                            "after"));
    int64_t id = json_integer_value(json_object_get(req->args, "id"));
    long long after = 0;
    char *path = NULL, *line;
    size_t len;
    int full, rc;

    if (s->app->sessions == NULL)
        return stream_refuse(c, req->id, 503, "sessions_unavailable",
                             "session logs are not enabled");
    if (after_s != NULL && util_parse_ll(after_s, 0, INT64_MAX, &after) < 0)
        return stream_refuse(c, req->id, 400, "invalid_cursor",
                             "'after' must be the 'next' of a previous "
                             "page");
    if (sessions_follow_check(s->app->sessions, id, after, &path,
                              &err) < 0) {
        rc = stream_refuse(c, req->id, err.status, err.code, "%s",
                           err.detail);
        problem_clear(&err);
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    full = s->subscribers >= LIMIT_SOCKET_SUBSCRIBERS;
    if (!full)
        s->subscribers++;
    pthread_mutex_unlock(&s->lock);
    if (full) {
        free(path);
        return stream_refuse(c, req->id, 503, "too_many_subscribers",
                             "%d socket connections are streams already; "
                             "try again later", LIMIT_SOCKET_SUBSCRIBERS);
    }
    line = socket_answer_line(req->id, json_pack("{s:b, s:I}", "following",
                                                 1, "after",
                                                 (json_int_t)after),
                              NULL, &len);
    if (write_all(c, line, len) == 0)
        sessions_follow_run(s->app->sessions, id, path, after, follow_emit,
                            follow_idle, c);
    free(line);
    free(path);
    pthread_mutex_lock(&s->lock);
    s->subscribers--;
    pthread_mutex_unlock(&s->lock);
    return -1;
}

/*
 * events.subscribe: the answer line, then the events, one JSON line each
 * (the bus's rendering), with the filters and resume rules of the SSE
 * stream (sse.c): replay from the store after last_event_id, a reset
 * line when that is older than retention (or newer than any event), a
 * heartbeat line when the bus says one is due.  0: refused (the
 * connection goes on); -1: the stream ran and ended.
 */
static int
serve_stream(struct conn *c, const struct socket_stream_request *req)
{
    struct socket_server *s = c->s;
    struct bus_filter filter;
    struct problem err = {0};
    struct stream st;
    json_t *last_v = json_object_get(req->args, "last_event_id");
    int64_t last = json_is_integer(last_v) ? json_integer_value(last_v) : -1;
    int64_t head, after, oldest = 0, newest = 0;
    char *line;
    size_t len;
    int reset = 0, full;

    if (req->op->flags & OP_FOLLOW)
        return serve_follow(c, req);
    if (strcmp(req->op->name, "events.subscribe") != 0)
        return stream_refuse(c, req->id, 501, "stream_unsupported",
                             "%s answers with a stream this socket does "
                             "not serve", req->op->name);
    if (s->bus == NULL)
        return stream_refuse(c, req->id, 503, "streams_unavailable",
                             "event streams are not enabled");
    if (bus_filter_parse(&filter, json_string_value(json_object_get(
                                      req->args, "types")),
                         json_string_value(json_object_get(req->args,
                                                           "agent"))) < 0)
        return stream_refuse(c, req->id, 400, "invalid_argument",
                             "'types' must be a comma list of event types, "
                             "each may end in '*' (task.*)");
    pthread_mutex_lock(&s->lock);
    full = s->subscribers >= LIMIT_SOCKET_SUBSCRIBERS;
    if (!full)
        s->subscribers++;
    pthread_mutex_unlock(&s->lock);
    if (full) {
        bus_filter_free(&filter);
        log_warnx("socket: %d event streams open; refused connection %lu",
                  LIMIT_SOCKET_SUBSCRIBERS, c->peer->id);
        return stream_refuse(c, req->id, 503, "too_many_subscribers",
                             "%d socket connections are event streams "
                             "already (the rest are kept for requests); "
                             "try again later", LIMIT_SOCKET_SUBSCRIBERS);
    }

    /* Where to start: the same rules as sse_start(). */
    head = bus_head(s->bus);
    after = last < 0 ? head : last;
    if (last >= 0 && last < head) {
        if (store_events_bounds(s->app->store, &oldest, &newest, &err) < 0)
            problem_clear(&err);
        else if (oldest == 0 || last < oldest - 1)
            reset = 1;
    } else if (last > head) {
        /* A replay reads committed events that the bus may not have
         * published yet: an id the store has is no reason to reset. */
        if (store_events_bounds(s->app->store, &oldest, &newest, &err) < 0)
            problem_clear(&err);
        if (last > newest)
            reset = 1;
    }
    if (reset)
        after = head;

    memset(&st, 0, sizeof(st));
    st.c = c;
    st.replaying = after < head;
    buf_init(&st.out, SIZE_MAX / 2);
    if (pipe2(st.wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        log_warn("socket: pipe");
        bus_filter_free(&filter);
        pthread_mutex_lock(&s->lock);
        s->subscribers--;
        pthread_mutex_unlock(&s->lock);
        return stream_refuse(c, req->id, 503, "streams_unavailable",
                             "the daemon cannot start a stream now");
    }
    st.sub = bus_subscribe(s->bus, &filter, after, stream_wake, &st);
    line = socket_answer_line(req->id, json_pack("{s:b, s:I}", "subscribed",
                                                 1, "after",
                                                 (json_int_t)after),
                              NULL, &len);
    buf_append(&st.out, line, len);
    free(line);
    if (reset)
        buf_printf(&st.out, "{\"event\":\"reset\",\"reason\":\"retention\","
                   "\"oldest\":%lld,\"after\":%lld}\n", (long long)oldest,
                   (long long)after);
    log_debug("socket: connection %lu subscribed after %lld", c->peer->id,
              (long long)after);
    if (stream_flush(&st) == 0)
        stream_run(&st);
    bus_unsubscribe_wait(s->bus, st.sub);
    close(st.wake_pipe[0]);
    close(st.wake_pipe[1]);
    buf_free(&st.out);
    pthread_mutex_lock(&s->lock);
    s->subscribers--;
    pthread_mutex_unlock(&s->lock);
    log_debug("socket: connection %lu: event stream ended", c->peer->id);
    return -1;
}

static void
serve(struct socket_server *s, struct peer *peer)
{
    struct socket_lines lines;
    struct conn c = {s, peer, 0, 0};
    char chunk[SOCKET_READ_CHUNK];

    socket_lines_init(&lines, LIMIT_SOCKET_LINE);
    log_debug("socket: connection %lu from uid %ld pid %ld", peer->id,
              peer->uid, peer->pid);
    while (!stopping(s)) {
        struct pollfd pfd[2];
        ssize_t n;

        pfd[0].fd = peer->fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = s->stop_pipe[0];
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents != 0)
            break;
        n = read(peer->fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN ||
                      errno == EWOULDBLOCK))
            continue;
        if (n <= 0) {
            /* End of input (or an error): a last line without its
             * newline still counts (printf '...' | nc -U). */
            if (n == 0) {
                c.eof = 1;
                socket_lines_finish(&lines, on_line, &c);
            }
            break;
        }
        if (socket_lines_feed(&lines, chunk, (size_t)n, on_line, &c) < 0)
            break;
    }
    socket_lines_free(&lines);
    log_debug("socket: connection %lu closed after %lu requests", peer->id,
              c.requests);
}

static void *
worker_main(void *arg)
{
    struct socket_server *s = arg;
    struct peer peer;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->qlen == 0 && !stopping(s))
            pthread_cond_wait(&s->cond, &s->lock);
        if (s->qlen == 0)
            break;
        peer = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % LIMIT_SOCKET_CLIENTS;
        s->qlen--;
        pthread_mutex_unlock(&s->lock);
        serve(s, &peer);
        close(peer.fd);
        pthread_mutex_lock(&s->lock);
        s->active--;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- admission ------------------------------------------------------- */

static int
peer_credentials(int fd, struct peer *p)
{
#if defined(__linux__) && defined(SO_PEERCRED)
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    p->uid = (long)cred.uid;
    p->gid = (long)cred.gid;
    p->pid = (long)cred.pid;
    return 0;
#elif defined(HAVE_GETPEEREID)
    uid_t uid;
    gid_t gid;

    if (getpeereid(fd, &uid, &gid) < 0)
        return -1;
    p->uid = (long)uid;
    p->gid = (long)gid;
    p->pid = -1;
    return 0;
#else
#error "no way to learn the credentials of a Unix socket peer here"
#endif
}

/* True when the peer's user is a member of s->gid: the kernel's list of
 * the process's groups where it gives one, else the group database. */
static int
peer_in_group(const struct socket_server *s, const struct peer *p)
{
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char buf[16384], gbuf[16384];
    size_t i;

    if ((gid_t)p->gid == s->gid)
        return 1;
#if defined(__linux__) && defined(SO_PEERGROUPS)
    {
        gid_t groups[SOCKET_MAX_GROUPS];
        socklen_t len = sizeof(groups);

        if (getsockopt(p->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) ==
            0) {
            for (i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == s->gid)
                    return 1;
            return 0;
        }
    }
#endif
    if (getpwuid_r((uid_t)p->uid, &pw, buf, sizeof(buf), &pwp) != 0 ||
        pwp == NULL)
        return 0;
    if (getgrgid_r(s->gid, &gr, gbuf, sizeof(gbuf), &grp) != 0 ||
        grp == NULL)
        return 0;
    for (i = 0; gr.gr_mem != NULL && gr.gr_mem[i] != NULL; i++)
        if (!strcmp(gr.gr_mem[i], pw.pw_name))
            return 1;
    return 0;
}

static int
peer_allowed(const struct socket_server *s, const struct peer *p)
{
    if (p->uid == 0 || (uid_t)p->uid == geteuid())
        return 1;
    return s->have_group && peer_in_group(s, p);
}

/* Answers one error line on a connection that will not be served. */
static void
turn_away(int fd, int status, const char *code, const char *detail)
{
    size_t len;
    char *line = socket_error_line(status, code, &len, "%s", detail);
    ssize_t n = send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    char sink[4096];
    int i;

    free(line);
    /* Closing with unread input would make Linux report ECONNRESET to
     * the client, which might then miss the line: read what is there. */
    for (i = 0; i < 16 && n > 0; i++)
        if ((n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) <= 0)
            break;
    close(fd);
}

static void
admit(struct socket_server *s, int fd)
{
    struct peer p;
    char detail[256];

    memset(&p, 0, sizeof(p));
    p.fd = fd;
    if (peer_credentials(fd, &p) < 0) {
        log_warn("socket: cannot learn who connected; refused");
        turn_away(fd, 403, "peer_refused",
                  "the daemon cannot tell who you are");
        return;
    }
    if (!peer_allowed(s, &p)) {
        log_warnx("socket: refused uid %ld gid %ld pid %ld: not this "
                  "daemon's user, root%s%s", p.uid, p.gid, p.pid,
                  s->have_group ? " or a member of group " : "",
                  s->have_group ? s->group : "");
        snprintf(detail, sizeof(detail), "uid %ld may not use this "
                 "socket: only uid %ld, root%s%s", p.uid, (long)geteuid(),
                 s->have_group ? " and members of group " : "",
                 s->have_group ? s->group : "");
        turn_away(fd, 403, "peer_refused", detail);
        return;
    }
    pthread_mutex_lock(&s->lock);
    if (s->active >= LIMIT_SOCKET_CLIENTS) {
        pthread_mutex_unlock(&s->lock);
        log_warnx("socket: %d connections open; refused uid %ld pid %ld",
                  LIMIT_SOCKET_CLIENTS, p.uid, p.pid);
        snprintf(detail, sizeof(detail), "the daemon already serves %d "
                 "socket connections; retry later", LIMIT_SOCKET_CLIENTS);
        turn_away(fd, 503, "too_many_clients", detail);
        return;
    }
    p.id = ++s->next_id;
    s->queue[(s->qhead + s->qlen) % LIMIT_SOCKET_CLIENTS] = p;
    s->qlen++;
    s->active++;
    /* One worker per open connection, created when first needed and
     * kept for the next ones. */
    if (s->nthreads < s->active) {
        if (pthread_create(&s->threads[s->nthreads], NULL, worker_main,
                           s) == 0)
            s->nthreads++;
        else
            log_warnx("socket: cannot start a worker thread; connection "
                      "%lu waits for a free one", p.id);
    }
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void *
accept_main(void *arg)
{
    struct socket_server *s = arg;

    for (;;) {
        struct pollfd pfd[2];
        int fd;

        pfd[0].fd = s->listen_fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = s->stop_pipe[0];
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("socket: poll");
            break;
        }
        if (pfd[1].revents != 0)
            break;
        if ((pfd[0].revents & POLLIN) == 0)
            continue;
        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                log_warn("socket: accept");
                poll(&pfd[1], 1, 100);  /* do not spin; wake on stop */
            }
            continue;
        }
        admit(s, fd);
    }
    return NULL;
}

/* --- lifecycle ------------------------------------------------------- */

/* Creates the directory of the socket when it is missing; an existing
 * directory is used as it is (--socket /tmp/x.sock must not chmod /tmp). */
static int
make_directory(struct socket_server *s, const char *dir, char *err,
               size_t errlen)
{
    mode_t mode = s->have_group ? 0750 : 0700;
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return util_set_err(err, errlen, "--socket %s: %s is not a "
                                "directory", s->path, dir);
        if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
            log_warnx("socket: %s is writable by anyone; the socket's own "
                      "mode and the peer check still protect it", dir);
        return 0;
    }
    if (util_mkdir_p(dir, mode) < 0 || chmod(dir, mode) < 0)
        return util_set_err(err, errlen, "--socket %s: cannot create %s: %s",
                            s->path, dir, strerror(errno));
    if (s->have_group && chown(dir, (uid_t)-1, s->gid) < 0)
        return util_set_err(err, errlen,
                            "--socket-group %s: cannot give %s to "
                            "the group: %s", s->group, dir, strerror(errno));
    return 0;
}

/*
 * A socket file already at the path: a daemon that answers keeps it (we
 * refuse to start); one nobody answers is left over from a crash and is
 * replaced.  Anything but a socket is never removed.
 */
static int
claim_path(struct socket_server *s, const struct sockaddr_un *addr,
           char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    if (lstat(s->path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return util_set_err(err, errlen, "--socket %s: %s", s->path,
                            strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return util_set_err(err, errlen, "--socket %s: the path exists and is "
                            "not a socket; remove it or choose another path",
                            s->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return util_set_err(err, errlen, "socket: %s", strerror(errno));
    rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    if (rc < 0)
        rc = errno;
    close(fd);
    if (rc == 0 || rc == EAGAIN)
        return util_set_err(err, errlen, "another colibrid is already serving "
                            "the socket %s; stop it first, or give this one "
                            "another --socket", s->path);
    if (rc != ECONNREFUSED)
        return util_set_err(err, errlen, "--socket %s: cannot tell whether a "
                            "daemon serves it: %s", s->path, strerror(rc));
    if (unlink(s->path) < 0 && errno != ENOENT)
        return util_set_err(err, errlen,
                            "--socket %s: cannot remove the stale "
                            "socket: %s", s->path, strerror(errno));
    log_info("socket: replaced the stale socket %s", s->path);
    return 0;
}

static int
open_listener(struct socket_server *s, char *err, size_t errlen)
{
    struct sockaddr_un addr;
    mode_t mode = s->have_group ? 0660 : 0600;
    struct stat st;
    char *dir, *slash;
    int rc;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(s->path) >= sizeof(addr.sun_path))
        return util_set_err(err, errlen, "--socket %s: longer than the %zu "
                            "bytes a Unix socket address holds", s->path,
                            sizeof(addr.sun_path) - 1);
    memcpy(addr.sun_path, s->path, strlen(s->path) + 1);

    dir = xstrdup(s->path);
    slash = strrchr(dir, '/');
    rc = 0;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        rc = make_directory(s, dir, err, errlen);
    }
    free(dir);
    if (rc < 0 || claim_path(s, &addr, err, errlen) < 0)
        return -1;

    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0)
        return util_set_err(err, errlen, "socket: %s", strerror(errno));
    /* On Linux the file takes the socket's mode: no moment with a wider
     * one.  chmod after bind makes sure everywhere (and undoes umask). */
    (void)fchmod(s->listen_fd, mode);
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return util_set_err(err, errlen, "--socket %s: cannot bind: %s",
                            s->path, strerror(errno));
    if (lstat(s->path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    if (chmod(s->path, mode) < 0)
        return util_set_err(err, errlen, "--socket %s: chmod: %s", s->path,
                            strerror(errno));
    if (s->have_group && chown(s->path, (uid_t)-1, s->gid) < 0)
        return util_set_err(err, errlen,
                            "--socket-group %s: cannot give %s to "
                            "the group: %s", s->group, s->path,
                            strerror(errno));
    if (listen(s->listen_fd, LIMIT_SOCKET_CLIENTS) < 0)
        return util_set_err(err, errlen, "--socket %s: listen: %s", s->path,
                            strerror(errno));
    return 0;
}

/* Removes the socket file if it is still the one we bound (a second
 * daemon may have replaced it after taking it for stale). */
static void
remove_socket_file(struct socket_server *s)
{
    struct stat st;

    if (s->ino == 0)
        return;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev &&
        st.st_ino == s->ino)
        unlink(s->path);
    s->ino = 0;
}

int
socket_start(struct socket_server **out, struct app *app,
             const struct socket_options *opts, char *err, size_t errlen)
{
    struct socket_server *s = xcalloc(1, sizeof(*s));

    s->app = app;
    s->path = xstrdup(opts->path);
    s->listen_fd = -1;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->bus = opts->bus;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (opts->group != NULL) {
        struct group gr, *grp = NULL;
        char buf[16384];

        if (getgrnam_r(opts->group, &gr, buf, sizeof(buf), &grp) != 0 ||
            grp == NULL) {
            util_set_err(err, errlen, "--socket-group %s: no such group",
                         opts->group);
            goto fail;
        }
        s->have_group = 1;
        s->gid = gr.gr_gid;
        s->group = xstrdup(opts->group);
    }
    if (open_listener(s, err, errlen) < 0)
        goto fail;
    if (pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
        util_set_err(err, errlen, "socket: pipe: %s", strerror(errno));
        goto fail;
    }
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        util_set_err(err, errlen, "socket: cannot start the accept thread");
        goto fail;
    }
    s->acceptor_started = 1;
    *out = s;
    return 0;
fail:
    socket_stop(s);
    return -1;
}

void
socket_stop(struct socket_server *s)
{
    char one = 1;
    int i;

    if (s == NULL)
        return;
    __atomic_store_n(&s->stopping, 1, __ATOMIC_SEQ_CST);
    if (s->stop_pipe[1] >= 0 && write(s->stop_pipe[1], &one, 1) < 0)
        log_warn("socket: cannot wake the threads");
    if (s->acceptor_started)
        pthread_join(s->acceptor, NULL);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    remove_socket_file(s);

    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    /* Connections no worker took (thread creation failed). */
    while (s->qlen > 0) {
        close(s->queue[s->qhead].fd);
        s->qhead = (s->qhead + 1) % LIMIT_SOCKET_CLIENTS;
        s->qlen--;
    }
    if (s->stop_pipe[0] >= 0)
        close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0)
        close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->group);
    free(s->path);
    free(s);
}
