/*
 * check_prompt.c - prompt.c (the pure assembler), prompt_build.c (its
 * inputs from configuration, catalog and store) and store_prompt.c
 * (drift): exact bytes of a small fixture, SHA-256 vectors, and the
 * byte-stability properties: other tails, shuffled skills, dependencies
 * and required skills, another clock, time zone and locale all give the
 * same region 1 and regions 1+2.
 */
#include "autoconf.h"

#include <dirent.h>
#include <locale.h>
#include <sys/stat.h>
#include <time.h>

#include "src/app.h"
#include "src/config.h"
#include "src/ops.h"
#include "src/prompt.h"
#include "src/prompt_build.h"
#include "src/skills.h"
#include "testutil.h"

static const char fixture_r1[] =
    "You are X.\n"
    "\n## Tools\n\n"
    "notes\n"
    "\n## Skills\n\n"
    "- a-skill: Does A\n"
    "- b-skill: Does B\n";

static const char fixture_r2[] =
    "\n## Task 12: Fix it\n"
    "\nLine 1\nLine 2\n"
    "\n### Depends on\n\n"
    "- 3: First\n"
    "- 7: Second\n"
    "\n### Required skills\n\n"
    "- alpha\n"
    "- zeta\n";

static struct prompt_skill fx_skills[] = {
    {"b-skill", "Does B"}, {"a-skill", "Does\nA"}
};
static struct prompt_dep fx_deps[] = {{7, "Second"}, {3, "First"}};
static const char *fx_req[] = {"zeta", "alpha"};

static void
fixture(struct prompt_input *in, struct prompt_task *t)
{
    memset(in, 0, sizeof(*in));
    memset(t, 0, sizeof(*t));
    t->id = 12;
    t->title = "Fix it";
    t->body = "Line 1\nLine 2\n\n";
    t->deps = fx_deps;
    t->ndeps = 2;
    t->skills = fx_req;
    t->nskills = 2;
    in->system = "You are X.\n\n";
    in->system_len = strlen(in->system);
    in->tool_notes = "notes";
    in->tool_notes_len = 5;
    in->skills = fx_skills;
    in->nskills = 2;
    in->task = t;
}

START_TEST(test_sha256_vectors)
{
    char hex[PROMPT_SHA256_HEX];

    prompt_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
    prompt_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_fixture_bytes)
{
    struct prompt_input in;
    struct prompt_task t;
    struct prompt_out out;
    char hex[PROMPT_SHA256_HEX], *both;

    fixture(&in, &t);
    prompt_assemble(&in, &out);
    ck_assert_str_eq(out.region1, fixture_r1);
    ck_assert_uint_eq(out.region1_len, strlen(fixture_r1));
    ck_assert_str_eq(out.region2, fixture_r2);
    ck_assert_uint_eq(out.region2_len, strlen(fixture_r2));
    prompt_sha256_hex(fixture_r1, strlen(fixture_r1), hex);
    ck_assert_str_eq(out.region1_sha256, hex);
    prompt_sha256_hex(fixture_r2, strlen(fixture_r2), hex);
    ck_assert_str_eq(out.region2_sha256, hex);
    both = xasprintf("%s%s", fixture_r1, fixture_r2);
    prompt_sha256_hex(both, strlen(both), hex);
    ck_assert_str_eq(out.prefix_sha256, hex);
    free(both);
    prompt_out_free(&out);

    /* No task: region 2 is empty and the prefix is region 1. */
    in.task = NULL;
    prompt_assemble(&in, &out);
    ck_assert_str_eq(out.region2, "");
    ck_assert_str_eq(out.prefix_sha256, out.region1_sha256);
    prompt_out_free(&out);

    /* No skills, no notes. */
    in.nskills = 0;
    in.tool_notes_len = 0;
    prompt_assemble(&in, &out);
    ck_assert_str_eq(out.region1, "You are X.\n\n## Tools\n\n(none)\n"
                                  "\n## Skills\n\n(none)\n");
    prompt_out_free(&out);
}
END_TEST

