/*
 * spawn_client.c - the spawner's benchmark client (tests/bench/spawn.sh).
 *
 *   spawn_client first  -p PORT -k TOKEN|@FILE -a SMOKE_AGENT [-n RUNS]
 *                       [-w WARMUP]
 *   spawn_client chatty -p PORT -k TOKEN|@FILE -D DATA_DIR -d DAEMON_PID
 *                       [-n AGENTS] [-l LINES] [-i INTERVAL_MS]
 *                       [-t TIMEOUT_S]
 *
 * first: spawn to first event, median of RUNS (after WARMUP unmeasured
 * runs of each):
 *   baseline  posix_spawn of SMOKE_AGENT (scenario ok, COLIBRI_AGENT_ID
 *             set, stdout a pipe) to its first complete stdout line;
 *   colibrid  POST /api/v1/agents/spawn {"runner":"smoke","id":...} over
 *             a keep-alive connection to the first agent.state event for
 *             that agent on an SSE stream (GET /api/v1/events?types=
 *             agent.state) opened before the first run.  The time of the
 *             202 answer is kept too.  Each run waits for the agent to
 *             reach done, its session to end (session.end, where the
 *             daemon indexes sessions) and its exit to be recorded
 *             before the next, so that runs do not overlap.
 * The clock is CLOCK_MONOTONIC, read just before the request is written
 * (posix_spawn called) and when the read that completed the event (line)
 * returned.
 *
 * chatty: AGENTS agents spawned back to back (scenario chatty, LINES
 * lines each, INTERVAL_MS apart), all supervised at once.  Waits until
 * the store has every one's exit (the agent document's process
 * exit_status, recorded once the run's lines are in), then checks, for
 * each: the process exited 0
 * without a restart, the glasspane says done, and its session log under
 * DATA_DIR/sessions/<agent>/ holds exactly one run whose agent lines
 * are seq 0..LINES-1, each once and in order.  The daemon's CPU
 * (utime + stime, /proc/PID/stat) from before the first spawn until the
 * last exit is reported per 10,000 lines.
 *
 * Output: human lines, then one machine line ("SPAWN " or "CHATTY ")
 * of key=value pairs.  Exit status 0 when every run was correct, 1 when
 * a run failed or a line was lost, 2 on a usage or set-up error.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define RESP_CAP (1024 * 1024)  /* largest answer read */
#define SSE_KEEP 8192           /* bytes of an SSE line kept */

extern char **environ;

static struct sockaddr_in addr;
static char token[256];
static int daemon_pid;
static int has_sessions;        /* the daemon indexes sessions (v5) */

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *msg)
{
    fprintf(stderr, "spawn_client: %s\n", msg);
    exit(2);
}

