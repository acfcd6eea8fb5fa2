/*
 * glasspane.c - ingestion micro-benchmark: pi events through json_loadb
 * and glasspane_feed, the first two steps of parse + glasspane + commit.
 *
 *     glasspane [ROUNDS [FILE.jsonl...]]
 *
 * Loads the transcripts (default: every fixture in tests/fixtures/pi under
 * $COLIBRI_SRCDIR or .), then replays all their lines ROUNDS times (default
 * 2000) through one machine, as one agent's stream, and prints events per
 * second for four loops: parse only, feed only (events parsed once,
 * beforehand), parse + feed, and parse + feed with the fast path an
 * ingester can take (read "type" off the raw line, skip the parse when
 * glasspane_can_skip says the event changes nothing).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "src/glasspane.h"
#include "src/util.h"

static const char *const default_files[] = {
    "text.jsonl",
    "tool.jsonl",
    "retry.jsonl",
    "fail.jsonl",
    "length.jsonl",
    "slow_sigterm.jsonl",
    "rpc_confirm_gate.jsonl",
};

struct line {
    const char *text;
    size_t len;
    json_t *event;
};

static struct line *lines;
static size_t nlines, lines_size;
static char *texts[64];
static size_t ntexts;

static void
add_file(const char *path)
{
    char *text = util_read_file(path, 64 * 1024 * 1024);
    char *p, *nl;

    if (!text || ntexts == sizeof(texts) / sizeof(texts[0])) {
        fprintf(stderr, "glasspane: cannot read %s\n", path);
        exit(1);
    }
    texts[ntexts++] = text;
    for (p = text; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p) - 1;
        if (nlines == lines_size) {
            lines_size = lines_size ? 2 * lines_size : 256;
            lines = xrealloc(lines, lines_size * sizeof(*lines));
        }
        lines[nlines].text = p;
        lines[nlines].len = (size_t)(nl - p) + 1;
        lines[nlines].event = NULL;
        nlines++;
    }
}

static json_t *
parse(const struct line *l)
{
    json_error_t err;
    json_t *event = json_loadb(l->text, l->len, 0, &err);

    if (!event) {
        fprintf(stderr, "glasspane: bad line: %s\n", err.text);
        exit(1);
    }
    return event;
}

/* Wall and CPU time since a start: the machine may be shared, and CPU
 * time says what the work costs when it is. */
struct clock_mark {
    int64_t wall_us;
    clock_t cpu;
};

static struct clock_mark
mark(void)
{
    struct clock_mark m = {util_mono_us(), clock()};

    return m;
}

/* The "type" of a raw line without parsing it: pi writes it first. */
static int
sniff_type(const struct line *l, const char **type, size_t *len)
{
    static const char prefix[] = "{\"type\":\"";
    const char *end;

    if (l->len < sizeof(prefix) || memcmp(l->text, prefix, sizeof(prefix) - 1))
        return 0;
    *type = l->text + sizeof(prefix) - 1;
    end = memchr(*type, '"', l->len - (sizeof(prefix) - 1));
    if (!end)
        return 0;
    *len = (size_t)(end - *type);
    return 1;
}

static void
report(const char *what, size_t events, struct clock_mark start,
       size_t transitions)
{
    double wall = (util_mono_us() - start.wall_us) / 1e6;
    double cpu = (double)(clock() - start.cpu) / CLOCKS_PER_SEC;

    printf("%-10s %8zu events: %6.3f s wall %9.0f ev/s, "
           "%6.3f s CPU %9.0f ev/s (%zu transitions)\n",
           what, events, wall, events / wall, cpu, events / cpu, transitions);
}

int
main(int argc, char **argv)
{
    struct gp_transition t[GP_MAX_TRANSITIONS];
    struct glasspane *g;
    const char *dir = getenv("COLIBRI_SRCDIR");
    long rounds = argc > 1 ? atol(argv[1]) : 2000;
    size_t i, events, transitions, skipped;
    struct clock_mark start;
    int64_t now;
    long r;

    if (rounds < 1)
        rounds = 1;
    if (argc > 2) {
        for (i = 2; i < (size_t)argc; i++)
            add_file(argv[i]);
    } else {
        for (i = 0; i < sizeof(default_files) / sizeof(default_files[0]); i++) {
            char *path = xasprintf("%s/tests/fixtures/pi/%s", dir ? dir : ".",
                                   default_files[i]);

            add_file(path);
            free(path);
        }
    }
    events = nlines * (size_t)rounds;

    /* Parse only. */
    start = mark();
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nlines; i++)
            json_decref(parse(&lines[i]));
    report("parse", events, start, 0);

    /* Feed only, on events parsed once. */
    for (i = 0; i < nlines; i++)
        lines[i].event = parse(&lines[i]);
    g = glasspane_new(GP_IDLE);
    transitions = 0;
    now = 0;
    start = mark();
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nlines; i++) {
            now += 10;
            transitions += (size_t)glasspane_feed(g, lines[i].event, now, t,
                                                  GP_MAX_TRANSITIONS);
        }
    report("feed", events, start, transitions);
    glasspane_free(g);

    /* The pipeline's first two steps. */
    g = glasspane_new(GP_IDLE);
    transitions = 0;
    now = 0;
    start = mark();
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nlines; i++) {
            json_t *event = parse(&lines[i]);

            now += 10;
            transitions +=
                (size_t)glasspane_feed(g, event, now, t, GP_MAX_TRANSITIONS);
            json_decref(event);
        }
    report("parse+feed", events, start, transitions);
    glasspane_free(g);

    /* The same with the sniff-and-skip fast path. */
    g = glasspane_new(GP_IDLE);
    transitions = 0;
    skipped = 0;
    now = 0;
    start = mark();
    for (r = 0; r < rounds; r++)
        for (i = 0; i < nlines; i++) {
            const char *type;
            size_t len;
            json_t *event;

            now += 10;
            if (sniff_type(&lines[i], &type, &len) &&
                glasspane_can_skip(g, type, len)) {
                skipped++;
                continue;
            }
            event = parse(&lines[i]);
            transitions +=
                (size_t)glasspane_feed(g, event, now, t, GP_MAX_TRANSITIONS);
            json_decref(event);
        }
    report("skip+feed", events, start, transitions);
    printf("%-10s %8zu of them not parsed\n", "", skipped);
    glasspane_free(g);

    for (i = 0; i < nlines; i++)
        json_decref(lines[i].event);
    free(lines);
    for (i = 0; i < ntexts; i++)
        free(texts[i]);
    return 0;
}