/* A line field cannot break out of its line. */
START_TEST(test_control_chars)
{
    struct prompt_skill sk = {"x", "one\r\ntwo\tthree"};
    struct prompt_dep dep = {1, "a\nb"};
    struct prompt_task t = {5, "title\nwith newline", "", &dep, 1, NULL, 0};
    struct prompt_input in = {"s", 1, "n", 1, &sk, 1, &t};
    struct prompt_out out;

    prompt_assemble(&in, &out);
    ck_assert_ptr_nonnull(strstr(out.region1, "- x: one  two three\n"));
    ck_assert_ptr_nonnull(strstr(out.region2,
                                 "## Task 5: title with newline\n"));
    ck_assert_ptr_nonnull(strstr(out.region2, "- 1: a b\n"));
    prompt_out_free(&out);
}
END_TEST

static unsigned
next_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

/* 200 skills, deps and required skills in many shuffled orders: the
 * same bytes and hashes every time. */
START_TEST(test_shuffled_inputs)
{
    enum { N = 200, D = 20 };
    struct prompt_skill sk[N];
    struct prompt_dep deps[D];
    const char *req[D];
    char *names[N], *descs[N], *titles[D];
    struct prompt_task t;
    struct prompt_input in;
    struct prompt_out first, out;
    unsigned seed = 7;
    int i, round;

    for (i = 0; i < N; i++) {
        names[i] = xasprintf("skill-%03d", (i * 37) % N);
        descs[i] = xasprintf("does thing %d", (i * 37) % N);
        sk[i].name = names[i];
        sk[i].description = descs[i];
    }
    for (i = 0; i < D; i++) {
        titles[i] = xasprintf("dep %d", i);
        deps[i].id = 100 + i;
        deps[i].title = titles[i];
        req[i] = names[i];
    }
    memset(&t, 0, sizeof(t));
    t.id = 1;
    t.title = "T";
    t.body = "B";
    t.deps = deps;
    t.ndeps = D;
    t.skills = req;
    t.nskills = D;
    memset(&in, 0, sizeof(in));
    in.system = "S";
    in.system_len = 1;
    in.tool_notes = "N";
    in.tool_notes_len = 1;
    in.skills = sk;
    in.nskills = N;
    in.task = &t;
    prompt_assemble(&in, &first);
    /* Sorted by name, bytewise. */
    ck_assert_ptr_nonnull(strstr(first.region1, "- skill-000: does thing 0\n"
                                 "- skill-001: does thing 1\n"));
    for (round = 0; round < 20; round++) {
        for (i = N - 1; i > 0; i--) {
            int j = (int)(next_rand(&seed) % (unsigned)(i + 1));
            struct prompt_skill tmp = sk[i];

            sk[i] = sk[j];
            sk[j] = tmp;
        }
        for (i = D - 1; i > 0; i--) {
            int j = (int)(next_rand(&seed) % (unsigned)(i + 1));
            struct prompt_dep tmp = deps[i];
            const char *r = req[i];

            deps[i] = deps[j];
            deps[j] = tmp;
            req[i] = req[j];
            req[j] = r;
        }
        prompt_assemble(&in, &out);
        ck_assert_str_eq(out.region1_sha256, first.region1_sha256);
        ck_assert_str_eq(out.prefix_sha256, first.prefix_sha256);
        ck_assert_str_eq(out.inputs_sha256, first.inputs_sha256);
        ck_assert_str_eq(out.region1, first.region1);
        ck_assert_str_eq(out.region2, first.region2);
        prompt_out_free(&out);
    }
    /* A changed input changes the inputs hash and region 1. */
    sk[0].description = "changed";
    prompt_assemble(&in, &out);
    ck_assert_str_ne(out.inputs_sha256, first.inputs_sha256);
    ck_assert_str_ne(out.region1_sha256, first.region1_sha256);
    prompt_out_free(&out);
    prompt_out_free(&first);
    for (i = 0; i < N; i++) {
        free(names[i]);
        free(descs[i]);
    }
    for (i = 0; i < D; i++)
        free(titles[i]);
}
END_TEST