static double
daemon_cpu_s(void)
{
    char path[64], buf[2048], *p;
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;
    int field;

    if (daemon_pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", daemon_pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p += 2;
    for (field = 3; field < 14 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --- HTTP, one keep-alive connection ------------------------------------ */

static int
http_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("cannot connect to colibrid");
    return fd;
}

static int
http_send(int fd, const char *method, const char *path, const char *body)
{
    char req[4096];
    int len;

    if (body != NULL)
        len = snprintf(req, sizeof(req),
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       method, path, token, strlen(body), body);
    else
        len = snprintf(req, sizeof(req),
                       "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       method, path, token);
    if (len < 0 || len >= (int)sizeof(req))
        return -1;
    return write(fd, req, (size_t)len) == len ? 0 : -1;
}

/*
 * An incremental reader of one answer (Content-Length bodies: colibrid's
 * JSON answers).  resp_feed returns 1 once the answer is complete, 0 for
 * more, -1 on a broken answer.
 */
struct resp {
    char *buf;
    size_t have;
    size_t head;                /* header length, 0 until known */
    size_t clen;
    int status;
};

static int
resp_feed(struct resp *r, int fd)
{
    ssize_t n;

    if (r->buf == NULL)
        r->buf = malloc(RESP_CAP + 1);
    if (r->buf == NULL)
        die("out of memory");
    n = read(fd, r->buf + r->have, RESP_CAP - r->have);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    r->have += (size_t)n;
    r->buf[r->have] = '\0';
    if (r->head == 0) {
        char *end = strstr(r->buf, "\r\n\r\n"), *cl;

        if (end == NULL)
            return r->have == RESP_CAP ? -1 : 0;
        r->head = (size_t)(end + 4 - r->buf);
        r->status = atoi(r->buf + 9);
        cl = strcasestr(r->buf, "\ncontent-length:");
        r->clen = cl != NULL ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
    }
    if (r->have >= r->head + r->clen)
        return 1;
    return r->have == RESP_CAP ? -1 : 0;
}

/* A blocking request: the answer's status, its JSON body in *doc (new,
 * may be NULL), or -1. */
static int
http_call(int fd, const char *method, const char *path, const char *body,
          json_t **doc)
{
    struct resp r = {0};
    int rc;

    if (doc != NULL)
        *doc = NULL;
    if (http_send(fd, method, path, body) < 0)
        return -1;
    while ((rc = resp_feed(&r, fd)) == 0)
        ;
    if (rc < 0) {
        free(r.buf);
        return -1;
    }
    if (doc != NULL)
        *doc = json_loadb(r.buf + r.head, r.clen, 0, NULL);
    rc = r.status;
    free(r.buf);
    return rc;
}

/* --- the event stream ---------------------------------------------------- */

/*
 * GET /api/v1/events?types=agent.state, HTTP/1.1 (chunked).  sse_read
 * decodes what is there and calls on_event for each complete frame with
 * its data; the frame's receipt time is the time of the read.
 */
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_CRLF };

struct sse {
    int fd;
    int in_body;
    char head[4096];
    size_t hlen;
    enum chunk_state ch;
    size_t chunk_left;
    char line[SSE_KEEP + 1];
    size_t llen;
    char data[SSE_KEEP + 1];
    size_t dlen;
};

typedef void (*event_fn)(const char *data, int64_t at, void *ctx);

static void
sse_line(struct sse *s, event_fn fn, void *ctx, int64_t at)
{
    if (s->llen == 0) {
        if (s->dlen > 0) {
            s->data[s->dlen] = '\0';
            fn(s->data, at, ctx);
        }
        s->dlen = 0;
        return;
    }
    s->line[s->llen] = '\0';
    if (strncmp(s->line, "data: ", 6) == 0) {
        size_t n = s->llen - 6;

        if (n > SSE_KEEP - s->dlen)
            n = SSE_KEEP - s->dlen;
        memcpy(s->data + s->dlen, s->line + 6, n);
        s->dlen += n;
    }
}

static void
sse_bytes(struct sse *s, const char *p, size_t n, event_fn fn, void *ctx,
          int64_t at)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (s->llen > 0 && s->line[s->llen - 1] == '\r')
                s->llen--;
            sse_line(s, fn, ctx, at);
            s->llen = 0;
        } else if (s->llen < SSE_KEEP) {
            s->line[s->llen++] = p[i];
        }
    }
}

