/*
 * cli_events.c - "colibri events" and "colibri ingest": the commands that
 * are streams rather than one call.
 *
 * events: over the socket, events.subscribe turns the connection into
 * JSON lines; over HTTP, the SSE stream of GET /api/v1/events is read
 * through libcurl's write callback and cut into frames here.  Either way
 * the last event id seen is kept, and a connection that ends (a daemon
 * restarting) is made again with it as the resume point, so nothing is
 * printed twice and nothing is missed while the store still has it.
 *
 * ingest: pi's JSON lines from stdin, in batches to agent.events.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli.h"
#include "cli_events.h"
#include "limits.h"
#include "util.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Reconnecting: the first wait, and the longest. */
#define FOLLOW_BACKOFF_MIN_MS   250
#define FOLLOW_BACKOFF_MAX_MS   5000
/* A stream silent for this long is taken for dead (the daemon sends a
 * heartbeat every --sse-heartbeat seconds, 15 by default). */
#define FOLLOW_IDLE_MS          (120 * 1000)
/* A stream line (one event) at most; the daemon's are far smaller. */
#define FOLLOW_LINE_MAX         (16 * 1024 * 1024)

/* ingest: lines per batch by default, and how long a line may wait. */
#define INGEST_BATCH_DEFAULT    200
#define INGEST_FLUSH_MS         200
/* Room left in a request for everything but the events. */
#define INGEST_ENVELOPE         4096

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* SIGINT and SIGTERM end the command cleanly: no SA_RESTART, so a
 * blocking call returns EINTR and the loops look at the flag. */
static void
catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void
sleep_ms(int ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);       /* a signal cuts it short: fine */
}

/* --- printing events ------------------------------------------------- */

static const char *
str_member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

/* A task in a few words: #7 in_progress "title". */
static void
task_summary(struct buf *b, const json_t *task)
{
    const json_t *title = json_object_get(task, "title");
    const json_t *assignee = json_object_get(task, "assignee");
    char *t;

    buf_printf(b, "#%lld %s", (long long)json_integer_value(
                                  json_object_get(task, "id")),
               str_member(task, "status"));
    if (json_is_string(title)) {
        t = xstrdup(json_string_value(title));
        if (strlen(t) > 60)
            strcpy(t + 57, "...");
        buf_printf(b, " \"%s\"", t);
        free(t);
    }
    if (json_is_string(assignee))
        buf_printf(b, " @%s", json_string_value(assignee));
}

char *
cli_event_human(const json_t *ev)
{
    const json_t *data = json_object_get(ev, "data");
    const json_t *agent = json_object_get(ev, "agent");
    const char *type = str_member(ev, "type");
    struct buf b;

    buf_init(&b, SIZE_MAX / 2);
    buf_printf(&b, "%s  %-16s %-14s %-14s ", str_member(ev, "time"), type,
               str_member(ev, "subject"),
               json_is_string(agent) ? json_string_value(agent) : "-");
    if (json_is_object(json_object_get(data, "task"))) {
        /* task.claimed: {outcome, task} */
        if (json_is_string(json_object_get(data, "outcome")))
            buf_printf(&b, "%s ", str_member(data, "outcome"));
        task_summary(&b, json_object_get(data, "task"));
    } else if (json_is_string(json_object_get(data, "to"))) {
        /* agent.state: {from, to, reason, substate} */
        buf_printf(&b, "%s -> %s", str_member(data, "from"),
                   str_member(data, "to"));
        if (*str_member(data, "substate"))
            buf_printf(&b, " [%s]", str_member(data, "substate"));
        if (*str_member(data, "reason"))
            buf_printf(&b, " (%s)", str_member(data, "reason"));
    } else if (json_is_string(json_object_get(data, "title")) &&
               json_is_integer(json_object_get(data, "id"))) {
        task_summary(&b, data);
    } else if (!strncmp(type, "agent.", 6) &&
               json_is_string(json_object_get(data, "kind"))) {
        buf_printf(&b, "%s", str_member(data, "kind"));
        if (*str_member(data, "host"))
            buf_printf(&b, " on %s", str_member(data, "host"));
        if (*str_member(data, "state"))
            buf_printf(&b, ", %s", str_member(data, "state"));
    } else if (data != NULL && !json_is_null(data)) {
        char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);

        if (text != NULL && strlen(text) > 80)
            strcpy(text + 77, "...");
        buf_printf(&b, "%s", text ? text : "");
        free(text);
    }
    /* No trailing blanks when there is no summary. */
    while (b.len > 0 && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    return b.data ? b.data : xstrdup("");
}