/* Tails are region 3: they never touch regions 1 and 2. */
START_TEST(test_tails)
{
    struct prompt_input in;
    struct prompt_task t;
    struct prompt_out out;
    json_t *tails[3], *docs[3];
    char reason[256];
    int i;

    fixture(&in, &t);
    prompt_assemble(&in, &out);
    tails[0] = json_array();
    tails[1] = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    tails[2] = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]",
                         "role", "user", "content", "a", "role",
                         "assistant", "content", "b", "role", "tool",
                         "content", "c");
    for (i = 0; i < 3; i++) {
        json_t *msgs;

        ck_assert_int_eq(prompt_check_tail(tails[i], 256, reason,
                                           sizeof(reason)), 0);
        docs[i] = prompt_to_json(&out, tails[i]);
        msgs = json_object_get(docs[i], "messages");
        ck_assert_uint_eq(json_array_size(msgs),
                          1 + json_array_size(tails[i]));
        ck_assert_ptr_nonnull(json_object_get(docs[i], "regions"));
    }
    for (i = 1; i < 3; i++) {
        ck_assert(json_equal(json_array_get(json_object_get(docs[i],
                  "messages"), 0), json_array_get(json_object_get(docs[0],
                  "messages"), 0)));
        ck_assert(json_equal(json_array_get(json_object_get(docs[i],
                  "regions"), 0), json_array_get(json_object_get(docs[0],
                  "regions"), 0)));
        ck_assert(json_equal(json_array_get(json_object_get(docs[i],
                  "regions"), 1), json_array_get(json_object_get(docs[0],
                  "regions"), 1)));
        ck_assert(json_equal(json_object_get(docs[i], "prefix_sha256"),
                             json_object_get(docs[0], "prefix_sha256")));
    }
    ck_assert(json_equal(json_array_get(json_object_get(docs[2], "messages"),
                                        3), json_array_get(tails[2], 2)));
    {
        json_t *sys = json_array_get(json_object_get(docs[0], "messages"),
                                     0);
        char *both = xasprintf("%s%s", fixture_r1, fixture_r2);

        ck_assert_str_eq(json_string_value(json_object_get(sys, "role")),
                         "system");
        ck_assert_str_eq(json_string_value(json_object_get(sys, "content")),
                         both);
        free(both);
    }
    for (i = 0; i < 3; i++) {
        json_decref(tails[i]);
        json_decref(docs[i]);
    }
    prompt_out_free(&out);
}
END_TEST

START_TEST(test_tail_validation)
{
    static const char *const bad[] = {
        "{}", "[1]", "[{\"role\":\"user\"}]",
        "[{\"role\":\"system\",\"content\":\"x\"}]",
        "[{\"role\":\"user\",\"content\":1}]",
        "[{\"role\":\"user\",\"content\":\"x\",\"name\":\"y\"}]",
        "\"text\"", NULL
    };
    char reason[256];
    json_t *j;
    int i;

    for (i = 0; bad[i] != NULL; i++) {
        j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(j);
        reason[0] = '\0';
        ck_assert_msg(prompt_check_tail(j, 256, reason, sizeof(reason)) < 0,
                      "accepted %s", bad[i]);
        ck_assert(reason[0] != '\0');
        json_decref(j);
    }
    ck_assert_int_eq(prompt_check_tail(NULL, 256, reason, sizeof(reason)),
                     0);
    j = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "user", "content",
                  "a", "role", "user", "content", "b");
    ck_assert_int_lt(prompt_check_tail(j, 1, reason, sizeof(reason)), 0);
    json_decref(j);
}
END_TEST

