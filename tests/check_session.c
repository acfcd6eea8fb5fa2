/*
 * check_session.c - session logs: appends (whole lines, one write, the
 * counters), the reader (offsets, a partial last line and unparsable or
 * over-long lines skipped, bad cursors), the registry (begin, raw lines,
 * state annotations, end and its index row), closing what a crash left
 * open, and retention by age and total size (never an open session).
 */
#include "autoconf.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "src/limits.h"
#include "src/session.h"
#include "testutil.h"

static char *dir;
static struct store *st;

static void
setup(void)
{
    dir = test_tmpdir();
    st = test_store_open(dir);
}

static void
teardown(void)
{
    store_close(st);
    test_rmdir(dir);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = xmalloc(1 << 22);

    ck_assert_ptr_nonnull(f);
    *len = fread(buf, 1, (1 << 22) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void
write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Reads a whole page: the items (new), next and seen. */
static json_t *
read_page(const char *path, int64_t off, int limit, int64_t *next,
          int64_t *seen)
{
    json_t *items = json_array();
    struct problem err = {0};

    if (session_read(path, off, limit, items, next, seen, &err) < 0)
        ck_abort_msg("session_read: %s", err.detail);
    return items;
}

START_TEST(append_whole_lines_and_counts)
{
    char *path = xasprintf("%s/a.jsonl", dir), *text;
    struct session_file *f = NULL;
    struct stat sb;
    size_t len;

    ck_assert_int_eq(session_file_open(&f, path), 0);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(session_file_append(f, "{\"a\":1}\n[2]\n", 12), 0);
    ck_assert_int_eq(session_file_size(f), 12);
    ck_assert_int_eq(session_file_lines(f), 2);
    /* A batch whose last line has no newline gets one. */
    ck_assert_int_eq(session_file_append(f, "3\n\"four\"", 8), 0);
    ck_assert_int_eq(session_file_size(f), 21);
    ck_assert_int_eq(session_file_lines(f), 4);
    ck_assert_int_eq(session_file_append(f, "", 0), 0);
    session_file_close(f);
    text = slurp(path, &len);
    ck_assert_str_eq(text, "{\"a\":1}\n[2]\n3\n\"four\"\n");
    free(text);
    /* Reopened, the counters start from the file; appends go at the
     * end, never over what is there. */
    ck_assert_int_eq(session_file_open(&f, path), 0);
    ck_assert_int_eq(session_file_size(f), 21);
    ck_assert_int_eq(session_file_lines(f), 4);
    ck_assert_int_eq(session_file_append(f, "5\n", 2), 0);
    ck_assert_int_eq(session_file_size(f), 23);
    session_file_close(f);
    session_file_close(NULL);
    text = slurp(path, &len);
    ck_assert_str_eq(text, "{\"a\":1}\n[2]\n3\n\"four\"\n5\n");
    free(text);
    free(path);
}
END_TEST

START_TEST(read_skips_partial_and_garbage)
{
    static const char text[] =
        "{\"a\":1}\n"               /* 0 */
        "not json\n"                /* 8 */
        "\n"                        /* 17 */
        "[1,2]\n"                   /* 18 */
        "{\"b\":\"x\"}\n"           /* 24 */
        "{\"partial\":";            /* 34: no newline yet */
    char *path = xasprintf("%s/r.jsonl", dir);
    int64_t next, seen;
    json_t *items;
    struct problem err = {0};

    write_file(path, text, sizeof(text) - 1);
    items = read_page(path, 0, 100, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_array_get(items, 0), "offset")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_object_get(json_array_get(items, 0), "entry"), "a")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_array_get(items, 1), "offset")), 18);
    ck_assert(json_is_array(json_object_get(json_array_get(items, 1),
                                            "entry")));
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_array_get(items, 2), "offset")), 24);
    /* The partial line is not consumed: a later read gets it whole. */
    ck_assert_int_eq(next, 34);
    ck_assert_int_eq(seen, (int64_t)sizeof(text) - 1);
    json_decref(items);

    /* limit: stops after one entry, next is right after it */
    items = read_page(path, 0, 1, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_int_eq(next, 8);
    json_decref(items);
    items = read_page(path, next, 1, &next, &seen);
    ck_assert_int_eq(json_integer_value(json_object_get(
        json_array_get(items, 0), "offset")), 18);
    ck_assert_int_eq(next, 24);
    json_decref(items);

    /* at the partial line: nothing, and the cursor stays */
    items = read_page(path, 34, 100, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 0);
    ck_assert_int_eq(next, 34);
    json_decref(items);

    /* the line completed: now it is an entry */
    {
        FILE *f = fopen(path, "ab");

        fputs("1}\n", f);
        fclose(f);
    }
    items = read_page(path, 34, 100, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_int_eq(next, (int64_t)sizeof(text) - 1 + 3);
    json_decref(items);

    /* past the end, and a missing file */
    items = json_array();
    ck_assert_int_eq(session_read(path, 10000, 10, items, &next, &seen,
                                  &err), -1);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "invalid_cursor");
    problem_clear(&err);
    ck_assert_int_eq(session_read("/nonexistent/x.jsonl", 0, 10, items,
                                  &next, &seen, &err), -1);
    ck_assert_int_eq(err.status, 404);
    ck_assert_str_eq(err.code, "session_file_missing");
    problem_clear(&err);
    json_decref(items);
    free(path);
}
END_TEST