/* --- following ------------------------------------------------------- */

enum { FOLLOW_RETRY = -1 };

struct follow {
    const struct cli_endpoint *ep;
    json_t *filter;             /* types, agent (borrowed) */
    long long last;             /* resume after this id; -1: from now */
    int json;
    FILE *out;
    int answered;               /* a subscription was made, ever */
    int subscribed;             /* ... by this attempt */
};

static void
print_event(struct follow *f, const json_t *ev, const char *raw,
            size_t rawlen)
{
    json_t *id = json_object_get(ev, "id");

    if (json_is_integer(id))
        f->last = json_integer_value(id);
    if (f->json) {
        fwrite(raw, 1, rawlen, f->out);
        fputc('\n', f->out);
    } else {
        char *line = cli_event_human(ev);

        fprintf(f->out, "%s\n", line);
        free(line);
    }
    fflush(f->out);
}

/* A reset: events were missed (beyond retention) or the client was too
 * slow.  doc holds the reason; after, when given, is where the stream
 * goes on. */
static void
print_reset(struct follow *f, const json_t *doc, const char *raw,
            size_t rawlen)
{
    json_t *after = json_object_get(doc, "after");

    if (json_is_integer(after))
        f->last = json_integer_value(after);
    if (f->json) {
        fwrite(raw, 1, rawlen, f->out);
        fputc('\n', f->out);
        fflush(f->out);
    }
    if (!strcmp(str_member(doc, "reason"), "too_slow"))
        fprintf(stderr, "colibri: reset (too_slow): the daemon cut the "
                "stream for reading too slowly; resuming\n");
    else
        fprintf(stderr, "colibri: reset (%s): events the daemon no longer "
                "keeps were missed; following from event %lld\n",
                str_member(doc, "reason"), f->last);
}

/* One line of the socket stream. */
static void
socket_stream_line(struct follow *f, const char *line, size_t len)
{
    json_t *doc = json_loadb(line, len, 0, NULL);
    const char *control;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return;
    }
    control = json_string_value(json_object_get(doc, "event"));
    if (control != NULL) {
        if (!strcmp(control, "reset"))
            print_reset(f, doc, line, len);
        /* heartbeat: nothing to print */
    } else {
        print_event(f, doc, line, len);
    }
    json_decref(doc);
}

static json_t *
subscribe_args(const struct follow *f)
{
    json_t *args = json_object();
    json_t *types = json_object_get(f->filter, "types");
    json_t *agent = json_object_get(f->filter, "agent");

    if (types != NULL)
        json_object_set(args, "types", types);
    if (agent != NULL)
        json_object_set(args, "agent", agent);
    if (f->last >= 0)
        json_object_set_new(args, "last_event_id",
                            json_integer((json_int_t)f->last));
    return args;
}

/* The refusal of a subscription: an exit status, or FOLLOW_RETRY when it
 * is worth trying again (the daemon is busy). */
static int
refused(const json_t *problem, int status, struct cli_error *err)
{
    const char *code = json_string_value(json_object_get(problem, "code"));
    const char *detail = json_string_value(json_object_get(problem,
                                                           "detail"));
    json_t *st = json_object_get(problem, "status");

    if (json_is_integer(st))
        status = (int)json_integer_value(st);
    cli_error_set(err, status, code ? code : "error", "%s",
                  detail ? detail : "the daemon refused the subscription");
    if (status == 503 || status == 502 || status == 504)
        return FOLLOW_RETRY;
    fprintf(stderr, "colibri: %s (%s)\n", err->detail, err->code);
    if (status == 401)
        fprintf(stderr, "colibri: give the API token with --token-file or "
                "COLIBRI_TOKEN\n");
    return cli_exit_status(status, err->code);
}

