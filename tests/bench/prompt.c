/*
 * prompt.c - the prompt assembly benchmark (make bench).
 *
 *     prompt [--strict] [SKILLS [ITERATIONS]]
 *
 * (default 200 skills, 5000 iterations).  Times, in-process, each call
 * alone (CLOCK_MONOTONIC):
 *   - prompt_assemble(): the pure assembler, SKILLS skills (in scan order,
 *     not name order) and a task with 8 dependencies and 3 required
 *     skills: sorting, layout and the four SHA-256;
 *   - the whole operation: ops_invoke("prompt.assemble") with a real
 *     store (temporary database) and a real catalog of SKILLS skills in a
 *     temporary folder, a task read from the store with its dependencies,
 *     and a two-message tail: argument validation, the catalog listing,
 *     the task reads, the system prompt file read, the assembly and the
 *     JSON answer (what the HTTP or socket transport then serializes).
 * Each is reported as wall time and as the thread's CPU time (which a
 * busy machine's preemptions do not inflate).
 * Target (issue 7): prompt.assemble p99 under 1 ms with 200 skills.  The
 * figures and a verdict are printed; the exit status is 1 when the target
 * is missed and --strict is given, else 0.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/app.h"
#include "src/config.h"
#include "src/ops.h"
#include "src/prompt.h"
#include "src/skills.h"
#include "src/store.h"
#include "src/util.h"

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of this thread: what a call costs, without the time the
 * thread spent preempted (the machine may be busy). */
static int64_t
cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Prints p50, p99, max of ns[0..n-1] in microseconds; returns p99. */
static double
report(const char *what, int64_t *ns, int n)
{
    double p50, p99, max;

    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    p50 = (double)ns[n / 2] / 1000.0;
    p99 = (double)ns[(n * 99) / 100] / 1000.0;
    max = (double)ns[n - 1] / 1000.0;
    printf("  %-34s p50 %8.1f us  p99 %8.1f us  max %8.1f us  (%d calls)\n",
           what, p50, p99, max, n);
    return p99;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "prompt bench: cannot write %s\n", path);
        exit(2);
    }
}