START_TEST(read_skips_overlong_line)
{
    char *path = xasprintf("%s/l.jsonl", dir);
    size_t big = LIMIT_INGEST_LINE * 2, n;
    char *text = xmalloc(big + 64);
    int64_t next, seen;
    json_t *items;

    n = (size_t)sprintf(text, "[0]\n\"");
    memset(text + n, 'x', big);
    n += big;
    n += (size_t)sprintf(text + n, "\"\n[1]\n");
    write_file(path, text, n);
    items = read_page(path, 0, 100, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 2);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(
        json_array_get(items, 1), "entry"), 0)), 1);
    ck_assert_int_eq(next, (int64_t)n);
    json_decref(items);
    free(text);
    free(path);
}
END_TEST

static struct sessions *
registry(int64_t max_age_ms, int64_t max_bytes)
{
    struct sessions_options o;
    struct sessions *ss = NULL;
    struct problem err = {0};

    memset(&o, 0, sizeof(o));
    o.data_dir = dir;
    o.store = st;
    o.max_age_ms = max_age_ms;
    o.max_bytes = max_bytes;
    o.heartbeat_seconds = 1;
    o.max_followers = 4;
    if (sessions_open(&ss, &o, &err) < 0)
        ck_abort_msg("sessions_open: %s", err.detail);
    return ss;
}

static json_t *
session_doc(int64_t id, char **rel)
{
    struct problem err = {0};
    json_t *doc = NULL;

    if (store_session_get(st, id, &doc, rel, &err) < 0)
        ck_abort_msg("store_session_get: %s", err.detail);
    return doc;
}