static int
unix_connect(const char *path, struct cli_error *err)
{
    struct sockaddr_un addr;
    int fd;

    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        cli_error_set(err, 0, "unreachable", "the socket path %s is too long",
                      path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cli_error_set(err, 0, "unreachable", "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int e = errno;

        close(fd);
        if (e == EACCES || e == EPERM)
            cli_error_set(err, 403, "permission_denied", "cannot connect to "
                          "%s: %s", path, strerror(e));
        else
            cli_error_set(err, 0, "unreachable",
                          "cannot connect to the daemon "
                          "at %s: %s (is colibrid running?)", path,
                          strerror(e));
        return -1;
    }
    return fd;
}

static int
send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR && !interrupted)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One subscription over the socket, until it ends. */
static int
follow_socket(struct follow *f, struct cli_error *err)
{
    json_t *req, *answer;
    struct buf in;
    char *line, chunk[65536];
    size_t len;
    int fd, rc = FOLLOW_RETRY, idle_ms = 0;

    fd = unix_connect(f->ep->socket_path, err);
    if (fd < 0 && err->status == 403) {
        fprintf(stderr, "colibri: %s (%s)\n", err->detail, err->code);
        return CLI_REFUSED;
    }
    if (fd < 0)
        return FOLLOW_RETRY;
    req = json_pack("{s:i, s:s, s:o}", "id", 1, "op", "events.subscribe",
                    "args", subscribe_args(f));
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    len = strlen(line);
    line = xrealloc(line, len + 2);
    line[len++] = '\n';
    if (send_all(fd, line, len) < 0)
        cli_error_set(err, 0, "unreachable", "cannot send to %s: %s",
                      f->ep->socket_path, strerror(errno));
    free(line);

    buf_init(&in, FOLLOW_LINE_MAX);
    while (!interrupted) {
        struct pollfd pfd = {fd, POLLIN, 0};
        char *nl;
        ssize_t n;
        int pr = poll(&pfd, 1, 500);

        if (pr == 0) {
            if ((idle_ms += 500) >= FOLLOW_IDLE_MS) {
                cli_error_set(err, 0, "unreachable", "the stream went silent");
                break;
            }
            continue;
        }
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cli_error_set(err, 0, "unreachable", "the daemon closed the "
                          "connection");
            break;
        }
        idle_ms = 0;
        if (buf_append(&in, chunk, (size_t)n) < 0) {
            cli_error_set(err, 0, "bad_answer", "a line of the stream is "
                          "longer than %d bytes", FOLLOW_LINE_MAX);
            break;
        }
        while ((nl = memchr(in.data, '\n', in.len)) != NULL) {
            size_t llen = (size_t)(nl - in.data);

            if (!f->subscribed) {
                answer = json_loadb(in.data, llen, 0, NULL);
                if (!json_is_true(json_object_get(answer, "ok"))) {
                    rc = refused(json_object_get(answer, "error"), 0, err);
                    json_decref(answer);
                    goto out;
                }
                f->subscribed = f->answered = 1;
                if (f->last < 0)
                    f->last = json_integer_value(json_object_get(
                        json_object_get(answer, "result"), "after"));
                json_decref(answer);
            } else {
                socket_stream_line(f, in.data, llen);
            }
            memmove(in.data, nl + 1, in.len - llen - 1);
            in.len -= llen + 1;
        }
    }
out:
    buf_free(&in);
    close(fd);
    return rc;
}

/* --- SSE over HTTP ---------------------------------------------------- */

struct sse_reader {
    struct follow *f;
    CURL *curl;
    long status;                /* 0 until known */
    struct buf line;            /* a line begun in an earlier chunk */
    struct buf data;            /* the frame's data lines */
    char event[64];
    char id[32];
    struct buf body;            /* an error answer */
};

