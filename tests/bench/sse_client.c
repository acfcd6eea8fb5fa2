/*
 * sse_client.c - load client for colibrid's event streams (GET
 * /api/v1/events): many subscribers, one publisher, publish-to-receipt
 * latency across every delivery, and the daemon's CPU and memory.
 *
 *     sse_client -p PORT -k TOKEN|@TOKENFILE -n SUBSCRIBERS [-m EVENTS]
 *                [-i INTERVAL_MS] [-d DAEMON_PID] [-I IDLE_SECONDS]
 *                [-c CONNECTS_IN_FLIGHT] [-w DRAIN_SECONDS]
 *
 * One thread, epoll, non-blocking sockets.  It opens SUBSCRIBERS streams
 * to 127.0.0.1:PORT over HTTP/1.1 (so chunked, as a browser's
 * EventSource gets them), at most CONNECTS_IN_FLIGHT not yet established
 * at a time (the listen backlog is 1024), and counts a stream established
 * once it has answered 200 and sent its "retry:" line.  Then:
 *
 *   idle     the daemon's CPU time (utime + stime of /proc/PID/stat) over
 *            IDLE_SECONDS with every subscriber connected and nothing
 *            published;
 *   memory   the daemon's VmRSS before the first subscriber, once all
 *            are established, and after the publish phase;
 *   publish  a second thread POSTs EVENTS tasks, INTERVAL_MS apart, over
 *            one keep-alive connection; each title carries its sequence
 *            number and the send time (CLOCK_REALTIME ns, taken just
 *            before the request is written).  Every task.created frame on
 *            every stream gives one delivery: receipt time (taken when
 *            the read that completed the frame returned) minus send time.
 *            Each stream must see the sequence numbers 0..EVENTS-1 once
 *            each and in order; anything else is counted as lost or
 *            duplicated.
 *   cpu      the daemon's CPU time during the publish phase (from the
 *            first publish until the last delivery) per delivery.
 *
 * Output: human lines, then one machine line starting with "SSE " of
 * key=value pairs (the scripts parse it).  Exit status 0 when every
 * stream was established and every delivery arrived exactly once, 1
 * otherwise, 2 on a usage or set-up error.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE_KEEP 200           /* bytes of each line kept for parsing */
#define TITLE_TAG "sse-bench "

enum conn_state { C_CONNECTING, C_HEADERS, C_BODY, C_DEAD };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_CRLF, CH_NONE };

struct conn {
    int fd;
    enum conn_state state;
    enum chunk_state ch;
    size_t chunk_left;
    char hdr[1024];
    size_t hlen;
    char line[LINE_KEEP + 1];
    size_t llen;                /* kept bytes of the current line */
    int established;
    int frame_seq;              /* bench sequence in this frame, -1 none */
    int64_t frame_sent_ns;
    int64_t next_seq;           /* expected next sequence */
    int64_t frame_id;           /* the id: line of this frame */
    int64_t last_id;            /* of the last data frame */
};

static struct conn *conns;
static int nconns, target_conns, established, inflight, dead;
static int max_inflight = 256;
static int epfd;
static struct sockaddr_in addr;
static char request[1024];
static size_t request_len;

/* deliveries */
static int64_t *lat_ns;
static size_t nlat, lat_cap;
static long lost, dup_or_disorder, other_frames;
static int64_t *event_last_ns;  /* per event: the slowest delivery */
static int64_t read_now_ns;

/* publisher */
static int port, events = 100, interval_ms = 300;
static char token[256];
static volatile int publisher_done;
static int publisher_errors;
static int64_t pub_rtt_max_ns, pub_rtt_sum_ns;

static int64_t
now_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *msg)
{
    fprintf(stderr, "sse_client: %s\n", msg);
    exit(2);
}

/* --- the daemon, through /proc ----------------------------------------- */

