/*
 * ingest.c - ingestion benchmark: pi events through parse + glasspane +
 * commit (issue 4's target: >= 100,000 events/s).
 *
 *     ingest [-s SECONDS] [-b BATCH_LINES] [-a AGENTS] [-n] [FILE.jsonl...]
 *     ingest --http PORT TOKENFILE [-s SECONDS] [-b BATCH_LINES] [FILE...]
 *
 * In-process (the default): a store in a fresh temporary directory with
 * durability full, the event bus attached as in colibrid (each committed
 * agent.state event is rendered for subscribers; -n leaves it out), one
 * registered agent per -a (default 1), and a panes object.  The fixture
 * transcripts (default: the seven fixtures in tests/fixtures/pi under
 * $COLIBRI_SRCDIR or .) are concatenated and replayed in a loop, as
 * NDJSON batches of BATCH_LINES lines (default 1000) through
 * panes_ingest, for SECONDS (default 3).  With several agents, one thread
 * per agent feeds its own agent.  Reports events/s (wall and per CPU
 * second of the whole process, writer thread included).
 *
 * Over HTTP (--http): the same batches POSTed as application/x-ndjson to
 * a running colibrid's /api/v1/agents/{id}/events over one keep-alive
 * connection (the agent is registered first), for SECONDS.
 *
 * Output ends with one line "INGEST mode=... events=... seconds=...
 * events_per_s=..." for scripts.  Exit 0, or 1 when a batch failed.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "src/bus.h"
#include "src/limits.h"
#include "src/panes.h"
#include "src/store.h"
#include "src/util.h"

static const char *const default_files[] = {
    "text.jsonl", "tool.jsonl", "retry.jsonl", "fail.jsonl",
    "length.jsonl", "slow_sigterm.jsonl", "rpc_confirm_gate.jsonl",
};

/* Every fixture line, in order, each ending in '\n'. */
static const char **lines;
static size_t *line_lens;
static size_t nlines;

static void
add_file(const char *path)
{
    char *text = util_read_file(path, 64 * 1024 * 1024);
    char *p, *nl;

    if (text == NULL) {
        fprintf(stderr, "ingest: cannot read %s\n", path);
        exit(2);
    }
    for (p = text; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL) {
            /* last line without a newline: give it one */
            size_t n = strlen(p);
            char *copy = xmalloc(n + 2);

            memcpy(copy, p, n);
            copy[n] = '\n';
            copy[n + 1] = '\0';
            p = copy;
            nl = copy + n;
        }
        lines = xrealloc(lines, (nlines + 1) * sizeof(*lines));
        line_lens = xrealloc(line_lens, (nlines + 1) * sizeof(*line_lens));
        lines[nlines] = p;
        line_lens[nlines] = (size_t)(nl - p) + 1;
        nlines++;
    }
}

/* Batches: batch k holds lines k*B .. k*B+B-1 (mod nlines).  Only
 * nlines / gcd(nlines, B) of them differ; they are built once. */
struct batch {
    char *text;
    size_t len;
};
static struct batch *batches;
static size_t nbatches, batch_lines = 1000;