static void
sse_dispatch(struct sse_reader *r)
{
    struct follow *f = r->f;
    json_t *doc;
    long long id;

    /* A reset, or the id-only frame a stream starts with, says where
     * the stream goes on: a reconnect resumes from there. */
    if (r->id[0] != '\0' &&
        util_parse_ll(r->id, 0, LLONG_MAX, &id) == 0 &&
        (strcmp(r->event, "reset") == 0 || r->data.len == 0))
        f->last = id;
    if (r->data.len > 0) {
        doc = json_loadb(r->data.data, r->data.len, 0, NULL);
        if (!strcmp(r->event, "reset")) {
            json_t *rd = json_is_object(doc) ? json_deep_copy(doc)
                                             : json_object();
            char *text;

            json_object_set_new(rd, "event", json_string("reset"));
            if (f->last >= 0 && r->id[0] != '\0')
                json_object_set_new(rd, "after",
                                    json_integer((json_int_t)f->last));
            text = json_dumps(rd, JSON_COMPACT);
            print_reset(f, rd, text, strlen(text));
            free(text);
            json_decref(rd);
        } else if (json_is_object(doc)) {
            print_event(f, doc, r->data.data, r->data.len);
        }
        json_decref(doc);
    }
    buf_reset(&r->data);
    r->event[0] = '\0';
    r->id[0] = '\0';
}

static void
sse_line(struct sse_reader *r, const char *line, size_t len)
{
    const char *colon, *value;
    size_t flen, vlen;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0) {
        sse_dispatch(r);
        return;
    }
    if (line[0] == ':')
        return;                 /* a comment: the heartbeat */
    colon = memchr(line, ':', len);
    flen = colon ? (size_t)(colon - line) : len;
    value = colon ? colon + 1 : line + len;
    vlen = len - (size_t)(value - line);
    if (vlen > 0 && *value == ' ') {
        value++;
        vlen--;
    }
    if (flen == 4 && !strncmp(line, "data", 4)) {
        if (r->data.len > 0)
            buf_append(&r->data, "\n", 1);
        buf_append(&r->data, value, vlen);
    } else if (flen == 5 && !strncmp(line, "event", 5)) {
        snprintf(r->event, sizeof(r->event), "%.*s", (int)vlen, value);
    } else if (flen == 2 && !strncmp(line, "id", 2)) {
        snprintf(r->id, sizeof(r->id), "%.*s", (int)vlen, value);
    } else if (flen == 5 && !strncmp(line, "retry", 5)) {
        /* The daemon's first line: the subscription is made. */
        r->f->subscribed = r->f->answered = 1;
    }
}

static size_t
sse_write(char *data, size_t size, size_t n, void *ctx)
{
    struct sse_reader *r = ctx;
    size_t len = size * n, off = 0;

    if (interrupted)
        return 0;
    if (r->status == 0)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status != 200) {
        buf_append(&r->body, data, len);    /* beyond the cap: cut */
        return len;
    }
    while (off < len) {
        const char *nl = memchr(data + off, '\n', len - off);
        size_t piece = nl ? (size_t)(nl - (data + off)) : len - off;

        if (buf_append(&r->line, data + off, piece) < 0)
            return 0;           /* a line beyond reason: give up */
        if (nl == NULL)
            break;
        sse_line(r, r->line.data ? r->line.data : "", r->line.len);
        buf_reset(&r->line);
        off += piece + 1;
    }
    return len;
}

static int
sse_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow,
             curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ctx;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return interrupted ? 1 : 0;
}