static int daemon_pid;

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
    p += 2;                     /* field 3, state */
    for (field = 3; field < 14 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long
daemon_rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    if (daemon_pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", daemon_pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* --- subscribers -------------------------------------------------------- */

static void
conn_kill(struct conn *c, const char *why)
{
    if (c->state == C_DEAD)
        return;
    if (!c->established)
        inflight--;
    if (dead < 5)
        fprintf(stderr, "sse_client: stream %ld: %s\n",
                (long)(c - conns), why);
    dead++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
}

static void
conn_open(void)
{
    struct conn *c = &conns[nconns];
    struct epoll_event ev;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket() failed (open-files limit?)");
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->frame_seq = -1;
    c->state = C_CONNECTING;
    nconns++;
    inflight++;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
        errno != EINPROGRESS) {
        conn_kill(c, strerror(errno));
        return;
    }
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = (uint32_t)(c - conns);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

/* A complete SSE line (its first LINE_KEEP bytes). */
static void
sse_line(struct conn *c, const char *line, size_t len)
{
    const char *p;

    if (len == 0) {
        /* end of a frame */
        if (c->frame_seq >= 0) {
            /* Event ids must increase from one data frame to the next
             * (a frame with only an id, as a stream may start with, is
             * no event). */
            if (c->frame_id <= c->last_id)
                dup_or_disorder++;
            c->last_id = c->frame_id;
            if (c->frame_seq == c->next_seq) {
                c->next_seq++;
            } else if (c->frame_seq > c->next_seq) {
                lost += c->frame_seq - c->next_seq;
                c->next_seq = c->frame_seq + 1;
            } else {
                dup_or_disorder++;
            }
            if (nlat == lat_cap) {
                lat_cap = lat_cap ? lat_cap * 2 : 1 << 20;
                lat_ns = realloc(lat_ns, lat_cap * sizeof(*lat_ns));
                if (lat_ns == NULL)
                    die("out of memory");
            }
            lat_ns[nlat++] = read_now_ns - c->frame_sent_ns;
            if (event_last_ns != NULL && c->frame_seq < events &&
                read_now_ns - c->frame_sent_ns > event_last_ns[c->frame_seq])
                event_last_ns[c->frame_seq] = read_now_ns - c->frame_sent_ns;
        }
        c->frame_seq = -1;
        return;
    }
    if (!c->established) {
        if (len >= 6 && memcmp(line, "retry:", 6) == 0) {
            c->established = 1;
            established++;
            inflight--;
        }
        return;
    }
    if (len >= 3 && memcmp(line, "id:", 3) == 0) {
        c->frame_id = strtoll(line + 3, NULL, 10);
        return;
    }
    if (len >= 5 && memcmp(line, "data:", 5) == 0) {
        long long seq, sent;

        p = memmem(line, len, "\"title\":\"" TITLE_TAG,
                   sizeof("\"title\":\"" TITLE_TAG) - 1);
        if (p == NULL) {
            other_frames++;
            return;
        }
        p += sizeof("\"title\":\"" TITLE_TAG) - 1;
        if (sscanf(p, "%lld %lld", &seq, &sent) == 2) {
            c->frame_seq = (int)seq;
            c->frame_sent_ns = sent;
        }
    }
}

/* Body bytes (de-chunked) into the SSE line parser. */
static void
sse_bytes(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t keep = take;

        if (c->llen + keep > LINE_KEEP)
            keep = LINE_KEEP - c->llen;
        memcpy(c->line + c->llen, p, keep);
        c->llen += keep;
        if (nl == NULL)
            return;
        if (c->llen > 0 && c->line[c->llen - 1] == '\r')
            c->llen--;
        c->line[c->llen] = '\0';
        sse_line(c, c->line, c->llen);
        c->llen = 0;
        p = nl + 1;
        n -= take + 1;
    }
}

static void
body_bytes(struct conn *c, const char *p, size_t n)
{
    if (c->ch == CH_NONE) {
        sse_bytes(c, p, n);
        return;
    }
    while (n > 0 && c->state == C_BODY) {
        switch (c->ch) {
        case CH_SIZE:
        case CH_EXT:
            if (*p == '\n') {
                if (c->chunk_left == 0) {
                    conn_kill(c, "the stream ended (last chunk)");
                    return;
                }
                c->ch = CH_DATA;
            } else if (c->ch == CH_SIZE && isxdigit((unsigned char)*p)) {
                c->chunk_left = c->chunk_left * 16 +
                    (size_t)(isdigit((unsigned char)*p)
                             ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10));
            } else if (*p == ';') {
                c->ch = CH_EXT;
            }
            p++;
            n--;
            break;
        case CH_DATA: {
            size_t take = n < c->chunk_left ? n : c->chunk_left;

            sse_bytes(c, p, take);
            p += take;
            n -= take;
            c->chunk_left -= take;
            if (c->chunk_left == 0)
                c->ch = CH_CRLF;
            break;
        }
        case CH_CRLF:
            if (*p == '\n') {
                c->ch = CH_SIZE;
                c->chunk_left = 0;
            }
            p++;
            n--;
            break;
        case CH_NONE:
            break;
        }
    }
}