static const char *
doc_str(const json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static json_int_t
doc_int(const json_t *doc, const char *key)
{
    return json_integer_value(json_object_get(doc, key));
}

START_TEST(registry_begin_append_end)
{
    struct sessions *ss = registry(0, 0);
    int64_t id = 0, size, lines, next, seen;
    char *path = NULL, *rel = NULL, *abs;
    json_t *doc, *items;
    struct stat sb;
    size_t i;

    ck_assert_int_eq(sessions_begin(ss, "pi-1", 12, "smoke", NULL, 4242, 1, &id,
                                    &path), 0);
    ck_assert_int_gt(id, 0);
    ck_assert_int_eq(sessions_live(ss, id, &size, &lines), 1);
    ck_assert_int_eq(lines, 1);
    sessions_append(ss, "pi-1", "{\"type\":\"agent_start\"}\n", 23);
    sessions_append(ss, "nobody", "{\"x\":1}\n", 8);     /* no session */
    sessions_note_state(ss, "pi-1", "idle", "working", "agent_start");
    sessions_append(ss, "pi-1", "{\"type\":\"agent_end\"}", 20);
    sessions_note_state(ss, "pi-1", "working", "done", "stop");
    sessions_note_state(ss, "nobody", "idle", "working", "x");
    ck_assert_int_eq(sessions_live(ss, id, &size, &lines), 1);
    ck_assert_int_eq(lines, 5);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, size);

    doc = session_doc(id, NULL);
    ck_assert(json_is_null(json_object_get(doc, "ended_at")));
    ck_assert_str_eq(doc_str(doc, "agent"), "pi-1");
    ck_assert_int_eq(doc_int(doc, "task_id"), 12);
    json_decref(doc);

    sessions_end(ss, "pi-1", 0, "idle");    /* annotated state wins */
    ck_assert_int_eq(sessions_live(ss, id, &size, &lines), 0);
    sessions_end(ss, "pi-1", 1, NULL);      /* nothing open: no-op */
    doc = session_doc(id, &rel);
    ck_assert_str_eq(doc_str(doc, "state"), "done");
    ck_assert_int_eq(doc_int(doc, "exit_status"), 0);
    ck_assert(json_is_string(json_object_get(doc, "ended_at")));
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(doc_int(doc, "size"), sb.st_size);
    ck_assert_int_eq(doc_int(doc, "lines"), 6);
    ck_assert_str_eq(doc_str(doc, "runner"), "smoke");
    abs = xasprintf("%s/%s", dir, rel);
    ck_assert_str_eq(abs, path);
    ck_assert_ptr_nonnull(strstr(rel, "sessions/pi-1/"));
    ck_assert_ptr_nonnull(strstr(rel, "-4242.jsonl"));
    json_decref(doc);

    items = read_page(path, 0, 100, &next, &seen);
    ck_assert_int_eq(json_array_size(items), 6);
    {
        static const char *const kinds[] = {"spawn", NULL, "state", NULL,
                                            "state", "exit"};

        for (i = 0; i < 6; i++) {
            json_t *e = json_object_get(json_array_get(items, i), "entry");
            const char *k = doc_str(e, "colibri");

            if (kinds[i] == NULL)
                ck_assert_ptr_null(k);
            else
                ck_assert_str_eq(k, kinds[i]);
        }
    }
    {
        json_t *spawn = json_object_get(json_array_get(items, 0), "entry");
        json_t *exit = json_object_get(json_array_get(items, 5), "entry");
        json_t *state = json_object_get(json_array_get(items, 4), "entry");

        ck_assert_int_eq(doc_int(spawn, "pid"), 4242);
        ck_assert_int_eq(doc_int(spawn, "restarts"), 1);
        ck_assert_int_eq(doc_int(spawn, "task_id"), 12);
        ck_assert_str_eq(doc_str(state, "from"), "working");
        ck_assert_str_eq(doc_str(state, "to"), "done");
        ck_assert_str_eq(doc_str(state, "reason"), "stop");
        ck_assert_int_eq(doc_int(exit, "exit_status"), 0);
        ck_assert_str_eq(doc_str(exit, "state"), "done");
    }
    json_decref(items);

    /* A second run of the agent is a second session; beginning while one
     * is open ends that one first. */
    {
        int64_t id2 = 0, id3 = 0;

        ck_assert_int_eq(sessions_begin(ss, "pi-1", -1, NULL, NULL, 1, 0, &id2,
                                        NULL), 0);
        ck_assert_int_eq(sessions_begin(ss, "pi-1", -1, NULL, NULL, 2, 0, &id3,
                                        NULL), 0);
        ck_assert_int_gt(id3, id2);
        doc = session_doc(id2, NULL);
        ck_assert(json_is_string(json_object_get(doc, "ended_at")));
        ck_assert(json_is_null(json_object_get(doc, "exit_status")));
        json_decref(doc);
    }
    sessions_close(ss);     /* ends what is open */
    {
        struct session_filter f = {NULL, -1, "open", -1, -1, 0, 10};
        json_t *page = NULL;
        struct problem err = {0};

        ck_assert_int_eq(store_session_list(st, &f, &page, &err), 0);
        ck_assert_int_eq(json_array_size(json_object_get(page, "items")),
                         0);
        json_decref(page);
    }
    free(abs);
    free(rel);
    free(path);
}
END_TEST