static int
follow_http(struct follow *f, struct cli_error *err)
{
    const struct op *op = ops_find("events.stream");
    struct curl_slist *headers = NULL;
    struct sse_reader r;
    json_t *args, *body = NULL, *doc;
    char *target, *url, *auth = NULL, curl_err[CURL_ERROR_SIZE];
    size_t baselen = strlen(f->ep->url);
    CURLcode cc;
    int rc = FOLLOW_RETRY;

    if (op == NULL) {
        fprintf(stderr, "colibri: this colibri has no events.stream\n");
        return CLI_ERROR;
    }
    while (baselen > 0 && f->ep->url[baselen - 1] == '/')
        baselen--;
    args = subscribe_args(f);
    target = cli_http_target(op, args, &body);
    json_decref(args);
    json_decref(body);
    url = xasprintf("%.*s%s", (int)baselen, f->ep->url, target);
    free(target);

    memset(&r, 0, sizeof(r));
    r.f = f;
    buf_init(&r.line, FOLLOW_LINE_MAX);
    buf_init(&r.data, FOLLOW_LINE_MAX);
    buf_init(&r.body, 64 * 1024);
    curl_err[0] = '\0';
    r.curl = curl_easy_init();
    if (r.curl == NULL) {
        cli_error_set(err, 0, "http_error", "cannot initialise libcurl");
        goto out;
    }
    curl_easy_setopt(r.curl, CURLOPT_URL, url);
    curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r.curl, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(r.curl, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A stream with not even a heartbeat for this long is dead. */
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_TIME,
                     (long)(FOLLOW_IDLE_MS / 1000));
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(r.curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(r.curl, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (f->ep->cacert != NULL)
        curl_easy_setopt(r.curl, CURLOPT_CAINFO, f->ep->cacert);
    headers = curl_slist_append(headers, "Accept: text/event-stream");
    if (f->ep->token != NULL) {
        auth = xasprintf("Authorization: Bearer %s", f->ep->token);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, headers);

    cc = curl_easy_perform(r.curl);
    if (interrupted)
        goto out;
    if (r.status == 0)
        curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status != 0 && r.status != 200) {
        doc = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0,
                         NULL);
        if (json_is_object(doc)) {
            rc = refused(doc, (int)r.status, err);
        } else {
            json_t *p = json_pack("{s:s, s:i}", "code", "http_error",
                                  "status", (int)r.status);

            rc = refused(p, (int)r.status, err);
            json_decref(p);
        }
        json_decref(doc);
        goto out;
    }
    if (cc != CURLE_OK)
        cli_error_set(err, 0, "unreachable", "cannot reach the daemon at "
                      "%.*s: %s", (int)baselen, f->ep->url,
                      curl_err[0] ? curl_err : curl_easy_strerror(cc));
    else
        cli_error_set(err, 0, "unreachable", "the daemon ended the stream");
out:
    if (auth != NULL)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    curl_slist_free_all(headers);
    if (r.curl != NULL)
        curl_easy_cleanup(r.curl);
    buf_free(&r.line);
    buf_free(&r.data);
    buf_free(&r.body);
    free(url);
    return rc;
}

int
cli_events_follow(const struct cli_endpoint *ep, json_t *filter, int json,
                  FILE *out)
{
    struct follow f;
    struct cli_error err;
    json_t *since = json_object_get(filter, "last_event_id");
    int backoff = FOLLOW_BACKOFF_MIN_MS, rc, told = 0;

    memset(&f, 0, sizeof(f));
    f.ep = ep;
    f.filter = filter;
    f.last = json_is_integer(since) ? json_integer_value(since) : -1;
    f.json = json;
    f.out = out;
    catch_signals();
    for (;;) {
        memset(&err, 0, sizeof(err));
        f.subscribed = 0;
        rc = ep->url != NULL ? follow_http(&f, &err)
                             : follow_socket(&f, &err);
        if (interrupted)
            return CLI_OK;
        if (rc != FOLLOW_RETRY)
            return rc;
        if (!f.answered) {
            /* Never got through: say so, as any command would. */
            fprintf(stderr, "colibri: %s (%s)\n", err.detail, err.code);
            return cli_exit_status(err.status, err.code);
        }
        if (f.subscribed) {
            backoff = FOLLOW_BACKOFF_MIN_MS;
            told = 0;
        }
        if (!told) {
            if (f.last >= 0)
                fprintf(stderr, "colibri: %s; resuming after event %lld\n",
                        err.detail, f.last);
            else
                fprintf(stderr, "colibri: %s; reconnecting\n", err.detail);
            told = 1;
        }
        sleep_ms(backoff);
        if (interrupted)
            return CLI_OK;
        backoff = backoff * 2 > FOLLOW_BACKOFF_MAX_MS ? FOLLOW_BACKOFF_MAX_MS
                                                      : backoff * 2;
    }
}

/* --- command lines ----------------------------------------------------- */

/* "--name value" or "--name=value"; advances *i.  NULL when word is not
 * --name; sets *missing when it is but has no value. */