static void
headers_done(struct conn *c, size_t end)
{
    char *h = c->hdr;
    char *te;

    if (strncmp(h, "HTTP/1.1 200", 12) != 0 &&
        strncmp(h, "HTTP/1.0 200", 12) != 0) {
        char why[96];
        char *eol = strstr(h, "\r\n");

        snprintf(why, sizeof(why), "answered '%.*s'",
                 eol ? (int)(eol - h) : 40, h);
        conn_kill(c, why);
        return;
    }
    te = strcasestr(h, "\ntransfer-encoding:");
    c->ch = te != NULL && te < h + end &&
            strncasecmp(te + 19 + strspn(te + 19, " "), "chunked", 7) == 0
                ? CH_SIZE : CH_NONE;
    c->chunk_left = 0;
    c->state = C_BODY;
}

static void
conn_readable(struct conn *c)
{
    char buf[16384];

    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        size_t off = 0;

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            conn_kill(c, strerror(errno));
            return;
        }
        if (n == 0) {
            conn_kill(c, "closed by the daemon");
            return;
        }
        read_now_ns = now_ns(CLOCK_REALTIME);
        if (c->state == C_HEADERS) {
            char *end;
            size_t room = sizeof(c->hdr) - 1 - c->hlen;
            size_t take = (size_t)n < room ? (size_t)n : room;

            memcpy(c->hdr + c->hlen, buf, take);
            c->hlen += take;
            c->hdr[c->hlen] = '\0';
            end = strstr(c->hdr, "\r\n\r\n");
            if (end == NULL) {
                if (c->hlen == sizeof(c->hdr) - 1)
                    conn_kill(c, "headers too long");
                if ((size_t)n < sizeof(buf))
                    return;
                continue;
            }
            /* bytes of buf after the headers */
            off = take - (c->hlen - (size_t)(end + 4 - c->hdr));
            headers_done(c, (size_t)(end - c->hdr));
            if (c->state != C_BODY)
                return;
        }
        body_bytes(c, buf + off, (size_t)n - off);
        if (c->state == C_DEAD || (size_t)n < sizeof(buf))
            return;
    }
}

static void
conn_writable(struct conn *c)
{
    struct epoll_event ev;
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_kill(c, err ? strerror(err) : "connect failed");
        return;
    }
    /* The request is small: one write on a fresh socket takes it. */
    if (write(c->fd, request, request_len) != (ssize_t)request_len) {
        conn_kill(c, "short write of the request");
        return;
    }
    c->state = C_HEADERS;
    ev.events = EPOLLIN;
    ev.data.u32 = (uint32_t)(c - conns);
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Runs the event loop for up to timeout_ms (or until done() says so). */
static void
pump(int timeout_ms, int (*done)(void))
{
    static struct epoll_event evs[1024];
    int64_t deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000000;

    for (;;) {
        int64_t left = (deadline - now_ns(CLOCK_MONOTONIC)) / 1000000;
        int n, i;

        if (done != NULL && done())
            return;
        if (left <= 0)
            return;
        n = epoll_wait(epfd, evs, 1024, left > 100 ? 100 : (int)left);
        for (i = 0; i < n; i++) {
            struct conn *c = &conns[evs[i].data.u32];

            if (c->state == C_CONNECTING) {
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                    conn_writable(c);
            } else if (c->state != C_DEAD) {
                conn_readable(c);
            }
        }
        while (nconns < target_conns && inflight < max_inflight)
            conn_open();
    }
}

static int
all_established(void)
{
    return established + dead >= target_conns;
}

static size_t expected;

/* Done when everything arrived, or when the publisher has finished and
 * nothing more arrived for drain_ms. */
static int64_t drain_ms = 10000, last_progress_ns;
static size_t last_nlat;

static int
all_delivered(void)
{
    int64_t now = now_ns(CLOCK_MONOTONIC);

    if (nlat != last_nlat || !publisher_done) {
        last_nlat = nlat;
        last_progress_ns = now;
    }
    return publisher_done &&
           (nlat >= expected || now - last_progress_ns > drain_ms * 1000000);
}

/* --- publisher --------------------------------------------------------- */

static int
read_response(int fd, int *status)
{
    char buf[8192];
    size_t have = 0;
    char *end = NULL;
    long clen = 0;

    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "\ncontent-length:");

            *status = atoi(buf + 9);
            clen = cl ? strtol(cl + 16, NULL, 10) : 0;
        }
        if (end != NULL && have >= (size_t)(end + 4 - buf) + (size_t)clen)
            return 0;
        if (have == sizeof(buf) - 1)
            return -1;
    }
}