/* Generated tool notes: sorted by name, only operations with a path. */
START_TEST(test_tool_notes)
{
    size_t len, len2;
    char *a = prompt_tool_notes(ops_table, ops_count, &len);
    char *b = prompt_tool_notes(ops_table, ops_count, &len2);
    const char *h = strstr(a, "- system.health (GET /api/v1/health)");
    const char *t = strstr(a, "- task.create (POST /api/v1/tasks)");

    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(a, b, len);
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(t);
    ck_assert(h < t);
    ck_assert_ptr_null(strstr(a, "events.subscribe"));  /* socket only */
    ck_assert_ptr_nonnull(strstr(a, "- prompt.assemble (POST "));
    free(a);
    free(b);
}
END_TEST

/* --- through the daemon's inputs: store, catalog, configuration ------ */

struct env {
    char *dir, *root;
    struct config cfg;
    struct store *store;
    struct skills *skills;
    struct app app;
    char *sys_spec[2];
};

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void
put_skill(const char *root, const char *name, const char *desc)
{
    char *dir = xasprintf("%s/%s", root, name);
    char *md = xasprintf("%s/SKILL.md", dir);
    char *text = xasprintf("---\nname: %s\ndescription: %s\n---\nbody\n",
                           name, desc);

    ck_assert_int_eq(util_mkdir_p(dir, 0755), 0);
    write_text(md, text);
    free(dir);
    free(md);
    free(text);
}

static void
env_open(struct env *e)
{
    struct problem err = {0};
    char *sys;

    memset(e, 0, sizeof(*e));
    e->dir = test_tmpdir();
    e->root = xasprintf("%s/skills", e->dir);
    /* Created in an order that is not the name order. */
    put_skill(e->root, "zz-last", "Last one");
    put_skill(e->root, "aa-first", "First one");
    put_skill(e->root, "mm-middle", "Middle one");
    /* Bytewise first; a German collation (which ignores '-') puts it
     * last of the a's. */
    put_skill(e->root, "a-z", "Hyphen one");
    sys = xasprintf("%s/pi.md", e->dir);
    write_text(sys, "You are pi.\n");
    e->sys_spec[0] = xasprintf("pi=%s", sys);
    free(sys);
    e->cfg.data_dir = e->dir;
    e->cfg.system_prompts = e->sys_spec;
    e->store = test_store_open(e->dir);
    ck_assert_int_eq(skills_open(&e->skills, &e->root, 1, &err), 0);
    e->app.cfg = &e->cfg;
    e->app.store = e->store;
    e->app.skills = e->skills;
}

static void
env_close(struct env *e)
{
    skills_close(e->skills);
    store_close(e->store);
    free(e->sys_spec[0]);
    free(e->root);
    test_rmdir(e->dir);
}

static int64_t
make_task(struct store *s, const char *title, json_t *deps)
{
    struct problem err = {0};
    json_t *f = json_pack("{s:s, s:s, s:[s,s]}", "title", title, "body",
                          "Do it well.", "requires_skills", "mm-middle",
                          "aa-first"), *doc = NULL;
    int64_t id;

    if (deps != NULL)
        json_object_set(f, "depends_on", deps);
    ck_assert_int_eq(store_task_create(s, f, &doc, &err), 0);
    id = json_integer_value(json_object_get(doc, "id"));
    json_decref(f);
    json_decref(doc);
    return id;
}

/* Count the events of a type in the store. */
static int
count_events(struct store *s, const char *type)
{
    struct store_event *ev = NULL;
    struct problem err = {0};
    size_t n = 0, i;
    int count = 0;

    ck_assert_int_eq(store_events_after(s, 0, 10000, &ev, &n, &err), 0);
    for (i = 0; i < n; i++)
        if (strcmp(ev[i].type, type) == 0)
            count++;
    store_events_free(ev, n);
    return count;
}

/*
 * Makes de_DE.UTF-8 usable: installed, or compiled with localedef(1) into
 * dir (found through LOCPATH).  1 when it is, else 0.
 */
