/*
 * check_store.c - store.c: creation and migration, reopening keeps data,
 * a newer schema is refused, WAL mode, group commit under concurrency.
 */
#include "autoconf.h"

#include <pthread.h>
#include <sqlite3.h>

#include "testutil.h"

static json_t *
create(struct store *s, const char *title)
{
    struct problem err = {0};
    json_t *fields = json_pack("{s:s}", "title", title);
    json_t *task = NULL;

    if (store_task_create(s, fields, &task, &err) < 0)
        ck_abort_msg("create: %s", err.detail);
    json_decref(fields);
    return task;
}

static int
pragma_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int v = -1;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

START_TEST(open_migrates_and_reopen_keeps_data)
{
    char *dir = test_tmpdir();
    char *path = xasprintf("%s/colibri.sqlite", dir);
    struct store *s = test_store_open(dir);
    struct problem err = {0};
    json_t *task;
    int version;

    version = store_schema_version(s);
    ck_assert_int_ge(version, 2);
    ck_assert_int_eq(store_ping(s, &err), 0);
    task = create(s, "survives");
    json_decref(task);
    store_close(s);

    ck_assert_int_eq(pragma_int(path, "PRAGMA user_version"), version);
    s = test_store_open(dir);
    ck_assert_int_eq(store_schema_version(s), version);
    ck_assert_int_eq(store_task_get(s, 1, &task, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(task, "title")),
                     "survives");
    json_decref(task);
    store_close(s);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(wal_mode_is_on)
{
    char *dir = test_tmpdir();
    char *path = xasprintf("%s/colibri.sqlite", dir);
    struct store *s = test_store_open(dir);
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
                                        NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    store_close(s);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(newer_schema_is_refused)
{
    char *dir = test_tmpdir();
    char *path = xasprintf("%s/colibri.sqlite", dir);
    struct store_options opts;
    struct problem err = {0};
    struct store *s = NULL;
    sqlite3 *db;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 999", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    memset(&opts, 0, sizeof(opts));
    opts.path = path;
    ck_assert_int_eq(store_open(&s, &opts, &err), -1);
    ck_assert_str_eq(err.code, "schema_too_new");
    ck_assert_int_eq(pragma_int(path, "PRAGMA user_version"), 999);
    problem_clear(&err);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(unopenable_path_is_an_error)
{
    struct store_options opts;
    struct problem err = {0};
    struct store *s = NULL;

    memset(&opts, 0, sizeof(opts));
    opts.path = "/nonexistent-dir/x/colibri.sqlite";
    ck_assert_int_eq(store_open(&s, &opts, &err), -1);
    ck_assert_str_eq(err.code, "store_open");
    problem_clear(&err);
}
END_TEST

struct writer_arg {
    struct store *s;
    int n;
    int ok;
};

static void *
writer(void *p)
{
    struct writer_arg *a = p;
    int i;

    for (i = 0; i < a->n; i++) {
        struct problem err = {0};
        json_t *fields = json_pack("{s:s}", "title", "concurrent");
        json_t *task = NULL;

        if (store_task_create(a->s, fields, &task, &err) == 0)
            a->ok++;
        json_decref(fields);
        json_decref(task);
        problem_clear(&err);
    }
    return NULL;
}

START_TEST(concurrent_writers_all_commit)
{
    char *dir = test_tmpdir();
    struct store *s = test_store_open(dir);
    struct writer_arg args[8];
    pthread_t th[8];
    int64_t counts[TASK_STATUS_COUNT];
    struct problem err = {0};
    int i, total = 0;

    for (i = 0; i < 8; i++) {
        args[i].s = s;
        args[i].n = 50;
        args[i].ok = 0;
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total += args[i].ok;
    }
    ck_assert_int_eq(total, 400);
    ck_assert_int_eq(store_task_counts(s, counts, &err), 0);
    ck_assert_int_eq(counts[TASK_TODO], 400);
    store_close(s);
    test_rmdir(dir);
}
END_TEST

START_TEST(failed_job_rolls_back_alone)
{
    char *dir = test_tmpdir();
    struct store *s = test_store_open(dir);
    struct problem err = {0};
    json_t *fields, *task = NULL;
    int64_t counts[TASK_STATUS_COUNT];

    /* A dependency on a missing task fails after the INSERT ran: the
     * savepoint must take the half-made task away. */
    fields = json_pack("{s:s, s:[i]}", "title", "bad", "depends_on", 99);
    ck_assert_int_eq(store_task_create(s, fields, &task, &err), -1);
    ck_assert_str_eq(err.code, "dependency_not_found");
    ck_assert_ptr_null(task);
    problem_clear(&err);
    json_decref(fields);
    ck_assert_int_eq(store_task_counts(s, counts, &err), 0);
    ck_assert_int_eq(counts[TASK_TODO], 0);
    store_close(s);
    test_rmdir(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, open_migrates_and_reopen_keeps_data);
    tcase_add_test(tc, wal_mode_is_on);
    tcase_add_test(tc, newer_schema_is_refused);
    tcase_add_test(tc, unopenable_path_is_an_error);
    tcase_add_test(tc, concurrent_writers_all_commit);
    tcase_add_test(tc, failed_job_rolls_back_alone);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