static void *
publisher_main(void *arg)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, i;
    int64_t start = now_ns(CLOCK_MONOTONIC);

    (void)arg;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        publisher_errors++;
        publisher_done = 1;
        return NULL;
    }
    for (i = 0; i < events; i++) {
        char body[128], req[1024];
        int64_t due = start + (int64_t)i * interval_ms * 1000000, t0, t1;
        struct timespec ts;
        int len, blen, status = 0;

        ts.tv_sec = due / 1000000000;
        ts.tv_nsec = due % 1000000000;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        t0 = now_ns(CLOCK_MONOTONIC);
        blen = snprintf(body, sizeof(body), "{\"title\":\"" TITLE_TAG
                        "%d %lld\"}", i,
                        (long long)now_ns(CLOCK_REALTIME));
        len = snprintf(req, sizeof(req),
                       "POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Authorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s", token, blen, body);
        if (write(fd, req, (size_t)len) != len ||
            read_response(fd, &status) < 0 || status != 201) {
            fprintf(stderr, "sse_client: publish %d failed (status %d)\n",
                    i, status);
            publisher_errors++;
            break;
        }
        t1 = now_ns(CLOCK_MONOTONIC);
        pub_rtt_sum_ns += t1 - t0;
        if (t1 - t0 > pub_rtt_max_ns)
            pub_rtt_max_ns = t1 - t0;
    }
    close(fd);
    __atomic_store_n(&publisher_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static double
self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static double
pct_ms(double p)
{
    size_t i;

    if (nlat == 0)
        return 0;
    i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return (double)lat_ns[i] / 1e6;
}

int
main(int argc, char **argv)
{
    struct rlimit rl;
    pthread_t pub;
    double idle_s = 5, drain_s = 10, cpu0, cpu1, idle_cpu, pub_cpu;
    double self0, self_cpu;
    long rss0, rss1, rss2;
    int64_t t0, t1;
    int opt, i;

    while ((opt = getopt(argc, argv, "p:k:n:m:i:d:I:c:w:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'k':
            if (optarg[0] == '@') {
                FILE *f = fopen(optarg + 1, "r");

                if (f == NULL || fgets(token, sizeof(token), f) == NULL)
                    die("cannot read the token file");
                fclose(f);
                token[strcspn(token, "\r\n")] = '\0';
            } else {
                snprintf(token, sizeof(token), "%s", optarg);
            }
            break;
        case 'n': target_conns = atoi(optarg); break;
        case 'm': events = atoi(optarg); break;
        case 'i': interval_ms = atoi(optarg); break;
        case 'd': daemon_pid = atoi(optarg); break;
        case 'I': idle_s = atof(optarg); break;
        case 'c': max_inflight = atoi(optarg); break;
        case 'w': drain_s = atof(optarg); break;
        default:
            fprintf(stderr, "usage: sse_client -p PORT -k TOKEN|@FILE -n N "
                    "[-m EVENTS] [-i MS] [-d PID] [-I IDLE_S] [-c INFLIGHT] "
                    "[-w DRAIN_S]\n");
            return 2;
        }
    }
    if (port <= 0 || target_conns <= 0 || token[0] == '\0' || events < 0 ||
        max_inflight <= 0)
        die("need -p PORT, -k TOKEN and -n SUBSCRIBERS");
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)target_conns + 16)
        die("the open-files limit is below the number of subscribers");

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    request_len = (size_t)snprintf(request, sizeof(request),
        "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n",
        token);
    conns = calloc((size_t)target_conns, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || epfd < 0)
        die("set-up failed");

    /* connect */
    rss0 = daemon_rss_kib();
    t0 = now_ns(CLOCK_MONOTONIC);
    while (nconns < target_conns && inflight < max_inflight)
        conn_open();
    pump(120000, all_established);
    t1 = now_ns(CLOCK_MONOTONIC);
    printf("subscribers: %d established in %.2f s (%d failed)\n",
           established, (double)(t1 - t0) / 1e9, dead);
    if (established < target_conns) {
        printf("SSE n=%d established=%d failed=1\n", target_conns,
               established);
        return 1;
    }
    pump(500, NULL);            /* let the daemon settle */
    rss1 = daemon_rss_kib();

    /* idle */
    cpu0 = daemon_cpu_s();
    pump((int)(idle_s * 1000), NULL);
    cpu1 = daemon_cpu_s();
    idle_cpu = cpu1 - cpu0;
    printf("idle: daemon CPU %.3f s over %.1f s with %d subscribers\n",
           idle_cpu, idle_s, established);
    printf("memory: daemon RSS %ld KiB before, %ld KiB with %d subscribers:"
           " %.2f KiB per subscriber\n", rss0, rss1, established,
           (double)(rss1 - rss0) / established);

    /* publish */
    expected = (size_t)established * (size_t)events;
    lat_cap = expected + 16;
    lat_ns = malloc(lat_cap * sizeof(*lat_ns));
    event_last_ns = calloc((size_t)events + 1, sizeof(*event_last_ns));
    if (lat_ns == NULL || event_last_ns == NULL)
        die("out of memory");
    cpu0 = daemon_cpu_s();
    self0 = self_cpu_s();
    t0 = now_ns(CLOCK_MONOTONIC);
    if (pthread_create(&pub, NULL, publisher_main, NULL) != 0)
        die("cannot start the publisher");
    drain_ms = (int64_t)(drain_s * 1000);
    pump(24 * 3600 * 1000, all_delivered);
    cpu1 = daemon_cpu_s();
    self_cpu = self_cpu_s() - self0;
    t1 = now_ns(CLOCK_MONOTONIC);
    pthread_join(pub, NULL);
    pub_cpu = cpu1 - cpu0;
    rss2 = daemon_rss_kib();
    for (i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];

        if (c->state != C_DEAD && c->next_seq < events)
            lost += events - c->next_seq;
    }
    qsort(lat_ns, nlat, sizeof(*lat_ns), cmp_i64);
    printf("publish: %d events %d ms apart in %.2f s; request round trip "
           "mean %.2f ms, max %.2f ms\n", events, interval_ms,
           (double)(t1 - t0) / 1e9,
           events ? (double)pub_rtt_sum_ns / events / 1e6 : 0,
           (double)pub_rtt_max_ns / 1e6);
    printf("deliveries: %zu of %zu expected (%ld lost, %ld duplicate or out"
           " of order, %d streams dropped)\n", nlat, expected, lost,
           dup_or_disorder, dead);
    printf("latency publish->receipt: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms,"
           " max %.2f ms\n", pct_ms(0.50), pct_ms(0.90), pct_ms(0.99),
           nlat ? (double)lat_ns[nlat - 1] / 1e6 : 0.0);
    if (events > 0) {
        /* How long each event took to reach its last subscriber: a
         * steady figure says the fan-out itself, a long tail says
         * something else (another process taking the cores). */
        qsort(event_last_ns, (size_t)events, sizeof(*event_last_ns), cmp_i64);
        printf("fan-out (last delivery of each event): median %.2f ms, "
               "p90 %.2f ms, max %.2f ms\n",
               (double)event_last_ns[events / 2] / 1e6,
               (double)event_last_ns[(size_t)(0.9 * (events - 1) + 0.5)] / 1e6,
               (double)event_last_ns[events - 1] / 1e6);
    }
    printf("cpu: daemon %.2f s during publishing = %.2f us per delivery\n",
           pub_cpu, nlat ? pub_cpu * 1e6 / (double)nlat : 0.0);
    printf("cpu: this client %.2f s = %.2f us per delivery\n", self_cpu,
           nlat ? self_cpu * 1e6 / (double)nlat : 0.0);
    printf("memory: daemon RSS %ld KiB after publishing: %.2f KiB per "
           "subscriber\n", rss2, (double)(rss2 - rss0) / established);
    printf("SSE n=%d established=%d events=%d deliveries=%zu expected=%zu "
           "lost=%ld dup=%ld dropped=%d p50_ms=%.2f p90_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f idle_cpu_s=%.3f cpu_us=%.2f "
           "rss0_kib=%ld rss_kib=%ld rss_pub_kib=%ld per_sub_kib=%.2f "
           "per_sub_pub_kib=%.2f pub_errors=%d client_cpu_us=%.2f "
           "fanout_median_ms=%.2f\n",
           target_conns, established, events, nlat, expected, lost,
           dup_or_disorder, dead, pct_ms(0.50), pct_ms(0.90), pct_ms(0.99),
           nlat ? (double)lat_ns[nlat - 1] / 1e6 : 0.0, idle_cpu,
           nlat ? pub_cpu * 1e6 / (double)nlat : 0.0, rss0, rss1, rss2,
           (double)(rss1 - rss0) / established,
           (double)(rss2 - rss0) / established, publisher_errors,
           nlat ? self_cpu * 1e6 / (double)nlat : 0.0,
           events > 0 ? (double)event_last_ns[events / 2] / 1e6 : 0.0);
    fflush(stdout);
    /* Close with a reset: no TIME_WAIT left holding 10,000 local ports
     * for the next run. */
    for (i = 0; i < nconns; i++) {
        struct linger lg = {1, 0};

        if (conns[i].fd >= 0) {
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(conns[i].fd);
        }
    }
    return (nlat == expected && lost == 0 && dup_or_disorder == 0 &&
            dead == 0 && publisher_errors == 0) ? 0 : 1;
}