static int
german_locale(const char *dir)
{
    char *cmd, *locpath;
    int ok;

    if (setlocale(LC_ALL, "de_DE.UTF-8") != NULL) {
        setlocale(LC_ALL, "C");
        return 1;
    }
    locpath = xasprintf("%s/locale", dir);
    cmd = xasprintf("mkdir -p '%s' && localedef -i de_DE -f UTF-8 "
                    "'%s/de_DE.UTF-8' >/dev/null 2>&1", locpath, locpath);
    ok = system(cmd) == 0;
    if (ok) {
        setenv("LOCPATH", locpath, 1);
        ok = setlocale(LC_ALL, "de_DE.UTF-8") != NULL;
        setlocale(LC_ALL, "C");
    }
    free(cmd);
    free(locpath);
    return ok;
}

START_TEST(test_build_stable_across_clock_tz_locale)
{
    static const char *const locales[] = {
        "de_DE.UTF-8", "fr_FR.UTF-8", "C.UTF-8", "C", NULL
    };
    static const char *const zones[] = {
        "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"
    };
    struct env e;
    struct problem err = {0};
    struct prompt_out first, out;
    char **dirs = NULL;
    int64_t dep1, dep2, task;
    json_t *deps;
    int i, tried = 0, german;

    env_open(&e);
    dep1 = make_task(e.store, "Second dep", NULL);
    dep2 = make_task(e.store, "First dep", NULL);
    deps = json_pack("[I, I]", (json_int_t)dep2, (json_int_t)dep1);
    task = make_task(e.store, "The task", deps);
    json_decref(deps);

    ck_assert_int_eq(prompt_build(&e.app, "pi", task, 0, &first, &dirs,
                                  &err), 0);
    ck_assert(strncmp(first.region1, "You are pi.\n\n## Tools\n\n", 23) == 0);
    ck_assert_ptr_nonnull(strstr(first.region1,
                                 "- a-z: Hyphen one\n"
                                 "- aa-first: First one\n"
                                 "- mm-middle: Middle one\n"
                                 "- zz-last: Last one\n"));
    ck_assert_ptr_nonnull(strstr(first.region2, "\n### Required skills\n\n"
                                 "- aa-first\n- mm-middle\n"));
    ck_assert_ptr_nonnull(strstr(first.region2, "Do it well.\n"));
    ck_assert_ptr_nonnull(dirs);
    ck_assert_ptr_nonnull(strstr(dirs[0], "/a-z"));
    ck_assert_ptr_nonnull(strstr(dirs[1], "/aa-first"));
    ck_assert_ptr_nonnull(strstr(dirs[3], "/zz-last"));
    ck_assert_ptr_null(dirs[4]);
    for (i = 0; dirs[i] != NULL; i++)
        free(dirs[i]);
    free(dirs);

    german = german_locale(e.dir);
    for (i = 0; locales[i] != NULL; i++) {
        size_t z;

        if (setlocale(LC_ALL, locales[i]) == NULL)
            continue;
        tried++;
        if (strcmp(locales[i], "de_DE.UTF-8") == 0) {
            char num[32];

            /* Proof that the locale is in force: grouping and comma. */
            snprintf(num, sizeof(num), "%'.1f", 1234.5);
            ck_assert_str_eq(num, "1.234,5");
            ck_assert_int_lt(strcoll("ab-x", "a-z"), 0);
        }
        for (z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
            setenv("TZ", zones[z], 1);
            tzset();
            test_clock_advance(86400000LL + 12345);
            /* A dependency moves on: its status is not in region 2. */
            ck_assert_int_eq(prompt_build(&e.app, "pi", task, 0, &out,
                                          NULL, &err), 0);
            /* Hashes first: check cannot report 20 KB strings. */
            ck_assert_msg(strcmp(out.region1_sha256,
                                 first.region1_sha256) == 0,
                          "region 1 differs under %s, TZ=%s", locales[i],
                          zones[z]);
            ck_assert_str_eq(out.prefix_sha256, first.prefix_sha256);
            ck_assert_str_eq(out.region1, first.region1);
            ck_assert_str_eq(out.region2, first.region2);
            prompt_out_free(&out);
        }
    }
    setlocale(LC_ALL, "C");
    unsetenv("TZ");
    tzset();
    ck_assert_int_ge(tried, 1);
    /* CI installs the locale sources (tools/debian-deps.sh): there, a
     * run that could not test a German locale is a failure, not a pass. */
    ck_assert_msg(german || getenv("CI") == NULL,
                  "no de_DE.UTF-8 locale (and localedef could not make "
                  "one): only C locales were tried");
    if (!german)
        fprintf(stderr, "check_prompt: no de_DE.UTF-8 locale (and no "
                "localedef): tried C locales only\n");

    /* A dependency's status changes: region 2 does not. */
    {
        json_t *ch = json_pack("{s:s}", "status", "done"), *doc = NULL;

        ck_assert_int_eq(store_task_update(e.store, dep1, ch, 1, 0, &doc,
                                           &err), 0);
        json_decref(ch);
        json_decref(doc);
    }
    ck_assert_int_eq(prompt_build(&e.app, "pi", task, 0, &out, NULL, &err),
                     0);
    ck_assert_str_eq(out.prefix_sha256, first.prefix_sha256);
    prompt_out_free(&out);

    /* Another kind: the built-in system prompt. */
    ck_assert_int_eq(prompt_build(&e.app, "other", 0, 0, &out, NULL, &err),
                     0);
    ck_assert(strncmp(out.region1, "You are a coding agent of kind 'other'",
                      38) == 0);
    ck_assert_str_eq(out.region2, "");
    prompt_out_free(&out);

    /* A task that does not exist. */
    ck_assert_int_eq(prompt_build(&e.app, "pi", 999, 0, &out, NULL, &err),
                     -1);
    ck_assert_int_eq(err.status, 404);
    problem_clear(&err);
    prompt_out_free(&first);
    env_close(&e);
}
END_TEST