static size_t
gcd(size_t a, size_t b)
{
    while (b != 0) {
        size_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

static void
build_batches(void)
{
    size_t k, i;

    nbatches = nlines / gcd(nlines, batch_lines % nlines ? batch_lines % nlines
                                                         : nlines);
    batches = xcalloc(nbatches, sizeof(*batches));
    for (k = 0; k < nbatches; k++) {
        struct buf b;

        buf_init(&b, SIZE_MAX / 2);
        for (i = 0; i < batch_lines; i++) {
            size_t at = (k * batch_lines + i) % nlines;

            buf_append(&b, lines[at], line_lens[at]);
        }
        batches[k].text = b.data;
        batches[k].len = b.len;
    }
}

static double
wall_s(void)
{
    return (double)util_mono_us() / 1e6;
}

static double
cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- in-process ------------------------------------------------------- */

static struct panes *panes;
static double seconds = 3;
static int failed;

struct feeder {
    pthread_t thread;
    char agent[32];
    size_t events, transitions;
};

static void *
feeder_main(void *arg)
{
    struct feeder *f = arg;
    double end = wall_s() + seconds;
    size_t k = 0;

    while (wall_s() < end) {
        struct problem err = {0};
        json_t *report = NULL;
        const struct batch *b = &batches[k++ % nbatches];

        if (panes_ingest(panes, f->agent, b->text, b->len, NULL, &report,
                         &err) < 0) {
            fprintf(stderr, "ingest: batch failed: %s\n", err.detail);
            problem_clear(&err);
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
            break;
        }
        f->events += (size_t)json_integer_value(json_object_get(report,
                                                                "accepted"));
        f->transitions += json_array_size(json_object_get(report,
                                                          "transitions"));
        if (json_integer_value(json_object_get(report, "rejected_count"))) {
            fprintf(stderr, "ingest: lines rejected: %s\n",
                    json_dumps(json_object_get(report, "rejected"), 0));
            __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
        }
        json_decref(report);
    }
    return NULL;
}

static int
run_inprocess(int agents, int with_bus)
{
    char dir[] = "/tmp/colibri-ingest.XXXXXX";
    char *path, *cmd;
    struct store *store = NULL;
    struct store_options opts;
    struct bus *bus = NULL;
    struct problem err = {0};
    struct feeder *f;
    size_t events = 0, transitions = 0;
    double w0, c0, w, c;
    int i;

    if (mkdtemp(dir) == NULL) {
        perror("ingest: mkdtemp");
        return 2;
    }
    path = xasprintf("%s/colibri.sqlite", dir);
    memset(&opts, 0, sizeof(opts));
    opts.path = path;
    opts.durable = 1;
    if (store_open(&store, &opts, &err) < 0) {
        fprintf(stderr, "ingest: %s\n", err.detail);
        return 2;
    }
    if (with_bus) {
        bus = bus_new(LIMIT_BUS_RING, 0);
        store_set_publisher(store, bus_publish, bus);
    }
    panes_new(&panes, store);
    f = xcalloc((size_t)agents, sizeof(*f));
    for (i = 0; i < agents; i++) {
        json_t *fields, *doc = NULL;

        snprintf(f[i].agent, sizeof(f[i].agent), "bench-%d", i + 1);
        fields = json_pack("{s:s, s:s}", "id", f[i].agent, "kind", "pi");
        if (store_agent_register(store, fields, &doc, &err) < 0) {
            fprintf(stderr, "ingest: register: %s\n", err.detail);
            return 2;
        }
        json_decref(fields);
        json_decref(doc);
    }
    w0 = wall_s();
    c0 = cpu_s();
    for (i = 0; i < agents; i++)
        pthread_create(&f[i].thread, NULL, feeder_main, &f[i]);
    for (i = 0; i < agents; i++) {
        pthread_join(f[i].thread, NULL);
        events += f[i].events;
        transitions += f[i].transitions;
    }
    w = wall_s() - w0;
    c = cpu_s() - c0;
    printf("in-process: %zu events (%zu transitions committed) in %.2f s "
           "with %d agent(s), batches of %zu, durability full%s\n", events,
           transitions, w, agents, batch_lines,
           with_bus ? ", bus attached" : "");
    printf("  %.0f events/s wall, %.0f events/s per CPU second "
           "(%.2f s CPU)\n", events / w, events / c, c);
    printf("INGEST mode=inprocess agents=%d batch=%zu events=%zu "
           "seconds=%.3f events_per_s=%.0f events_per_cpu_s=%.0f\n",
           agents, batch_lines, events, w, events / w, events / c);
    panes_free(panes);
    store_close(store);
    bus_free(bus);
    free(f);
    cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "ingest: cannot remove %s\n", dir);
    free(cmd);
    free(path);
    return failed;
}

/* --- over HTTP ---------------------------------------------------------- */

static int
http_call(int fd, const char *method, const char *path, const char *token,
          const char *type, const char *body, size_t len, char **answer)
{
    char head[1024];
    static char buf[1 << 20];
    size_t have = 0, need = 0;
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n", method, path, token,
                     type, len);
    char *end = NULL;

    if (write(fd, head, (size_t)n) != n)
        return -1;
    while (len > 0) {
        ssize_t w = write(fd, body, len);

        if (w <= 0)
            return -1;
        body += w;
        len -= (size_t)w;
    }
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);

        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = '\0';
        if (end == NULL && (end = strstr(buf, "\r\n\r\n")) != NULL) {
            char *cl = strcasestr(buf, "\ncontent-length:");

            need = (size_t)(end + 4 - buf) +
                   (cl ? (size_t)strtol(cl + 16, NULL, 10) : 0);
        }
        if (end != NULL && have >= need)
            break;
        if (have == sizeof(buf) - 1)
            return -1;
    }
    if (answer)
        *answer = end + 4;
    return atoi(buf + 9);
}