static const char *
option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    const char *w = argv[*i];
    size_t n = strlen(name);

    if (strncmp(w, name, n) != 0)
        return NULL;
    if (w[n] == '=')
        return w + n + 1;
    if (w[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int
cli_events_main(const struct cli_endpoint *ep, int argc, char **argv,
                int json)
{
    json_t *filter = json_object();
    int i, rc, missing = 0;

    for (i = 0; i < argc; i++) {
        const char *v;
        long long id;

        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if ((v = option_value(argc, argv, &i, "--types",
                                     &missing)) != NULL) {
            json_object_set_new(filter, "types", json_string(v));
        } else if ((v = option_value(argc, argv, &i, "--agent",
                                     &missing)) != NULL) {
            json_object_set_new(filter, "agent", json_string(v));
        } else if ((v = option_value(argc, argv, &i, "--since",
                                     &missing)) != NULL ||
                   (!missing && (v = option_value(argc, argv, &i,
                                                  "--last-event-id",
                                                  &missing)) != NULL)) {
            if (util_parse_ll(v, 0, LLONG_MAX, &id) < 0) {
                fprintf(stderr, "colibri: --since takes an event id, not "
                        "'%s'\n", v);
                json_decref(filter);
                return CLI_USAGE;
            }
            json_object_set_new(filter, "last_event_id",
                                json_integer((json_int_t)id));
        } else {
            fprintf(stderr, "colibri: %s '%s'\nusage: colibri events "
                    "[--types T,U.*] [--agent ID] [--since EVENT_ID] "
                    "[--json]\n", missing ? "a value is missing after"
                                          : "events takes no argument",
                    argv[i]);
            json_decref(filter);
            return CLI_USAGE;
        }
    }
    rc = cli_events_follow(ep, filter, json, stdout);
    json_decref(filter);
    return rc;
}

/* --- ingest ------------------------------------------------------------ */

size_t
cli_json_escaped_len(const char *text, size_t len)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];

        if (ch == '"' || ch == '\\' || ch == '\b' || ch == '\f' ||
            ch == '\n' || ch == '\r' || ch == '\t')
            n += 2;
        else if (ch < 0x20)
            n += 6;             /* \u00XX */
        else
            n++;
    }
    return n;
}

struct ingest {
    const struct cli_endpoint *ep;
    const struct op *op;
    const char *agent;
    size_t batch;               /* lines per batch at most */
    size_t budget;              /* bytes of events per request at most */
    struct buf text;            /* the batch: lines, each with "\n" */
    size_t cost;                /* what text costs in the request */
    size_t *linenos;            /* the input line number of each */
    size_t nlines;
    int64_t first_us;           /* when the batch's first line came */
    /* totals */
    unsigned long long accepted, rejected, batches;
    char state[32], substate[64];
    json_t *rejects;            /* [{line, code, detail}] for --json */
    int failed;                 /* a batch was not delivered: its status */
};

static void
reject_line(struct ingest *g, size_t lineno, const char *code,
            const char *detail)
{
    if (code == NULL)
        code = "rejected";
    if (detail == NULL)
        detail = "the daemon rejected the line";
    g->rejected++;
    fprintf(stderr, "colibri: line %zu: %s (%s)\n", lineno, detail, code);
    if (json_array_size(g->rejects) < 1000)
        json_array_append_new(g->rejects, json_pack(
            "{s:I, s:s, s:s}", "line", (json_int_t)lineno, "code", code,
            "detail", detail));
}