int
main(int argc, char **argv)
{
    int strict = 0, nskills = 200, iters = 5000, i, argi = 1;
    const char *base = getenv("TMPDIR");
    char *dir, *root, *sysfile, *dbpath, *sysspec[2] = {NULL, NULL};
    struct prompt_skill *sk;
    struct prompt_dep deps[8];
    const char *req[3] = {"s0150-tool", "s0003-tool", "s0077-tool"};
    struct prompt_task task;
    struct prompt_input in;
    struct prompt_out out;
    struct store_options so;
    struct store *store = NULL;
    struct skills *skills = NULL;
    struct problem err = {0};
    struct config cfg;
    struct app app;
    int64_t *ns, *cpu, task_id = 0, dep_ids[8];
    double p99_pure, p99_op, p99_pure_cpu, p99_op_cpu;
    char **names, **descs;

    if (argi < argc && strcmp(argv[argi], "--strict") == 0) {
        strict = 1;
        argi++;
    }
    if (argi < argc)
        nskills = atoi(argv[argi++]);
    if (argi < argc)
        iters = atoi(argv[argi++]);
    if (nskills < 1 || iters < 100) {
        fprintf(stderr, "usage: prompt [--strict] [SKILLS [ITERATIONS]]\n");
        return 2;
    }
    ns = xcalloc((size_t)iters, sizeof(*ns));
    cpu = xcalloc((size_t)iters, sizeof(*cpu));

    /* The pure assembler. */
    sk = xcalloc((size_t)nskills, sizeof(*sk));
    names = xcalloc((size_t)nskills, sizeof(*names));
    descs = xcalloc((size_t)nskills, sizeof(*descs));
    for (i = 0; i < nskills; i++) {
        int k = (i * 7919) % nskills;   /* not in name order */

        names[i] = xasprintf("s%04d-tool", k);
        descs[i] = xasprintf("Use this skill to do task number %d well: "
                             "it explains the steps, the tools and the "
                             "pitfalls of the job.", k);
        sk[i].name = names[i];
        sk[i].description = descs[i];
    }
    for (i = 0; i < 8; i++) {
        deps[i].id = 100 - i;
        deps[i].title = "A dependency with a title of ordinary length";
    }
    memset(&task, 0, sizeof(task));
    task.id = 101;
    task.title = "Write the parser for the configuration file";
    task.body = "The body of the task: a few paragraphs of text that say "
                "what is to be done, how to test it and where.\n";
    task.deps = deps;
    task.ndeps = 8;
    task.skills = req;
    task.nskills = 3;
    memset(&in, 0, sizeof(in));
    in.system = "You are a coding agent.\nWork carefully.\n";
    in.system_len = strlen(in.system);
    in.tool_notes = "- task.get: one task\n- task.complete: finish it\n";
    in.tool_notes_len = strlen(in.tool_notes);
    in.skills = sk;
    in.nskills = (size_t)nskills;
    in.task = &task;
    for (i = 0; i < iters; i++) {
        int64_t t0 = now_ns(), c0 = cpu_ns();

        prompt_assemble(&in, &out);
        ns[i] = now_ns() - t0;
        cpu[i] = cpu_ns() - c0;
        prompt_out_free(&out);
    }
    printf("prompt assembly, %d skills:\n", nskills);
    p99_pure = report("prompt_assemble (pure), wall", ns, iters);
    p99_pure_cpu = report("prompt_assemble (pure), cpu", cpu, iters);

    /* The whole operation, on a real store and catalog. */
    dir = xasprintf("%s/colibri-bench-prompt-XXXXXX", base ? base : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    root = xasprintf("%s/skills", dir);
    for (i = 0; i < nskills; i++) {
        char *sdir = xasprintf("%s/%s", root, names[i]);
        char *md = xasprintf("%s/SKILL.md", sdir);
        char *text = xasprintf("---\nname: %s\ndescription: %s\n---\n"
                               "# %s\n\nSteps.\n", names[i], descs[i],
                               names[i]);

        util_mkdir_p(sdir, 0755);
        write_file(md, text);
        free(sdir);
        free(md);
        free(text);
    }
    sysfile = xasprintf("%s/pi.md", dir);
    write_file(sysfile, "You are a coding agent.\nWork carefully.\n");
    sysspec[0] = xasprintf("pi=%s", sysfile);
    memset(&so, 0, sizeof(so));
    dbpath = xasprintf("%s/colibri.sqlite", dir);
    so.path = dbpath;
    so.durable = 0;
    if (store_open(&store, &so, &err) < 0 ||
        skills_open(&skills, &root, 1, &err) < 0) {
        fprintf(stderr, "prompt bench: %s\n", err.detail);
        return 2;
    }
    for (i = 0; i < 8; i++) {
        json_t *f = json_pack("{s:s}", "title", deps[i].title), *doc = NULL;

        if (store_task_create(store, f, &doc, &err) < 0)
            return 2;
        dep_ids[i] = json_integer_value(json_object_get(doc, "id"));
        json_decref(f);
        json_decref(doc);
    }
    {
        json_t *d = json_array(), *doc = NULL, *f;

        for (i = 0; i < 8; i++)
            json_array_append_new(d, json_integer(dep_ids[i]));
        f = json_pack("{s:s, s:s, s:o, s:[s,s,s]}", "title", task.title,
                      "body", task.body, "depends_on", d, "requires_skills",
                      req[0], req[1], req[2]);
        if (store_task_create(store, f, &doc, &err) < 0)
            return 2;
        task_id = json_integer_value(json_object_get(doc, "id"));
        json_decref(f);
        json_decref(doc);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = dir;
    cfg.system_prompts = sysspec;
    memset(&app, 0, sizeof(app));
    app.cfg = &cfg;
    app.store = store;
    app.skills = skills;
    {
        const struct op *op = ops_find("prompt.assemble");
        json_t *args = json_pack("{s:s, s:I, s:[{s:s, s:s}, {s:s, s:s}]}",
                                 "kind", "pi", "task", (json_int_t)task_id,
                                 "tail", "role", "user", "content",
                                 "What next?", "role", "assistant",
                                 "content", "Reading the task.");

        for (i = 0; i < iters + 10; i++) {
            struct call c;
            int64_t t0, c0;

            memset(&c, 0, sizeof(c));
            c.op = op;
            c.app = &app;
            c.args = args;
            t0 = now_ns();
            c0 = cpu_ns();
            if (ops_invoke(&c) < 0) {
                fprintf(stderr, "prompt bench: %s\n", c.err.detail);
                return 2;
            }
            if (i >= 10) {      /* the first calls record the hashes */
                ns[i - 10] = now_ns() - t0;
                cpu[i - 10] = cpu_ns() - c0;
            }
            call_finish(&c);
        }
        json_decref(args);
    }
    p99_op = report("prompt.assemble (whole op), wall", ns, iters);
    p99_op_cpu = report("prompt.assemble (whole op), cpu", cpu, iters);
    {
        double load[3] = {0, 0, 0};

        if (getloadavg(load, 3) < 1)
            load[0] = -1;
        printf("  target: p99 under 1000 us with 200 skills: wall %s, "
               "cpu %s (load average %.1f: a busy machine preempts the "
               "wall-clock runs)\n",
               p99_op < 1000.0 && p99_pure < 1000.0 ? "met" : "MISSED",
               p99_op_cpu < 1000.0 && p99_pure_cpu < 1000.0 ? "met"
                                                            : "MISSED",
               load[0]);
    }

    skills_close(skills);
    store_close(store);
    {
        char *cmd = xasprintf("rm -rf '%s'", dir);

        if (system(cmd) != 0)
            fprintf(stderr, "prompt bench: could not remove %s\n", dir);
        free(cmd);
    }
    for (i = 0; i < nskills; i++) {
        free(names[i]);
        free(descs[i]);
    }
    free(names);
    free(descs);
    free(sk);
    free(ns);
    free(cpu);
    free(sysspec[0]);
    free(sysfile);
    free(root);
    free(dir);
    free(dbpath);
    return strict && !(p99_op < 1000.0 && p99_pure < 1000.0) ? 1 : 0;
}
