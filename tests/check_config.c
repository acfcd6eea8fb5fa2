/*
 * check_config.c - config.c: precedence flag > env > file > default,
 * validation of every kind of value, and the file syntax.
 */
#include "autoconf.h"

#include <stdarg.h>

#include "src/config.h"
#include "testutil.h"

static char err[1024];

static int
load(struct config *cfg, enum config_action *action, int argc, ...)
{
    static char prog[] = "./colibrid";
    char *argv[32];
    va_list ap;
    int i;

    va_start(ap, argc);
    argv[0] = prog;
    for (i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    argv[argc] = NULL;
    va_end(ap);
    err[0] = '\0';
    return config_load(cfg, argc, argv, action, err, sizeof(err));
}

static char *
write_file(const char *dir, const char *text)
{
    char *path = xasprintf("%s/colibrid.conf", dir);
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void
clear_env(void)
{
    unsetenv("COLIBRI_THREADS");
    unsetenv("COLIBRI_LISTEN");
    unsetenv("COLIBRI_ALLOW_HOST");
    unsetenv("COLIBRI_CONFIG");
    unsetenv("COLIBRI_DURABILITY");
    unsetenv("COLIBRI_DATA_DIR");
}

START_TEST(defaults_from_source_tree)
{
    struct config cfg;
    enum config_action action;

    clear_env();
    ck_assert_int_eq(load(&cfg, &action, 1), 0);
    ck_assert_int_eq(action, CONFIG_RUN);
    ck_assert_str_eq(cfg.listen_host, "127.0.0.1");
    ck_assert_int_eq(cfg.listen_port, 7700);
    ck_assert_str_eq(cfg.data_dir, "./var");
    ck_assert_str_eq(cfg.db_path, "./var/colibri.sqlite");
    ck_assert_str_eq(cfg.token_path, "./var/token");
    ck_assert_int_eq(cfg.durability, DURABILITY_FULL);
    ck_assert_int_eq(cfg.threads, 16);
    config_free(&cfg);
}
END_TEST

START_TEST(precedence_flag_env_file)
{
    struct config cfg;
    enum config_action action;
    char *dir = test_tmpdir();
    char *path = write_file(dir, "# comment\n\nthreads = 3\n"
                                 "durability = normal\n"
                                 "listen = 127.0.0.1:9000\n"
                                 "allow-host = a.example, b.example\n");

    clear_env();
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), 0);
    ck_assert_int_eq(cfg.threads, 3);
    ck_assert_int_eq(cfg.durability, DURABILITY_NORMAL);
    ck_assert_int_eq(cfg.listen_port, 9000);
    ck_assert_str_eq(cfg.allow_hosts[0], "a.example");
    ck_assert_str_eq(cfg.allow_hosts[1], "b.example");
    ck_assert_ptr_null(cfg.allow_hosts[2]);
    config_free(&cfg);

    setenv("COLIBRI_THREADS", "5", 1);
    setenv("COLIBRI_ALLOW_HOST", "c.example", 1);
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), 0);
    ck_assert_int_eq(cfg.threads, 5);
    ck_assert_str_eq(cfg.allow_hosts[0], "c.example");
    ck_assert_ptr_null(cfg.allow_hosts[1]);
    config_free(&cfg);

    ck_assert_int_eq(load(&cfg, &action, 8, "--config", path, "--threads",
                          "7", "-H", "d.example", "--allow-host=e.example"),
                     0);
    ck_assert_int_eq(cfg.threads, 7);
    ck_assert_str_eq(cfg.allow_hosts[0], "d.example");
    ck_assert_str_eq(cfg.allow_hosts[1], "e.example");
    ck_assert_ptr_null(cfg.allow_hosts[2]);
    config_free(&cfg);

    setenv("COLIBRI_CONFIG", path, 1);
    unsetenv("COLIBRI_THREADS");
    ck_assert_int_eq(load(&cfg, &action, 1), 0);
    ck_assert_int_eq(cfg.threads, 3);
    ck_assert_str_eq(cfg.config_file, path);
    config_free(&cfg);
    clear_env();
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(bad_values_are_refused_with_reason)
{
    struct config cfg;
    enum config_action action;

    clear_env();
    ck_assert_int_eq(load(&cfg, &action, 3, "--threads", "0"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--threads"));
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--durability", "maybe"), -1);
    ck_assert_ptr_nonnull(strstr(err, "full or normal"));
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--listen", "nohost"), -1);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--listen", "h:70000"), -1);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 2, "--no-such-flag"), -1);
    ck_assert_ptr_nonnull(strstr(err, "no-such-flag"));
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--tls-cert", "c.pem"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--tls-key"));
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 2, "stray"), -1);
    config_free(&cfg);
    setenv("COLIBRI_THREADS", "many", 1);
    ck_assert_int_eq(load(&cfg, &action, 1), -1);
    ck_assert_ptr_nonnull(strstr(err, "COLIBRI_THREADS"));
    config_free(&cfg);
    clear_env();
}
END_TEST

