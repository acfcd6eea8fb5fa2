/*
 * check_static.c - static.c and login.c without a daemon: the MIME
 * table, path refusals (dot segments, encoded escapes, symbolic links out
 * of the root), ETag matching, and one-time codes and sessions.
 */
#include "autoconf.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/login.h"
#include "src/static.h"
#include "src/util.h"

static char root[PATH_MAX];
static char outside[PATH_MAX];

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void
setup(void)
{
    char tmpl[] = "/tmp/colibri-static-XXXXXX", *base, path[PATH_MAX + 64];

    base = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(base);
    snprintf(path, sizeof(path), "%s/root", base);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_ptr_nonnull(realpath(path, root));
    snprintf(outside, sizeof(outside), "%s/secret.html", base);
    write_file(outside, "secret");
    snprintf(path, sizeof(path), "%s/index.html", root);
    write_file(path, "<!doctype html>");
    snprintf(path, sizeof(path), "%s/app.js", root);
    write_file(path, "export {};");
    snprintf(path, sizeof(path), "%s/data.bin", root);
    write_file(path, "x");
    snprintf(path, sizeof(path), "%s/sub", root);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/sub/a.css", root);
    write_file(path, "a{}");
    snprintf(path, sizeof(path), "%s/out.html", root);
    ck_assert_int_eq(symlink(outside, path), 0);
    snprintf(path, sizeof(path), "%s/in.html", root);
    ck_assert_int_eq(symlink("index.html", path), 0);
}

static void
teardown(void)
{
    char cmd[PATH_MAX + 32], *slash;

    slash = strrchr(root, '/');
    if (slash != NULL) {
        *slash = '\0';
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", root);
    }
}

START_TEST(test_mime)
{
    ck_assert_str_eq(static_mime("a/index.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(static_mime("app.js"),
                     "text/javascript; charset=utf-8");
    ck_assert_str_eq(static_mime("x.CSS"), "text/css; charset=utf-8");
    ck_assert_str_eq(static_mime("i.svg"), "image/svg+xml");
    ck_assert_str_eq(static_mime("f.woff2"), "font/woff2");
    ck_assert_str_eq(static_mime("p.png"), "image/png");
    ck_assert_str_eq(static_mime("f.ico"), "image/x-icon");
    ck_assert_str_eq(static_mime("d.json"), "application/json");
    ck_assert_ptr_null(static_mime("noext"));
    ck_assert_ptr_null(static_mime("a.bin"));
    ck_assert_ptr_null(static_mime("dir.html/x"));
}
END_TEST

START_TEST(test_resolve)
{
    struct static_file f;
    char want[PATH_MAX + 32];

    ck_assert_int_eq(static_resolve(root, "/", &f), 0);
    snprintf(want, sizeof(want), "%s/index.html", root);
    ck_assert_str_eq(f.path, want);
    ck_assert_str_eq(f.cache_control, "no-cache");
    ck_assert_int_eq(f.size, 15);
    ck_assert_int_eq(f.etag[0], '"');
    ck_assert_int_eq(static_resolve(root, "/app.js", &f), 0);
    ck_assert_str_eq(f.mime, "text/javascript; charset=utf-8");
    ck_assert_int_eq(static_resolve(root, "/sub/a.css", &f), 0);
    /* A link that stays inside the root is fine. */
    ck_assert_int_eq(static_resolve(root, "/in.html", &f), 0);
}
END_TEST

START_TEST(test_refused)
{
    static const char *const bad[] = {
        "/../secret.html", "/sub/../index.html", "/./index.html",
        "/%2e%2e/secret.html", "/%2e%2e%2fsecret.html", "//index.html",
        "/sub//a.css", "/.hidden.html", "/sub\\..\\index.html",
        "/out.html", "/data.bin", "/missing.html", "/sub", "/sub/",
        "index.html", "", "/index.html\x01", NULL,
    };
    struct static_file f;
    size_t i;

    for (i = 0; bad[i] != NULL; i++)
        ck_assert_msg(static_resolve(root, bad[i], &f) < 0,
                      "'%s' was served", bad[i]);
}
END_TEST

START_TEST(test_etag)
{
    ck_assert(static_etag_matches("\"a-b\"", "\"a-b\""));
    ck_assert(static_etag_matches("W/\"a-b\"", "\"a-b\""));
    ck_assert(static_etag_matches("\"x\", \"a-b\"", "\"a-b\""));
    ck_assert(static_etag_matches("*", "\"a-b\""));
    ck_assert(!static_etag_matches(NULL, "\"a-b\""));
    ck_assert(!static_etag_matches("\"a-c\"", "\"a-b\""));
    ck_assert(!static_etag_matches("", "\"a-b\""));
}
END_TEST

START_TEST(test_login)
{
    struct login *l = login_new();
    char code[LOGIN_SECRET_HEX + 1], code2[LOGIN_SECRET_HEX + 1];
    char sid[LOGIN_SECRET_HEX + 1], csrf[LOGIN_SECRET_HEX + 1];
    char csrf2[LOGIN_SECRET_HEX + 1];

    ck_assert_int_eq(login_mint_code(l, 1000, code), 0);
    ck_assert_uint_eq(strlen(code), LOGIN_SECRET_HEX);
    ck_assert_int_lt(login_redeem(l, "nope", 1000, sid, csrf), 0);
    ck_assert_int_eq(login_redeem(l, code, 2000, sid, csrf), 0);
    ck_assert_str_ne(sid, csrf);
    /* Once only. */
    ck_assert_int_lt(login_redeem(l, code, 2000, sid, csrf2), 0);
    ck_assert_int_eq(login_check(l, sid, 3000, csrf2), 0);
    ck_assert_str_eq(csrf, csrf2);
    ck_assert_int_lt(login_check(l, code, 3000, csrf2), 0);
    ck_assert_int_lt(login_check(l, NULL, 3000, csrf2), 0);
    /* Sessions expire without use; codes after their lifetime. */
    ck_assert_int_lt(login_check(l, sid, 3000 + LOGIN_SESSION_TTL_MS,
                                 csrf2), 0);
    ck_assert_int_eq(login_mint_code(l, 0, code2), 0);
    ck_assert_int_lt(login_redeem(l, code2, LOGIN_CODE_TTL_MS, sid, csrf),
                     0);
    login_free(l);
    login_free(NULL);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("static");
    TCase *tc = tcase_create("static");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_mime);
    tcase_add_test(tc, test_resolve);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_etag);
    tcase_add_test(tc, test_login);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