/* Sends the batch; 0, or -1 when it could not be delivered. */
static int
ingest_flush(struct ingest *g)
{
    struct cli_error err;
    json_t *args, *report = NULL, *list, *item;
    long long listed = 0, rejected;
    size_t i;
    int rc;

    if (g->nlines == 0)
        return 0;
    args = json_pack("{s:s}", "id", g->agent);
    if (g->ep->url != NULL) {
        rc = cli_call_ndjson(g->ep, g->op, args, g->text.data, g->text.len,
                             &report, &err);
    } else {
        json_object_set_new(args, "events",
                            json_stringn(g->text.data, g->text.len));
        rc = cli_call(g->ep, g->op, args, &report, &err);
    }
    json_decref(args);
    if (rc < 0) {
        fprintf(stderr, "colibri: %s (%s)\n", err.detail, err.code);
        if (g->nlines == 1)
            fprintf(stderr, "colibri: line %zu was not delivered\n",
                    g->linenos[0]);
        else
            fprintf(stderr, "colibri: lines %zu to %zu were not "
                    "delivered\n", g->linenos[0],
                    g->linenos[g->nlines - 1]);
        g->failed = cli_exit_status(err.status, err.code);
        return -1;
    }
    g->batches++;
    g->accepted += (unsigned long long)json_integer_value(
        json_object_get(report, "accepted"));
    rejected = json_integer_value(json_object_get(report, "rejected_count"));
    list = json_object_get(report, "rejected");
    json_array_foreach(list, i, item) {
        long long n = json_integer_value(json_object_get(item, "line"));
        size_t lineno = n >= 1 && (size_t)n <= g->nlines
                            ? g->linenos[n - 1] : 0;

        reject_line(g, lineno, json_string_value(json_object_get(item,
                                                                 "code")),
                    json_string_value(json_object_get(item, "detail")));
        listed++;
    }
    if (rejected > listed) {
        /* The daemon lists the first ones of a batch only. */
        g->rejected += (unsigned long long)(rejected - listed);
        fprintf(stderr, "colibri: %lld more lines of lines %zu to %zu were "
                "rejected\n", rejected - listed, g->linenos[0],
                g->linenos[g->nlines - 1]);
    }
    snprintf(g->state, sizeof(g->state), "%s",
             str_member(report, "state"));
    snprintf(g->substate, sizeof(g->substate), "%s",
             str_member(report, "substate"));
    json_decref(report);
    buf_reset(&g->text);
    g->cost = 0;
    g->nlines = 0;
    return 0;
}

static int
blank_line(const char *line, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            return 0;
    return 1;
}

/* Takes one input line into the batch (sending first when it would not
 * fit); 0, or -1 when a batch could not be delivered. */
static int
ingest_line(struct ingest *g, const char *line, size_t len, size_t lineno)
{
    size_t cost;

    if (blank_line(line, len))
        return 0;               /* the daemon would skip it too */
    if (len > LIMIT_INGEST_LINE) {
        /* The daemon's own rule, applied here: such a line could not be
         * carried in one request anyway. */
        reject_line(g, lineno, "line_too_long", "the line is longer than "
                    "the limit");
        return 0;
    }
    if (g->ep->url == NULL) {
        json_t *probe = json_stringn(line, len);

        /* The socket carries the batch as a JSON string, which must be
         * UTF-8; the daemon would find such a line invalid JSON. */
        if (probe == NULL) {
            reject_line(g, lineno, "invalid_json", "the line is not valid "
                        "UTF-8");
            return 0;
        }
        json_decref(probe);
        cost = cli_json_escaped_len(line, len) + 2;
    } else {
        cost = len + 1;
    }
    if (cost > g->budget) {
        reject_line(g, lineno, "line_too_long", "the line is too long to "
                    "send in one request");
        return 0;
    }
    if (g->cost + cost > g->budget && ingest_flush(g) < 0)
        return -1;
    if (g->nlines == 0)
        g->first_us = util_mono_us();
    buf_append(&g->text, line, len);
    buf_append(&g->text, "\n", 1);
    g->cost += cost;
    g->linenos[g->nlines++] = lineno;
    if (g->nlines >= g->batch)
        return ingest_flush(g);
    return 0;
}

static int
ingest_usage(const char *why, const char *word)
{
    fprintf(stderr, "colibri: %s%s%s\nusage: pi --mode json ... | colibri "
            "ingest --agent ID [--batch N] [--json]\n", why,
            word ? " " : "", word ? word : "");
    return CLI_USAGE;
}

