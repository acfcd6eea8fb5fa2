/*
 * session.c - session log micro-benchmark: appends and reads.
 *
 *     session [LINES [DIR]]
 *
 * Appends LINES (default 1,000,000) pi-style message_update lines of
 * about 170 bytes to a session file under DIR (default $TMPDIR or /tmp)
 * with session_file_append, in batches of 1 line (the worst case: an
 * agent that flushes every line and a supervisor that reads each one
 * alone), 16 and 256 lines (what one pipe read usually holds), then
 * reads the file back with session_read a page of 1,000 entries at a
 * time (parse included).  Prints lines per second for each; the target
 * for appends is >= 200,000 lines/s (issue 7).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "src/session.h"
#include "src/util.h"

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* LINES lines in batches of batch; lines/s. */
static double
append_run(const char *path, long lines, int batch, const char *batch_text,
           size_t batch_len, const char *line, size_t line_len)
{
    struct session_file *f = NULL;
    double t0, t, cpu;
    clock_t c0;
    long done = 0;

    unlink(path);
    if (session_file_open(&f, path) < 0) {
        perror(path);
        exit(1);
    }
    t0 = now_s();
    c0 = clock();
    while (done + batch <= lines) {
        if (session_file_append(f, batch_text, batch_len) < 0) {
            perror("append");
            exit(1);
        }
        done += batch;
    }
    for (; done < lines; done++)
        session_file_append(f, line, line_len);
    t = now_s() - t0;
    cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    if (session_file_lines(f) != lines) {
        fprintf(stderr, "session: %lld lines counted, %ld written\n",
                (long long)session_file_lines(f), lines);
        exit(1);
    }
    session_file_close(f);
    printf("append  batch %3d %9ld lines %7.3f s %10.0f lines/s %7.1f MB/s"
           " (CPU %.3f s)\n", batch, lines, t, (double)lines / t,
           (double)lines * (double)line_len / t / 1e6, cpu);
    return (double)lines / t;
}

int
main(int argc, char **argv)
{
    long lines = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    const char *tmp = argc > 2 ? argv[2] : getenv("TMPDIR");
    char *path = xasprintf("%s/colibri-bench-session-%ld.jsonl",
                           tmp ? tmp : "/tmp", (long)getpid());
    static const int batches[] = {1, 16, 256};
    char line[256], *batch_text;
    size_t line_len, i;
    double worst = 0;
    int64_t off = 0, next = 0, seen = 0;
    long read_n = 0;
    double t0, t;

    if (lines < 1000) {
        fprintf(stderr, "usage: session [LINES >= 1000 [DIR]]\n");
        return 2;
    }
    line_len = (size_t)snprintf(line, sizeof(line),
        "{\"type\":\"message_update\",\"assistantMessageEvent\":{\"type\":"
        "\"text_delta\",\"contentIndex\":0,\"delta\":\"a chunk of the "
        "model's answer, streamed\"},\"seq\":123456}\n");
    batch_text = xmalloc(line_len * 256);
    for (i = 0; i < 256; i++)
        memcpy(batch_text + i * line_len, line, line_len);
    for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
        double r = append_run(path, lines, batches[i], batch_text,
                              line_len * (size_t)batches[i], line,
                              line_len);

        if (i == 0 || r < worst)
            worst = r;
    }
    t0 = now_s();
    for (;;) {
        json_t *items = json_array();
        struct problem err = {0};

        if (session_read(path, off, 1000, items, &next, &seen, &err) < 0) {
            fprintf(stderr, "session: read: %s\n", err.detail);
            return 1;
        }
        read_n += (long)json_array_size(items);
        json_decref(items);
        if (next == off)
            break;
        off = next;
    }
    t = now_s() - t0;
    printf("read    page 1000 %9ld lines %7.3f s %10.0f lines/s\n", read_n,
           t, (double)read_n / t);
    unlink(path);
    free(path);
    free(batch_text);
    printf("session append: %.0f lines/s at worst (target >= 200000): %s\n",
           worst, worst >= 200000 ? "ok" : "BELOW TARGET");
    return read_n == lines && worst >= 200000 ? 0 : 1;
}