/* Drift: a region 1 that changes while its inputs do not; an explained
 * change (new skill) is not drift. */
START_TEST(test_drift)
{
    struct env e;
    struct problem err = {0};
    struct prompt_observation o;
    struct prompt_out out;
    int drift = -1;

    env_open(&e);
    memset(&o, 0, sizeof(o));
    o.kind = "k";
    o.region1_sha256 = "r1";
    o.inputs_sha256 = "in1";
    ck_assert_int_eq(store_prompt_observe(e.store, &o, &drift, &err), 0);
    ck_assert_int_eq(drift, 0);
    ck_assert_int_eq(count_events(e.store, "prompt.prefix"), 1);
    ck_assert_int_eq(store_prompt_observe(e.store, &o, &drift, &err), 0);
    ck_assert_int_eq(drift, 0);
    ck_assert_int_eq(count_events(e.store, "prompt.prefix"), 1);
    o.region1_sha256 = "r2";        /* same inputs: a determinism bug */
    ck_assert_int_eq(store_prompt_observe(e.store, &o, &drift, &err), 0);
    ck_assert_int_eq(drift, 1);
    ck_assert_int_eq(count_events(e.store, "prompt.drift"), 1);
    o.region1_sha256 = "r3";        /* inputs changed: explained */
    o.inputs_sha256 = "in2";
    ck_assert_int_eq(store_prompt_observe(e.store, &o, &drift, &err), 0);
    ck_assert_int_eq(drift, 0);
    ck_assert_int_eq(count_events(e.store, "prompt.drift"), 1);
    ck_assert_int_eq(count_events(e.store, "prompt.prefix"), 2);

    /* A session that does not exist. */
    o.session = 4242;
    o.prefix_sha256 = "p1";
    ck_assert_int_eq(store_prompt_observe(e.store, &o, &drift, &err), -1);
    ck_assert_int_eq(err.status, 404);
    ck_assert_str_eq(err.code, "session_not_found");
    problem_clear(&err);

    /* Through prompt_build: a new skill is an explained change. */
    ck_assert_int_eq(prompt_build(&e.app, "pi", 0, 0, &out, NULL, &err), 0);
    prompt_out_free(&out);
    put_skill(e.root, "bb-new", "New one");
    ck_assert_int_eq(skills_rescan(e.skills, NULL, &err), 0);
    ck_assert_int_eq(prompt_build(&e.app, "pi", 0, 0, &out, NULL, &err), 0);
    ck_assert_ptr_nonnull(strstr(out.region1, "- bb-new: New one\n"));
    prompt_out_free(&out);
    ck_assert_int_eq(count_events(e.store, "prompt.drift"), 1);
    env_close(&e);
}
END_TEST