static int
sse_open(struct sse *s, const char *types)
{
    char req[512];
    int len;

    memset(s, 0, sizeof(*s));
    s->fd = http_connect();
    len = snprintf(req, sizeof(req),
                   "GET /api/v1/events?types=%s HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                   "Accept: text/event-stream\r\n\r\n", types, token);
    if (write(s->fd, req, (size_t)len) != len)
        return -1;
    fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Reads what is on the stream; -1 when it ended or broke. */
static int
sse_read(struct sse *s, event_fn fn, void *ctx)
{
    char buf[65536];
    ssize_t n = read(s->fd, buf, sizeof(buf));
    int64_t at = now_ns();
    size_t i = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    if (!s->in_body) {
        size_t take = (size_t)n, old = s->hlen;
        char *end;

        if (take > sizeof(s->head) - 1 - s->hlen)
            take = sizeof(s->head) - 1 - s->hlen;
        memcpy(s->head + s->hlen, buf, take);
        s->hlen += take;
        s->head[s->hlen] = '\0';
        end = strstr(s->head, "\r\n\r\n");
        if (end == NULL)
            return s->hlen == sizeof(s->head) - 1 ? -1 : 0;
        if (atoi(s->head + 9) != 200)
            return -1;
        /* The body starts in this read, after the header's end. */
        i = (size_t)(end + 4 - s->head) - old;
        s->in_body = 1;
        s->ch = CH_SIZE;
    }
    while (i < (size_t)n) {
        char c = buf[i];

        switch (s->ch) {
        case CH_SIZE:
            if (c == '\n') {
                s->ch = s->chunk_left > 0 ? CH_DATA : CH_CRLF;
                if (s->chunk_left == 0)
                    return -1;          /* the last chunk: stream ended */
            } else if (c == ';') {
                s->ch = CH_EXT;
            } else if (c != '\r') {
                int v = (c >= '0' && c <= '9') ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

                if (v < 0)
                    return -1;
                s->chunk_left = s->chunk_left * 16 + (size_t)v;
            }
            i++;
            break;
        case CH_EXT:
            if (c == '\n')
                s->ch = CH_DATA;
            i++;
            break;
        case CH_DATA: {
            size_t take = (size_t)n - i;

            if (take > s->chunk_left)
                take = s->chunk_left;
            sse_bytes(s, buf + i, take, fn, ctx, at);
            i += take;
            s->chunk_left -= take;
            if (s->chunk_left == 0)
                s->ch = CH_CRLF;
            break;
        }
        case CH_CRLF:
            if (c == '\n')
                s->ch = CH_SIZE;
            i++;
            break;
        }
    }
    return 0;
}

/* --- first: spawn to first event ----------------------------------------- */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static double
median_ms(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    if (n % 2)
        return (double)v[n / 2] / 1e6;
    return (double)(v[n / 2 - 1] + v[n / 2]) / 2e6;
}

static double
pct_ms(int64_t *sorted, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);

    return (double)sorted[i] / 1e6;
}

/* posix_spawn of the smoke agent to its first stdout line, in ns. */
static int64_t
baseline_once(const char *smoke, int i)
{
    posix_spawn_file_actions_t fa;
    char prog[4096], idvar[64], buf[4096];
    char *argv[] = {prog, NULL}, *env[] = {idvar, NULL};
    int p[2], st;
    int64_t t0, t1 = 0;
    pid_t pid;
    ssize_t n;

    snprintf(prog, sizeof(prog), "%s", smoke);
    snprintf(idvar, sizeof(idvar), "COLIBRI_AGENT_ID=baseline-%d", i);
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    t0 = now_ns();
    if (posix_spawn(&pid, smoke, &fa, NULL, argv, env) != 0)
        die("cannot start the smoke agent");
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    while ((n = read(p[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && t1 == 0 && memchr(buf, '\n', (size_t)n) != NULL)
            t1 = now_ns();
    close(p[0]);
    waitpid(pid, &st, 0);
    if (t1 == 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("the smoke agent printed nothing or failed");
    return t1 - t0;
}

struct watch {
    const char *agent;
    int64_t first;              /* receipt of its first agent.state */
    int done;                   /* it reached done */
    int ended;                  /* its session ended (session.end) */
    char first_to[32];
};

static void
watch_event(const char *data, int64_t at, void *ctx)
{
    struct watch *w = ctx;
    json_t *doc = json_loads(data, 0, NULL);
    const char *agent = json_string_value(json_object_get(doc, "agent"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    const char *to = json_string_value(
        json_object_get(json_object_get(doc, "data"), "to"));

    if (agent != NULL && strcmp(agent, w->agent) == 0 && type != NULL &&
        strcmp(type, "session.end") == 0) {
        w->ended = 1;
    } else if (agent != NULL && strcmp(agent, w->agent) == 0) {
        if (w->first == 0) {
            w->first = at;
            snprintf(w->first_to, sizeof(w->first_to), "%s",
                     to ? to : "?");
        }
        if (to != NULL && strcmp(to, "done") == 0)
            w->done = 1;
    }
    json_decref(doc);
}

/*
 * Polls the agent until the store has its run's exit (the supervisor
 * writes it after the run's last lines; agent.process says running
 * false before that, at the reap): the next run must not find the
 * supervisor still busy with this one.  0 or -1.
 */
static int
wait_recorded(int fd, const char *agent, int timeout_ms)
{
    char path[256];
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;

    snprintf(path, sizeof(path), "/api/v1/agents/%s", agent);
    while (now_ns() < deadline) {
        json_t *doc = NULL;
        int st = http_call(fd, "GET", path, NULL, &doc);
        int ended = json_is_integer(json_object_get(
            json_object_get(doc, "process"), "exit_status"));

        json_decref(doc);
        if (st != 200)
            return -1;
        if (ended)
            return 0;
        usleep(1000);
    }
    return -1;
}

/* One spawn; its times in *first and *ack (ns).  0 or -1. */
static int
spawn_once(int fd, struct sse *s, int i, int64_t *first, int64_t *ack)
{
    char id[64], body[256];
    struct watch w = {0};
    struct resp r = {0};
    int64_t t0, deadline;
    int got_ack = 0, rc = -1;

    snprintf(id, sizeof(id), "spawn-bench-%d", i);
    snprintf(body, sizeof(body), "{\"runner\":\"smoke\",\"id\":\"%s\"}", id);
    w.agent = id;
    t0 = now_ns();
    if (http_send(fd, "POST", "/api/v1/agents/spawn", body) < 0)
        goto out;
    deadline = t0 + 10000000000LL;
    /* Until done, and, where sessions are indexed, the session's end:
     * the last thing the supervisor writes for a run. */
    while (!(got_ack && w.done && (w.ended || !has_sessions))) {
        struct pollfd pf[2] = {{s->fd, POLLIN, 0}, {fd, POLLIN, 0}};

        if (now_ns() > deadline) {
            fprintf(stderr, "spawn_client: %s: no done within 10 s\n", id);
            goto out;
        }
        if (poll(pf, got_ack ? 1 : 2, 100) < 0 && errno != EINTR)
            die("poll");
        if (pf[0].revents && sse_read(s, watch_event, &w) < 0) {
            fprintf(stderr, "spawn_client: the event stream ended\n");
            goto out;
        }
        if (!got_ack && pf[1].revents) {
            int k = resp_feed(&r, fd);

            if (k < 0)
                goto out;
            if (k == 1) {
                *ack = now_ns() - t0;
                got_ack = 1;
                if (r.status != 202) {
                    fprintf(stderr, "spawn_client: spawn %s: status %d: "
                            "%.*s\n", id, r.status, (int)r.clen,
                            r.buf + r.head);
                    goto out;
                }
            }
        }
    }
    *first = w.first - t0;
    if (strcmp(w.first_to, "working") != 0)
        fprintf(stderr, "spawn_client: %s: first state %s\n", id,
                w.first_to);
    rc = wait_recorded(fd, id, 10000);
    if (rc < 0)
        fprintf(stderr, "spawn_client: %s: no exit recorded\n", id);
out:
    free(r.buf);
    return rc;
}

static int
run_first(const char *smoke, int runs, int warmup)
{
    int64_t *base = calloc((size_t)runs, sizeof(int64_t));
    int64_t *first = calloc((size_t)runs, sizeof(int64_t));
    int64_t *ack = calloc((size_t)runs, sizeof(int64_t));
    double mb, mf, ma;
    struct sse s;
    int fd, i, failures = 0;
    int64_t f, a;

    if (base == NULL || first == NULL || ack == NULL)
        die("out of memory");
    fd = http_connect();
    has_sessions = http_call(fd, "GET", "/api/v1/sessions?limit=1", NULL,
                             NULL) == 200;
    if (sse_open(&s, has_sessions ? "agent.state,session.end"
                                  : "agent.state") < 0)
        die("cannot open the event stream");
    /* Alternating, so that both see the same load on a shared machine. */
    for (i = 0; i < warmup + runs; i++) {
        int64_t b = baseline_once(smoke, i);

        if (spawn_once(fd, &s, i, &f, &a) < 0) {
            failures++;
            if (failures > 3)
                break;
            continue;
        }
        if (i >= warmup) {
            base[i - warmup] = b;
            first[i - warmup] = f;
            ack[i - warmup] = a;
        }
    }
    close(fd);
    close(s.fd);
    if (failures > 0) {
        fprintf(stderr, "spawn_client: %d spawn run(s) failed\n", failures);
        return 1;
    }
    mb = median_ms(base, runs);
    mf = median_ms(first, runs);
    ma = median_ms(ack, runs);
    printf("exec smoke agent -> first line      median %6.2f ms  "
           "(p10 %.2f, p90 %.2f)\n", mb, pct_ms(base, runs, 0.1),
           pct_ms(base, runs, 0.9));
    printf("POST spawn -> 202 answer            median %6.2f ms  "
           "(p10 %.2f, p90 %.2f)\n", ma, pct_ms(ack, runs, 0.1),
           pct_ms(ack, runs, 0.9));
    printf("POST spawn -> first agent.state     median %6.2f ms  "
           "(p10 %.2f, p90 %.2f)\n", mf, pct_ms(first, runs, 0.1),
           pct_ms(first, runs, 0.9));
    printf("SPAWN runs=%d baseline_ms=%.3f ack_ms=%.3f first_ms=%.3f "
           "overhead_ms=%.3f ratio=%.2f\n", runs, mb, ma, mf, mf - mb,
           mb > 0 ? mf / mb : 0);
    free(base);
    free(first);
    free(ack);
    return 0;
}

/* --- chatty: many agents at once ----------------------------------------- */

/*
 * Checks agent's session logs: exactly one run, whose agent lines carry
 * "seq":0..lines-1 in order.  Returns the lines found in order (lines
 * when all is well); *bad says how many were missing, extra or out of
 * order.
 */
static long
check_session(const char *data_dir, const char *agent, long lines,
              long *bad, char *why, size_t whylen)
{
    char dir[1024], path[1400], *line = NULL;
    size_t dl;
    size_t cap = 0;
    DIR *d;
    struct dirent *de;
    int files = 0;
    long next = 0, good = 0;
    FILE *f;

    *bad = 0;
    snprintf(dir, sizeof(dir), "%s/sessions/%s", data_dir, agent);
    d = opendir(dir);
    if (d == NULL) {
        snprintf(why, whylen, "no session directory %s", dir);
        *bad = lines;
        return 0;
    }
    path[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (l > 6 && strcmp(de->d_name + l - 6, ".jsonl") == 0) {
            files++;
            dl = strlen(dir);
            if (dl + 1 + l < sizeof(path)) {
                memcpy(path, dir, dl);
                path[dl] = '/';
                memcpy(path + dl + 1, de->d_name, l + 1);
            }
        }
    }
    closedir(d);
    if (files != 1) {
        snprintf(why, whylen, "%d session files (runs), not 1", files);
        *bad = lines;
        return 0;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, whylen, "cannot read %s", path);
        *bad = lines;
        return 0;
    }
    while (getline(&line, &cap, f) > 0) {
        char *p;
        long seq;

        if (strncmp(line, "{\"colibri\":", 11) == 0)
            continue;           /* the spawner's run_start / run_end */
        p = strstr(line, "\"seq\":");
        if (p == NULL) {
            (*bad)++;
            continue;
        }
        seq = strtol(p + 6, NULL, 10);
        if (seq == next) {
            good++;
            next++;
        } else {
            (*bad)++;
            if (seq > next)
                next = seq + 1;
        }
    }
    free(line);
    fclose(f);
    *bad += lines - next > 0 ? lines - next : 0;
    if (*bad > 0)
        snprintf(why, whylen, "%ld of %ld lines in order, %ld lost, "
                 "extra or out of order", good, lines, *bad);
    return good;
}

struct settle {
    char *settled;              /* per agent: reached done or error */
    int agents, n;
};

static void
settle_event(const char *data, int64_t at, void *ctx)
{
    struct settle *st = ctx;
    json_t *doc = json_loads(data, 0, NULL);
    const char *agent = json_string_value(json_object_get(doc, "agent"));
    const char *to = json_string_value(
        json_object_get(json_object_get(doc, "data"), "to"));
    int i;

    (void)at;
    if (agent != NULL && to != NULL && sscanf(agent, "chatty-%d", &i) == 1 &&
        i >= 0 && i < st->agents && !st->settled[i] &&
        (strcmp(to, "done") == 0 || strcmp(to, "error") == 0)) {
        st->settled[i] = 1;
        st->n++;
    }
    json_decref(doc);
}

static int
run_chatty(const char *data_dir, int agents, long lines, int interval,
           int timeout_s)
{
    int fd = http_connect(), i, left, failures = 0;
    char *running = calloc((size_t)agents, 1);
    double cpu0, cpu1, spawned_s, secs;
    int64_t t0, t_spawned, t1, deadline;
    long total_good = 0, total_bad = 0;
    struct settle settle = {calloc((size_t)agents, 1), agents, 0};
    struct sse s;

    if (running == NULL || settle.settled == NULL)
        die("out of memory");
    /* Settling is watched on the event stream, not by polling: the
     * daemon's CPU is to be spent on the agents only. */
    if (sse_open(&s, "agent.state") < 0)
        die("cannot open the event stream");
    cpu0 = daemon_cpu_s();
    t0 = now_ns();
    for (i = 0; i < agents; i++) {
        char body[512];
        json_t *doc = NULL;
        int st;

        snprintf(body, sizeof(body),
                 "{\"runner\":\"smoke\",\"id\":\"chatty-%d\",\"args\":"
                 "[\"--scenario\",\"chatty\",\"--lines\",\"%ld\","
                 "\"--delay-ms\",\"%d\"],\"max_restarts\":0}", i, lines,
                 interval);
        st = http_call(fd, "POST", "/api/v1/agents/spawn", body, &doc);
        json_decref(doc);
        if (st != 202) {
            fprintf(stderr, "spawn_client: spawn chatty-%d: status %d\n", i,
                    st);
            failures++;
            continue;
        }
        running[i] = 1;
    }
    t_spawned = now_ns();
    spawned_s = (double)(t_spawned - t0) / 1e9;
    deadline = t0 + (int64_t)timeout_s * 1000000000;
    while (settle.n < agents - failures && now_ns() < deadline) {
        struct pollfd pf = {s.fd, POLLIN, 0};

        if (poll(&pf, 1, 200) < 0 && errno != EINTR)
            die("poll");
        if (pf.revents && sse_read(&s, settle_event, &settle) < 0) {
            fprintf(stderr, "spawn_client: the event stream ended\n");
            break;
        }
    }
    close(s.fd);
    do {
        left = 0;
        for (i = 0; i < agents; i++) {
            char path[128];
            json_t *doc = NULL;
            int st;

            if (!running[i])
                continue;
            /* The exit as the store has it: recorded after the run's
             * last lines were ingested and logged (agent.process says
             * running false as soon as the run is reaped, before). */
            snprintf(path, sizeof(path), "/api/v1/agents/chatty-%d", i);
            st = http_call(fd, "GET", path, NULL, &doc);
            if (st == 200 && json_is_integer(json_object_get(
                    json_object_get(doc, "process"), "exit_status")))
                running[i] = 0;
            else
                left++;
            json_decref(doc);
        }
        if (left > 0)
            usleep(10000);
    } while (left > 0 && now_ns() < deadline);
    t1 = now_ns();
    cpu1 = daemon_cpu_s();
    secs = (double)(t1 - t0) / 1e9;
    if (left > 0) {
        fprintf(stderr, "spawn_client: %d agents still running after %d s\n",
                left, timeout_s);
        failures += left;
    }
    for (i = 0; i < agents; i++) {
        char agent[64], path[128], why[256] = "";
        json_t *proc = NULL, *doc = NULL;
        const char *state;
        long bad;

        snprintf(agent, sizeof(agent), "chatty-%d", i);
        snprintf(path, sizeof(path), "/api/v1/agents/%s/process", agent);
        http_call(fd, "GET", path, NULL, &proc);
        snprintf(path, sizeof(path), "/api/v1/agents/%s", agent);
        http_call(fd, "GET", path, NULL, &doc);
        state = json_string_value(json_object_get(doc, "state"));
        total_good += check_session(data_dir, agent, lines, &bad, why,
                                    sizeof(why));
        total_bad += bad;
        if (bad > 0 ||
            json_integer_value(json_object_get(proc, "exit_status")) != 0 ||
            json_integer_value(json_object_get(proc, "restarts")) != 0 ||
            state == NULL || strcmp(state, "done") != 0) {
            if (failures < 5)
                fprintf(stderr, "spawn_client: %s: state %s, exit %lld, "
                        "restarts %lld%s%s\n", agent, state ? state : "?",
                        (long long)json_integer_value(
                            json_object_get(proc, "exit_status")),
                        (long long)json_integer_value(
                            json_object_get(proc, "restarts")),
                        why[0] ? ", " : "", why);
            failures++;
        }
        json_decref(proc);
        json_decref(doc);
    }
    close(fd);
    free(running);
    free(settle.settled);
    printf("%d agents x %ld lines (%d ms apart): spawned in %.2f s, all "
           "exited after %.2f s (paced: %.2f s)\n", agents, lines, interval,
           spawned_s, secs, (double)lines * interval / 1000.0);
    printf("lines in session logs in order: %ld of %ld (%ld lost or out of "
           "order)\n", total_good, (long)agents * lines, total_bad);
    printf("daemon CPU %.2f s for %ld lines: %.1f ms per 10,000 lines "
           "(%.0f lines/s through the supervisor)\n", cpu1 - cpu0,
           total_good, total_good > 0 ? (cpu1 - cpu0) * 1e3 * 1e4 /
           (double)total_good : 0, (double)total_good / secs);
    printf("CHATTY agents=%d lines=%ld interval_ms=%d seconds=%.2f "
           "lines_ok=%ld lost=%ld failed_agents=%d cpu_s=%.2f "
           "cpu_ms_per_10k=%.1f\n", agents, lines, interval, secs,
           total_good, total_bad, failures, cpu1 - cpu0,
           total_good > 0 ? (cpu1 - cpu0) * 1e7 / (double)total_good : 0);
    return failures > 0 || total_bad > 0 ? 1 : 0;
}

/* --- main ---------------------------------------------------------------- */

static void
usage(void)
{
    fputs("usage: spawn_client first -p PORT -k TOKEN|@FILE -a SMOKE_AGENT "
          "[-n RUNS] [-w WARMUP]\n"
          "       spawn_client chatty -p PORT -k TOKEN|@FILE -D DATA_DIR "
          "-d DAEMON_PID [-n AGENTS] [-l LINES] [-i INTERVAL_MS] "
          "[-t TIMEOUT_S]\n", stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *mode, *smoke = NULL, *data_dir = NULL, *key = NULL;
    int port = 0, n = -1, warmup = 5, interval = 5, timeout_s = 120, opt;
    long lines = 1000;

    if (argc < 2)
        usage();
    mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "p:k:a:n:w:D:d:l:i:t:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'k': key = optarg; break;
        case 'a': smoke = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'D': data_dir = optarg; break;
        case 'd': daemon_pid = atoi(optarg); break;
        case 'l': lines = atol(optarg); break;
        case 'i': interval = atoi(optarg); break;
        case 't': timeout_s = atoi(optarg); break;
        default: usage();
        }
    }
    if (port <= 0 || key == NULL)
        usage();
    if (key[0] == '@') {
        FILE *f = fopen(key + 1, "r");

        if (f == NULL || fgets(token, sizeof(token), f) == NULL)
            die("cannot read the token file");
        fclose(f);
        token[strcspn(token, "\r\n")] = '\0';
    } else {
        snprintf(token, sizeof(token), "%s", key);
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (strcmp(mode, "first") == 0) {
        if (smoke == NULL)
            usage();
        return run_first(smoke, n > 0 ? n : 100, warmup < 0 ? 0 : warmup);
    }
    if (strcmp(mode, "chatty") == 0) {
        if (data_dir == NULL || lines < 6 || interval < 0)
            usage();
        return run_chatty(data_dir, n > 0 ? n : 200, lines, interval,
                          timeout_s);
    }
    usage();
    return 2;
}