static int
run_http(int port, const char *token_file)
{
    struct sockaddr_in addr;
    char token[256], path[128], *answer;
    FILE *tf = fopen(token_file, "r");
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, status;
    size_t events = 0, k = 0;
    double w0, end;
    char agent[64];

    if (tf == NULL || fgets(token, sizeof(token), tf) == NULL) {
        fprintf(stderr, "ingest: cannot read %s\n", token_file);
        return 2;
    }
    fclose(tf);
    token[strcspn(token, "\r\n")] = '\0';
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        perror("ingest: connect");
        return 2;
    }
    snprintf(agent, sizeof(agent), "bench-http-%d", (int)getpid());
    {
        char body[128];
        int n = snprintf(body, sizeof(body),
                         "{\"id\":\"%s\",\"kind\":\"pi\"}", agent);

        status = http_call(fd, "POST", "/api/v1/agents", token,
                           "application/json", body, (size_t)n, NULL);
        if (status != 201 && status != 200) {
            fprintf(stderr, "ingest: registering the agent: HTTP %d\n",
                    status);
            return 2;
        }
    }
    snprintf(path, sizeof(path), "/api/v1/agents/%s/events", agent);
    w0 = wall_s();
    end = w0 + seconds;
    while (wall_s() < end) {
        const struct batch *b = &batches[k++ % nbatches];
        json_t *report;

        status = http_call(fd, "POST", path, token, "application/x-ndjson",
                           b->text, b->len, &answer);
        if (status != 200) {
            fprintf(stderr, "ingest: batch answered HTTP %d: %.300s\n",
                    status, status > 0 ? answer : "");
            return 1;
        }
        report = json_loads(answer, 0, NULL);
        events += (size_t)json_integer_value(json_object_get(report,
                                                             "accepted"));
        json_decref(report);
    }
    close(fd);
    {
        double w = wall_s() - w0;

        printf("over HTTP: %zu events in %.2f s, batches of %zu: %.0f "
               "events/s\n", events, w, batch_lines, events / w);
        printf("INGEST mode=http batch=%zu events=%zu seconds=%.3f "
               "events_per_s=%.0f\n", batch_lines, events, w, events / w);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *dir = getenv("COLIBRI_SRCDIR");
    int agents = 1, with_bus = 1, http_port = 0, i;
    const char *token_file = NULL;
    size_t nfiles = 0;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "-b") && i + 1 < argc)
            batch_lines = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-a") && i + 1 < argc)
            agents = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n"))
            with_bus = 0;
        else if (!strcmp(argv[i], "--http") && i + 2 < argc) {
            http_port = atoi(argv[++i]);
            token_file = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: ingest [-s SECONDS] [-b LINES] [-a AGENTS]"
                    " [-n] [--http PORT TOKENFILE] [FILE.jsonl...]\n");
            return 2;
        } else {
            add_file(argv[i]);
            nfiles++;
        }
    }
    if (batch_lines < 1 || agents < 1 || seconds <= 0) {
        fprintf(stderr, "ingest: bad arguments\n");
        return 2;
    }
    if (nfiles == 0) {
        size_t k;

        for (k = 0; k < sizeof(default_files) / sizeof(default_files[0]);
             k++) {
            char *path = xasprintf("%s/tests/fixtures/pi/%s",
                                   dir ? dir : ".", default_files[k]);

            add_file(path);
            free(path);
        }
    }
    build_batches();
    if (http_port > 0)
        return run_http(http_port, token_file);
    return run_inprocess(agents, with_bus);
}