static void
strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* The spawner's hook: a content-addressed 0600 file, reused; nothing for
 * a kind without a system prompt and without a task. */
START_TEST(test_spawn_prefix_file)
{
    struct env e;
    struct problem err = {0};
    struct prompt_out out;
    char sha[PROMPT_SHA256_HEX], sha2[PROMPT_SHA256_HEX], hex[65];
    char *file = NULL, *file2 = NULL, **dirs = NULL, *text, *pdir;
    struct stat st;
    int64_t task;
    DIR *d;
    struct dirent *de;
    int entries = 0;

    env_open(&e);
    task = make_task(e.store, "Spawned", NULL);
    ck_assert_int_eq(prompt_spawn_prefix(&e.app, "pi", task, &file, &dirs,
                                         sha, &err), 0);
    ck_assert_ptr_nonnull(file);
    ck_assert_ptr_nonnull(dirs);
    ck_assert_ptr_nonnull(strstr(dirs[0], "/a-z"));
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    text = util_read_file(file, 1 << 20);
    ck_assert_ptr_nonnull(text);
    prompt_sha256_hex(text, strlen(text), hex);
    ck_assert_str_eq(hex, sha);
    ck_assert_ptr_nonnull(strstr(file, sha));
    ck_assert_int_eq(prompt_build(&e.app, "pi", task, 0, &out, NULL, &err),
                     0);
    ck_assert_str_eq(out.prefix_sha256, sha);
    prompt_out_free(&out);
    free(text);
    strv_free(dirs);
    dirs = NULL;

    /* Again: the same file, and no temporary file left behind. */
    ck_assert_int_eq(prompt_spawn_prefix(&e.app, "pi", task, &file2, &dirs,
                                         sha2, &err), 0);
    ck_assert_str_eq(file2, file);
    ck_assert_str_eq(sha2, sha);
    strv_free(dirs);
    dirs = NULL;
    pdir = xasprintf("%s/prompts", e.dir);
    d = opendir(pdir);
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            entries++;          /* a temporary file would count too */
    closedir(d);
    ck_assert_int_eq(entries, 1);
    free(pdir);
    free(file);
    free(file2);

    /* No system prompt, no task: nothing.  A task that does not exist:
     * region 1 only (for a kind with a system prompt). */
    ck_assert_int_eq(prompt_spawn_prefix(&e.app, "other", 0, &file, &dirs,
                                         sha, &err), 0);
    ck_assert_ptr_null(file);
    ck_assert_ptr_null(dirs);
    ck_assert_int_eq(prompt_spawn_prefix(&e.app, "other", 99999, &file,
                                         &dirs, sha, &err), 0);
    ck_assert_ptr_null(file);
    ck_assert_int_eq(prompt_spawn_prefix(&e.app, "pi", 99999, &file, &dirs,
                                         sha, &err), 0);
    ck_assert_ptr_nonnull(file);
    ck_assert_int_eq(prompt_build(&e.app, "pi", 0, 0, &out, NULL, &err), 0);
    ck_assert_str_eq(sha, out.region1_sha256);
    prompt_out_free(&out);
    free(file);
    strv_free(dirs);
    env_close(&e);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("prompt");
    TCase *tc = tcase_create("prompt");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_fixture_bytes);
    tcase_add_test(tc, test_control_chars);
    tcase_add_test(tc, test_shuffled_inputs);
    tcase_add_test(tc, test_tails);
    tcase_add_test(tc, test_tail_validation);
    tcase_add_test(tc, test_tool_notes);
    tcase_add_test(tc, test_build_stable_across_clock_tz_locale);
    tcase_add_test(tc, test_drift);
    tcase_add_test(tc, test_spawn_prefix_file);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
