/*
 * check_util.c - util.c: capped buffers, number parsing, time format,
 * constant-time comparison.
 */
#include "autoconf.h"

#include <sys/stat.h>

#include "testutil.h"

START_TEST(buf_respects_cap)
{
    struct buf b;

    buf_init(&b, 8);
    ck_assert_int_eq(buf_append(&b, "1234", 4), 0);
    ck_assert_int_eq(buf_append(&b, "5678", 4), 0);
    ck_assert_int_eq(buf_append(&b, "9", 1), -1);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_str_eq(b.data, "12345678");
    buf_reset(&b);
    ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
    ck_assert_str_eq(b.data, "42-x");
    ck_assert_int_eq(buf_printf(&b, "%s", "too long for it"), -1);
    ck_assert_str_eq(b.data, "42-x");
    buf_free(&b);
}
END_TEST

START_TEST(buf_grows_past_small_printf)
{
    struct buf b;
    char big[2000];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_init(&b, 10000);
    ck_assert_int_eq(buf_printf(&b, "<%s>", big), 0);
    ck_assert_uint_eq(b.len, sizeof(big) + 1);
    buf_free(&b);
}
END_TEST

START_TEST(buf_take_drains_in_pieces)
{
    struct buf b;
    size_t off = 0;
    char out[8];

    buf_init(&b, 64);
    ck_assert_int_eq(buf_take(&b, &off, out, sizeof(out)), 0);
    ck_assert_int_eq(buf_append(&b, "abcdefghij", 10), 0);
    ck_assert_int_eq(buf_take(&b, &off, out, 4), 4);
    ck_assert(memcmp(out, "abcd", 4) == 0);
    ck_assert_int_eq(off, 4);
    ck_assert_int_eq(buf_take(&b, &off, out, sizeof(out)), 6);
    ck_assert(memcmp(out, "efghij", 6) == 0);
    /* All taken: emptied, the offset back at 0, and nothing more. */
    ck_assert_int_eq(off, 0);
    ck_assert_int_eq(b.len, 0);
    ck_assert_int_eq(buf_take(&b, &off, out, sizeof(out)), 0);
    ck_assert_int_eq(buf_append(&b, "k", 1), 0);
    ck_assert_int_eq(buf_take(&b, &off, out, sizeof(out)), 1);
    ck_assert_int_eq(out[0], 'k');
    buf_free(&b);
}
END_TEST

START_TEST(set_err_formats_and_fails)
{
    char err[8] = "";

    ck_assert_int_eq(util_set_err(err, sizeof(err), "%s %d", "bad", 12345),
                     -1);
    ck_assert_str_eq(err, "bad 123");           /* cut to the buffer */
    ck_assert_int_eq(util_set_err(NULL, 0, "ignored"), -1);
}
END_TEST

START_TEST(parse_ll_is_strict)
{
    long long v;

    ck_assert_int_eq(util_parse_ll("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(util_parse_ll("-3", -5, 5, &v), 0);
    ck_assert_int_eq(v, -3);
    ck_assert_int_eq(util_parse_ll("", 0, 100, &v), -1);
    ck_assert_int_eq(util_parse_ll(" 4", 0, 100, &v), -1);
    ck_assert_int_eq(util_parse_ll("+4", 0, 100, &v), -1);
    ck_assert_int_eq(util_parse_ll("4x", 0, 100, &v), -1);
    ck_assert_int_eq(util_parse_ll("101", 0, 100, &v), -1);
    ck_assert_int_eq(util_parse_ll("99999999999999999999", 0, 100, &v), -1);
}
END_TEST

START_TEST(time_is_rfc3339_utc)
{
    char out[UTIL_TIME_LEN];

    util_format_time(0, out);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    util_format_time(1700000000123LL, out);
    ck_assert_str_eq(out, "2023-11-14T22:13:20.123Z");
}
END_TEST

START_TEST(equal_ct_compares)
{
    ck_assert(util_equal_ct("abc", 3, "abc", 3));
    ck_assert(!util_equal_ct("abc", 3, "abd", 3));
    ck_assert(!util_equal_ct("abc", 3, "abcd", 4));
    ck_assert(util_equal_ct("", 0, "", 0));
}
END_TEST

START_TEST(hex_and_random)
{
    unsigned char a[16], b[16];
    char hex[33];

    ck_assert_int_eq(util_random(a, sizeof(a)), 0);
    ck_assert_int_eq(util_random(b, sizeof(b)), 0);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    util_hex((const unsigned char *)"\x01\xab", 2, hex);
    ck_assert_str_eq(hex, "01ab");
}
END_TEST

START_TEST(mkdir_p_and_read_file)
{
    char *dir = test_tmpdir();
    char *deep = xasprintf("%s/a/b/c", dir);
    char *file = xasprintf("%s/f", dir);
    struct stat st;
    FILE *f;
    char *text;

    ck_assert_int_eq(util_mkdir_p(deep, 0700), 0);
    ck_assert_int_eq(util_mkdir_p(deep, 0700), 0);
    ck_assert_int_eq(stat(deep, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    f = fopen(file, "w");
    fputs("hello", f);
    fclose(f);
    text = util_read_file(file, 100);
    ck_assert_str_eq(text, "hello");
    free(text);
    ck_assert_ptr_null(util_read_file(file, 3));
    /* A secret file: trailing white space goes, inner space stays. */
    f = fopen(file, "w");
    fputs("ab cd \t\r\n\n", f);
    fclose(f);
    text = util_read_secret(file, 100);
    ck_assert_str_eq(text, "ab cd");
    free(text);
    ck_assert_ptr_null(util_read_secret(file, 3));
    free(deep);
    free(file);
    test_rmdir(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, buf_respects_cap);
    tcase_add_test(tc, buf_grows_past_small_printf);
    tcase_add_test(tc, buf_take_drains_in_pieces);
    tcase_add_test(tc, set_err_formats_and_fails);
    tcase_add_test(tc, parse_ll_is_strict);
    tcase_add_test(tc, time_is_rfc3339_utc);
    tcase_add_test(tc, equal_ct_compares);
    tcase_add_test(tc, hex_and_random);
    tcase_add_test(tc, mkdir_p_and_read_file);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