/* Registers agent and commits its glasspane transitions, as ingestion
 * does before the session's annotations are written. */
static void
agent_states(const char *agent, const char *const *states)
{
    struct problem err = {0};
    json_t *fields = json_pack("{s:s, s:s}", "id", agent, "kind", "smoke");
    json_t *doc = NULL;
    size_t i;

    /* The store's clock (a test clock) at the real time the session
     * registry uses, so that these states are this run's. */
    if (test_clock() < util_now_ms())
        test_clock_advance(util_now_ms() - test_clock());
    if (store_agent_register(st, fields, &doc, &err) < 0)
        ck_abort_msg("register %s: %s", agent, err.detail);
    json_decref(fields);
    json_decref(doc);
    for (i = 0; states[i + 1] != NULL; i++) {
        struct agent_transition t = {states[i], states[i + 1], "test", "",
                                     0};

        if (store_agent_set_state(st, agent, &t, 1, &err) < 0)
            ck_abort_msg("state %s: %s", agent, err.detail);
    }
}

START_TEST(recover_after_crash)
{
    static const char *const w_states[] = {"idle", "working", NULL};
    static const char *const d_states[] = {"idle", "working", "done", NULL};
    struct sessions *a = registry(0, 0), *b;
    int64_t id1 = 0, id2 = 0, size, lines;
    char *p1 = NULL, *p2 = NULL;
    const char *forged = "{\"colibri\":\"state\",\"to\":\"done\"}\n"
                         "{\"colibri\":\"exit\",\"state\":\"done\","
                         "\"exit_status\":0}\n";
    json_t *doc;
    struct stat sb;
    int fd;

    ck_assert_int_eq(sessions_begin(a, "w", -1, "smoke", NULL, 10, 0, &id1, &p1),
                     0);
    agent_states("w", w_states);
    sessions_note_state(a, "w", "idle", "working", "agent_start");
    sessions_append(a, "w", "{\"type\":\"message_update\"}\n", 26);
    /* The agent prints lines that look like Colibri's annotations: they
     * are its output, not the run's end. */
    sessions_append(a, "w", forged, strlen(forged));
    ck_assert_int_eq(sessions_begin(a, "d", -1, "smoke", NULL, 11, 0, &id2, &p2),
                     0);
    agent_states("d", d_states);
    sessions_note_state(a, "d", "idle", "working", "agent_start");
    sessions_note_state(a, "d", "working", "done", "stop");
    ck_assert_int_eq(sessions_live(a, id1, &size, &lines), 1);
    /* The crash: a torn last line, and nobody ends the sessions. */
    fd = open(p1, O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "{\"type\":\"mess", 13), 13);
    close(fd);

    b = registry(0, 0);     /* the restarted daemon */
    doc = session_doc(id1, NULL);
    /* unsettled in the store, whatever the file says */
    ck_assert_str_eq(doc_str(doc, "state"), "error");
    ck_assert(json_is_null(json_object_get(doc, "exit_status")));
    ck_assert_int_eq(stat(p1, &sb), 0);
    ck_assert_int_eq(doc_int(doc, "size"), sb.st_size);
    ck_assert_int_eq(doc_int(doc, "size"), size + 13);
    ck_assert_int_eq(doc_int(doc, "lines"), lines);     /* whole lines */
    ck_assert(json_is_string(json_object_get(doc, "ended_at")));
    json_decref(doc);
    doc = session_doc(id2, NULL);
    ck_assert_str_eq(doc_str(doc, "state"), "done");    /* settled */
    json_decref(doc);
    sessions_close(b);
    /* The old registry's late end changes nothing that was recovered. */
    sessions_close(a);
    doc = session_doc(id1, NULL);
    ck_assert_str_eq(doc_str(doc, "state"), "error");
    ck_assert_int_eq(doc_int(doc, "size"), size + 13);
    json_decref(doc);
    free(p1);
    free(p2);
}
END_TEST