START_TEST(file_errors_name_the_line)
{
    struct config cfg;
    enum config_action action;
    char *dir = test_tmpdir();
    char *path = write_file(dir, "threads = 2\nbogus = 1\n");

    clear_env();
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), -1);
    ck_assert_ptr_nonnull(strstr(err, ":2:"));
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
    config_free(&cfg);
    free(path);
    path = write_file(dir, "threads\n");
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), -1);
    ck_assert_ptr_nonnull(strstr(err, "key = value"));
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", "/nonexistent"),
                     -1);
    config_free(&cfg);
    free(path);
    test_rmdir(dir);
}
END_TEST

START_TEST(listen_forms_and_actions)
{
    struct config cfg;
    enum config_action action;

    clear_env();
    ck_assert_int_eq(load(&cfg, &action, 3, "--listen", "[::1]:0"), 0);
    ck_assert_str_eq(cfg.listen_host, "::1");
    ck_assert_int_eq(cfg.listen_port, 0);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 4, "--data-dir", "/x", "--print-config"),
                     0);
    ck_assert_int_eq(action, CONFIG_PRINT);
    ck_assert_str_eq(cfg.db_path, "/x/colibri.sqlite");
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 2, "--check-config"), 0);
    ck_assert_int_eq(action, CONFIG_CHECK);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 2, "-V"), 0);
    ck_assert_int_eq(action, CONFIG_VERSION);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 4, "--db", "/y/z.db", "-D"), 0);
    ck_assert_str_eq(cfg.db_path, "/y/z.db");
    ck_assert_int_eq(cfg.daemonize, 1);
    config_free(&cfg);
}
END_TEST

/* skills-path: one path per flag; ':' in the environment; ',' or ':' in
 * the file; a higher source replaces the list of lower ones. */
START_TEST(skills_path_sources)
{
    struct config cfg;
    enum config_action action;
    char *dir = test_tmpdir();
    char *path = write_file(dir, "skills-path = /f1, /f2:/f3\n"
                                 "skills-path = /f4\n");

    clear_env();
    unsetenv("COLIBRI_SKILLS_PATH");
    ck_assert_int_eq(load(&cfg, &action, 1), 0);
    ck_assert_ptr_null(cfg.skills_paths);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), 0);
    ck_assert_str_eq(cfg.skills_paths[0], "/f1");
    ck_assert_str_eq(cfg.skills_paths[1], "/f2");
    ck_assert_str_eq(cfg.skills_paths[2], "/f3");
    ck_assert_str_eq(cfg.skills_paths[3], "/f4");
    ck_assert_ptr_null(cfg.skills_paths[4]);
    config_free(&cfg);
    setenv("COLIBRI_SKILLS_PATH", "/e1:/e,2::", 1);
    ck_assert_int_eq(load(&cfg, &action, 3, "--config", path), 0);
    ck_assert_str_eq(cfg.skills_paths[0], "/e1");
    ck_assert_str_eq(cfg.skills_paths[1], "/e,2");
    ck_assert_ptr_null(cfg.skills_paths[2]);
    config_free(&cfg);
    ck_assert_int_eq(load(&cfg, &action, 5, "--skills-path", "/a:b,c",
                          "--skills-path", "/d"), 0);
    ck_assert_str_eq(cfg.skills_paths[0], "/a:b,c");
    ck_assert_str_eq(cfg.skills_paths[1], "/d");
    ck_assert_ptr_null(cfg.skills_paths[2]);
    config_free(&cfg);
    unsetenv("COLIBRI_SKILLS_PATH");
    ck_assert_int_eq(load(&cfg, &action, 3, "--skills-path", path), 0);
    ck_assert_int_eq(config_check(&cfg, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a directory"));
    config_free(&cfg);
    free(path);
    test_rmdir(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, defaults_from_source_tree);
    tcase_add_test(tc, precedence_flag_env_file);
    tcase_add_test(tc, bad_values_are_refused_with_reason);
    tcase_add_test(tc, file_errors_name_the_line);
    tcase_add_test(tc, listen_forms_and_actions);
    tcase_add_test(tc, skills_path_sources);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