int
cli_ingest_main(const struct cli_endpoint *ep, int argc, char **argv,
                int json, int in_fd)
{
    struct ingest g;
    struct buf partial;
    char chunk[65536];
    const char *agent = NULL;
    long long batch = INGEST_BATCH_DEFAULT;
    size_t lineno = 0;
    int i, missing = 0, too_long = 0, eof = 0, rc;

    for (i = 0; i < argc; i++) {
        const char *v;

        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if ((v = option_value(argc, argv, &i, "--agent",
                                     &missing)) != NULL) {
            agent = v;
        } else if ((v = option_value(argc, argv, &i, "--batch",
                                     &missing)) != NULL) {
            if (util_parse_ll(v, 1, 100000, &batch) < 0)
                return ingest_usage("--batch takes a number of lines from "
                                    "1 to 100000, not", v);
        } else {
            return ingest_usage(missing ? "a value is missing after"
                                        : "ingest takes no argument",
                                argv[i]);
        }
    }
    if (agent == NULL)
        return ingest_usage("ingest needs --agent ID (a registered agent)",
                            NULL);

    memset(&g, 0, sizeof(g));
    g.ep = ep;
    g.op = ops_find("agent.events");
    g.agent = agent;
    g.batch = (size_t)batch;
    g.budget = (ep->url != NULL ? LIMIT_BODY_BYTES : LIMIT_SOCKET_LINE) -
               INGEST_ENVELOPE;
    g.linenos = xcalloc(g.batch, sizeof(*g.linenos));
    g.rejects = json_array();
    buf_init(&g.text, SIZE_MAX / 2);
    buf_init(&partial, LIMIT_INGEST_LINE + 1);
    if (g.op == NULL) {
        fprintf(stderr, "colibri: this colibri has no agent.events\n");
        rc = CLI_ERROR;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    while (!eof && !g.failed) {
        struct pollfd pfd = {in_fd, POLLIN, 0};
        int timeout = -1, pr;
        ssize_t n, off = 0;

        if (g.nlines > 0) {
            int64_t due = g.first_us + INGEST_FLUSH_MS * 1000LL;
            int64_t now = util_mono_us();

            if (now >= due) {
                ingest_flush(&g);
                continue;
            }
            timeout = (int)((due - now + 999) / 1000);
        }
        pr = poll(&pfd, 1, timeout);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            continue;           /* the batch is due: sent above */
        n = read(in_fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            fprintf(stderr, "colibri: reading standard input: %s\n",
                    strerror(errno));
            break;
        }
        if (n == 0) {
            eof = 1;
            if (too_long || partial.len > 0) {
                lineno++;
                if (too_long)
                    reject_line(&g, lineno, "line_too_long", "the line is "
                                "longer than the limit");
                else
                    ingest_line(&g, partial.data, partial.len, lineno);
            }
            break;
        }
        while (off < n && !g.failed) {
            const char *start = chunk + off;
            const char *nl = memchr(start, '\n', (size_t)(n - off));
            size_t piece = nl ? (size_t)(nl - start) : (size_t)(n - off);

            if (!too_long && buf_append(&partial, start, piece) < 0) {
                too_long = 1;   /* drop the rest of it */
                buf_reset(&partial);
            }
            off += (ssize_t)piece + (nl ? 1 : 0);
            if (nl == NULL)
                break;
            lineno++;
            if (too_long)
                reject_line(&g, lineno, "line_too_long", "the line is "
                            "longer than the limit");
            else
                ingest_line(&g, partial.data ? partial.data : "",
                            partial.len, lineno);
            too_long = 0;
            buf_reset(&partial);
        }
    }
    if (!g.failed)
        ingest_flush(&g);

    fprintf(stderr, "colibri: %s: %llu event%s accepted, %llu rejected, in "
            "%llu batch%s", agent, g.accepted, g.accepted == 1 ? "" : "s",
            g.rejected, g.batches, g.batches == 1 ? "" : "es");
    if (g.state[0] != '\0')
        fprintf(stderr, "; state %s%s%s%s", g.state,
                g.substate[0] ? " (" : "", g.substate,
                g.substate[0] ? ")" : "");
    fputc('\n', stderr);
    if (json) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:o, s:s?, s:s?}",
                                "agent", agent,
                                "accepted", (json_int_t)g.accepted,
                                "rejected_count", (json_int_t)g.rejected,
                                "rejected", json_incref(g.rejects),
                                "state", g.state[0] ? g.state : NULL,
                                "substate",
                                g.substate[0] ? g.substate : NULL);

        json_dumpf(doc, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(doc);
    }
    rc = g.failed ? g.failed : g.rejected > 0 ? CLI_ERROR : CLI_OK;
out:
    buf_free(&partial);
    buf_free(&g.text);
    free(g.linenos);
    json_decref(g.rejects);
    return rc;
}