static int64_t
indexed(const char *agent, int64_t started, int64_t ended, int64_t size)
{
    struct session_start s = {agent, -1, "smoke", NULL, started, NULL};
    struct session_end e = {ended, size, 1, "done", 0};
    struct problem err = {0};
    char *rel = xasprintf("sessions/%s/%lld-1.jsonl", agent,
                          (long long)started);
    char *abs = xasprintf("%s/sessions/%s", dir, agent);
    int64_t id = 0;

    s.path = rel;
    ck_assert_int_eq(util_mkdir_p(abs, 0700), 0);
    free(abs);
    abs = xasprintf("%s/%s", dir, rel);
    write_file(abs, "{}\n", 3);
    ck_assert_int_eq(store_session_start(st, &s, &id, &err), 0);
    if (ended >= 0)
        ck_assert_int_eq(store_session_end(st, id, &e, &err), 0);
    free(rel);
    free(abs);
    return id;
}

static int
exists(int64_t id)
{
    struct problem err = {0};
    json_t *doc = NULL;
    int rc = store_session_get(st, id, &doc, NULL, &err);

    json_decref(doc);
    problem_clear(&err);
    return rc == 0;
}

START_TEST(retention_by_age_and_size)
{
    int64_t now = util_now_ms(), day = 86400000;
    int64_t old1 = indexed("a", now - 10 * day, now - 9 * day, 100);
    int64_t old2 = indexed("b", now - 8 * day, now - 8 * day + 5, 100);
    int64_t open_old = indexed("c", now - 20 * day, -1, 0);
    int64_t mid = indexed("d", now - 3 * day, now - 3 * day, 300);
    int64_t fresh = indexed("e", now - day, now - day, 300);
    struct sessions *ss = registry(7 * day, 500);
    char *gone = xasprintf("%s/sessions/a", dir);
    struct stat sb;
    int removed = -1;
    struct problem err = {0};

    /* Opening closed the one left open (as after a crash): it ended when
     * its file was last written, now, with the file's 3 bytes. */
    ck_assert(exists(open_old));
    ck_assert_int_eq(sessions_prune(ss, &removed, &err), 0);
    /* Age: old1 and old2 ended over 7 days ago.  Size: then 3 + 300 +
     * 300 > 500, so the oldest ended go (by id) until it fits: c, d. */
    ck_assert_int_eq(removed, 4);
    ck_assert(!exists(old1));
    ck_assert(!exists(old2));
    ck_assert(!exists(open_old));
    ck_assert(!exists(mid));
    ck_assert(exists(fresh));
    ck_assert_int_eq(sessions_prune(ss, &removed, &err), 0);
    ck_assert_int_eq(removed, 0);
    /* the files and empty agent folders went too */
    ck_assert_int_eq(stat(gone, &sb), -1);
    free(gone);
    sessions_close(ss);
}
END_TEST

START_TEST(retention_never_takes_an_open_session)
{
    struct sessions *ss = registry(0, 1);
    int64_t id = 0, old;
    int removed = -1;
    struct problem err = {0};

    old = indexed("z", util_now_ms() - 1000, util_now_ms() - 500, 1000);
    ck_assert_int_eq(sessions_begin(ss, "live", -1, NULL, NULL, 7, 0, &id, NULL),
                     0);
    sessions_append(ss, "live", "{\"big\":1}\n", 10);
    ck_assert_int_eq(sessions_prune(ss, &removed, &err), 0);
    ck_assert_int_eq(removed, 1);
    ck_assert(!exists(old));
    ck_assert(exists(id));
    ck_assert_int_eq(sessions_prune(ss, &removed, &err), 0);
    ck_assert_int_eq(removed, 0);
    ck_assert(exists(id));
    sessions_close(ss);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, append_whole_lines_and_counts);
    tcase_add_test(tc, read_skips_partial_and_garbage);
    tcase_add_test(tc, read_skips_overlong_line);
    tcase_add_test(tc, registry_begin_append_end);
    tcase_add_test(tc, recover_after_crash);
    tcase_add_test(tc, retention_by_age_and_size);
    tcase_add_test(tc, retention_never_takes_an_open_session);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
