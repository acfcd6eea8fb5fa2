/*
 * check_skill_parse.c - skill_parse.c: the SKILL.md format without any
 * file: valid skills, every rule that makes one invalid, unicode, CRLF,
 * a byte order mark, missing and unterminated front matter, name rules.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/skill_parse.h"
#include "src/util.h"

static int
parse(const char *text, const char *folder, struct skill_meta *m)
{
    return skill_parse(text, strlen(text), folder, m);
}

/* True when some reason contains needle. */
static int
has_reason(const struct skill_meta *m, const char *needle)
{
    size_t i;

    for (i = 0; i < json_array_size(m->reasons); i++)
        if (strstr(json_string_value(json_array_get(m->reasons, i)),
                   needle) != NULL)
            return 1;
    return 0;
}

/* Parses text expecting it invalid with a reason containing needle. */
static void
expect_invalid(const char *text, const char *folder, const char *needle)
{
    struct skill_meta m;
    char *dump;

    ck_assert_int_eq(parse(text, folder, &m), -1);
    dump = json_dumps(m.reasons, 0);
    ck_assert_msg(has_reason(&m, needle), "no reason with '%s' in %s",
                  needle, dump);
    free(dump);
    skill_meta_free(&m);
}

static char *
repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit), i;
    char *s = xmalloc(len * n + 1);

    for (i = 0; i < n; i++)
        memcpy(s + i * len, unit, len);
    s[len * n] = '\0';
    return s;
}

START_TEST(valid_minimal)
{
    struct skill_meta m;

    ck_assert_int_eq(parse("---\nname: pdf\ndescription: Read PDF files."
                           "\n---\n# PDF\n\nUse pdftotext.\n", "pdf", &m),
                     0);
    ck_assert_uint_eq(json_array_size(m.reasons), 0);
    ck_assert_str_eq(m.name, "pdf");
    ck_assert_str_eq(m.description, "Read PDF files.");
    ck_assert_str_eq(m.body, "# PDF\n\nUse pdftotext.\n");
    ck_assert_ptr_null(m.license);
    ck_assert_ptr_null(m.compatibility);
    ck_assert_ptr_null(m.allowed_tools);
    ck_assert_ptr_null(m.metadata);
    skill_meta_free(&m);
    /* No folder: the name is not compared with anything. */
    ck_assert_int_eq(parse("---\nname: pdf\ndescription: d\n---\n", NULL,
                           &m), 0);
    ck_assert_str_eq(m.body, "");
    skill_meta_free(&m);
    /* Nothing after the closing line at all. */
    ck_assert_int_eq(parse("---\nname: pdf\ndescription: d\n---", "pdf",
                           &m), 0);
    ck_assert_str_eq(m.body, "");
    skill_meta_free(&m);
}
END_TEST

START_TEST(valid_every_field)
{
    struct skill_meta m;
    json_t *fm;
    char *text;

    ck_assert_int_eq(parse(
        "---\n"
        "name: data-tools-2\n"
        "description: >\n"
        "  Clean and join CSV files;\n"
        "  use when a table needs work.\n"
        "license: Apache-2.0\n"
        "compatibility: 'Needs python3 and network access'\n"
        "metadata:\n"
        "  author: example-org\n"
        "  version: \"1.0\"\n"
        "allowed-tools: Bash(git:*) Read\n"
        "---   \n"
        "Body.\n", "data-tools-2", &m), 0);
    ck_assert_str_eq(m.description, "Clean and join CSV files; use when a "
                     "table needs work.\n");
    ck_assert_str_eq(m.license, "Apache-2.0");
    ck_assert_str_eq(m.compatibility, "Needs python3 and network access");
    ck_assert_str_eq(m.allowed_tools, "Bash(git:*) Read");
    ck_assert_str_eq(json_string_value(json_object_get(m.metadata,
                                                       "version")), "1.0");
    ck_assert_str_eq(m.body, "Body.\n");
    fm = skill_front_matter(&m);
    text = json_dumps(fm, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(text,
        "{\"allowed-tools\":\"Bash(git:*) Read\",\"compatibility\":"
        "\"Needs python3 and network access\",\"description\":\"Clean and "
        "join CSV files; use when a table needs work.\\n\",\"license\":"
        "\"Apache-2.0\",\"metadata\":{\"author\":\"example-org\","
        "\"version\":\"1.0\"},\"name\":\"data-tools-2\"}");
    free(text);
    json_decref(fm);
    skill_meta_free(&m);
}
END_TEST

START_TEST(crlf_and_bom)
{
    struct skill_meta m;

    ck_assert_int_eq(parse("---\r\nname: pdf\r\ndescription: Read PDFs\r\n"
                           "---\r\nline one\r\nline two\r\n", "pdf", &m), 0);
    ck_assert_str_eq(m.description, "Read PDFs");
    ck_assert_str_eq(m.body, "line one\nline two\n");
    skill_meta_free(&m);
    ck_assert_int_eq(parse("\xef\xbb\xbf---\nname: pdf\ndescription: x\n"
                           "---\nbody\n", "pdf", &m), 0);
    ck_assert_str_eq(m.name, "pdf");
    skill_meta_free(&m);
    ck_assert_int_eq(parse("\xef\xbb\xbf---\r\nname: pdf\r\n"
                           "description: x\r\n---\r\n", "pdf", &m), 0);
    skill_meta_free(&m);
}
END_TEST

START_TEST(unicode)
{
    struct skill_meta m;
    char *text, *desc;

    ck_assert_int_eq(parse("---\nname: resume\ndescription: \"R\xc3\xa9sum"
                           "\xc3\xa9s \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac"
                           "\xe8\xaa\x9e \xf0\x9f\x9a\x80\"\nmetadata:\n  "
                           "\xc3\xa9t\xc3\xa9: \xc3\xa9\n---\n\xce\xb1\xce"
                           "\xb2\xce\xb3\n", "resume", &m), 0);
    ck_assert_str_eq(m.description, "R\xc3\xa9sum\xc3\xa9s \xe2\x80\x94 "
                     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80");
    ck_assert_str_eq(json_string_value(json_object_get(m.metadata,
                                                       "\xc3\xa9t\xc3\xa9")),
                     "\xc3\xa9");
    ck_assert_str_eq(m.body, "\xce\xb1\xce\xb2\xce\xb3\n");
    skill_meta_free(&m);

    /* 1024 characters of two bytes each are 1024 characters: valid. */
    desc = repeat("\xc3\xa9", 1024);
    text = xasprintf("---\nname: a\ndescription: %s\n---\n", desc);
    ck_assert_int_eq(parse(text, "a", &m), 0);
    skill_meta_free(&m);
    free(text);
    free(desc);
    /* A name is ASCII only. */
    expect_invalid("---\nname: caf\xc3\xa9\ndescription: d\n---\n", NULL,
                   "may contain only");
    /* Bytes that are not UTF-8. */
    expect_invalid("---\nname: a\ndescription: \xff\n---\n", "a",
                   "not valid UTF-8");
    expect_invalid("---\nname: a\ndescription: \xc0\xaf\n---\n", "a",
                   "not valid UTF-8");
}
END_TEST

START_TEST(missing_front_matter)
{
    struct skill_meta m;

    expect_invalid("# Just markdown\n", "a", "no front matter");
    expect_invalid("", "a", "no front matter");
    expect_invalid("\n---\nname: a\ndescription: d\n---\n", "a",
                   "no front matter");
    expect_invalid(" ---\nname: a\n---\n", "a", "no front matter");
    expect_invalid("----\nname: a\n---\n", "a", "no front matter");
    /* The body of a file without front matter is still kept. */
    ck_assert_int_eq(parse("Hello\r\n", "a", &m), -1);
    ck_assert_str_eq(m.body, "Hello\n");
    ck_assert_ptr_null(m.name);
    skill_meta_free(&m);
}
END_TEST

START_TEST(unterminated_front_matter)
{
    expect_invalid("---\nname: a\ndescription: d\n", "a", "not terminated");
    expect_invalid("---", "a", "not terminated");
    expect_invalid("---\n", "a", "not terminated");
    expect_invalid("---\nname: a\n--- x\nbody\n", "a", "not terminated");
}
END_TEST

START_TEST(front_matter_not_a_mapping)
{
    expect_invalid("---\n- name: a\n- description: d\n---\n", "a",
                   "must be a mapping");
    expect_invalid("---\njust text\n---\n", "a", "must be a mapping");
    /* Empty front matter: the required fields are missing. */
    expect_invalid("---\n---\nbody\n", "a", "name is required");
    expect_invalid("---\n---\nbody\n", "a", "description is required");
    expect_invalid("---\n\n---\n", "a", "name is required");
}
END_TEST

START_TEST(yaml_errors)
{
    expect_invalid("---\nname: a\ndescription: [unclosed\n---\n", "a",
                   "not valid YAML");
    expect_invalid("---\nname: a\n  bad: indent\n---\n", "a",
                   "not valid YAML");
    expect_invalid("---\nname: 'a\n---\n", "a", "not valid YAML");
    /* The line number is the file's. */
    expect_invalid("---\nname: a\ndescription: d\nfoo: [\n---\n", "a",
                   "line ");
    /* After "...", nothing more may follow ("---" ends the front
     * matter, so a second document cannot start properly). */
    expect_invalid("---\nname: a\ndescription: d\n...\nname: b\n---\n",
                   "a", "not valid YAML");
}
END_TEST

START_TEST(unknown_and_duplicate_keys)
{
    struct skill_meta m;

    expect_invalid("---\nname: a\ndescription: d\nversion: 2\n---\n", "a",
                   "unknown field 'version'");
    expect_invalid("---\nname: a\ndescription: d\nallowed_tools: x\n---\n",
                   "a", "unknown field 'allowed_tools'");
    expect_invalid("---\nname: a\ndescription: d\nname: a\n---\n", "a",
                   "'name' appears twice");
    expect_invalid("---\nname: a\ndescription: d\n[x]: y\n---\n", "a",
                   "key must be a string");
    /* All reasons at once. */
    ck_assert_int_eq(parse("---\nname: Bad_Name\nfoo: 1\n---\n", "other",
                           &m), -1);
    ck_assert(has_reason(&m, "unknown field 'foo'"));
    ck_assert(has_reason(&m, "may contain only"));
    ck_assert(has_reason(&m, "not the folder's name 'other'"));
    ck_assert(has_reason(&m, "description is required"));
    ck_assert_str_eq(m.name, "Bad_Name");
    skill_meta_free(&m);
}
END_TEST

START_TEST(name_rules)
{
    char why[128], *long_name;

    ck_assert_int_eq(skill_name_check("pdf", why, sizeof(why)), 0);
    ck_assert_int_eq(skill_name_check("a", NULL, 0), 0);
    ck_assert_int_eq(skill_name_check("web-search-2", NULL, 0), 0);
    ck_assert_int_eq(skill_name_check("0", NULL, 0), 0);
    ck_assert_int_eq(skill_name_check("", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "is empty");
    ck_assert_int_eq(skill_name_check("Pdf", why, sizeof(why)), -1);
    ck_assert_int_eq(skill_name_check("pdf_tools", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("pdf tools", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("pdf.tools", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("../x", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("-pdf", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "must not begin or end with a hyphen");
    ck_assert_int_eq(skill_name_check("pdf-", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("-", NULL, 0), -1);
    ck_assert_int_eq(skill_name_check("pdf--tools", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "must not contain two hyphens in a row");
    long_name = repeat("a", 64);
    ck_assert_int_eq(skill_name_check(long_name, NULL, 0), 0);
    free(long_name);
    long_name = repeat("a", 65);
    ck_assert_int_eq(skill_name_check(long_name, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "is longer than 64 characters");
    free(long_name);

    expect_invalid("---\nname: pdf\ndescription: d\n---\n", "pdfs",
                   "not the folder's name 'pdfs'");
    expect_invalid("---\nname: -pdf\ndescription: d\n---\n", NULL,
                   "hyphen");
    expect_invalid("---\ndescription: d\n---\n", NULL, "name is required");
    expect_invalid("---\nname:\ndescription: d\n---\n", NULL,
                   "name is required");
    expect_invalid("---\nname: ''\ndescription: d\n---\n", NULL,
                   "is empty");
    expect_invalid("---\nname: [a]\ndescription: d\n---\n", NULL,
                   "name must be a string, not a list");
}
END_TEST

START_TEST(description_rules)
{
    struct skill_meta m;
    char *desc, *text;

    expect_invalid("---\nname: a\ndescription: ''\n---\n", "a",
                   "description is empty");
    expect_invalid("---\nname: a\ndescription: '   '\n---\n", "a",
                   "description is empty");
    expect_invalid("---\nname: a\ndescription:\n---\n", "a",
                   "description is required");
    expect_invalid("---\nname: a\ndescription: {x: y}\n---\n", "a",
                   "description must be a string, not a mapping");
    desc = repeat("x", 1024);
    text = xasprintf("---\nname: a\ndescription: %s\n---\n", desc);
    ck_assert_int_eq(parse(text, "a", &m), 0);
    skill_meta_free(&m);
    free(text);
    free(desc);
    desc = repeat("x", 1025);
    text = xasprintf("---\nname: a\ndescription: %s\n---\n", desc);
    expect_invalid(text, "a", "description has 1025 characters");
    free(text);
    free(desc);
    /* Huge, far beyond the limit. */
    desc = repeat("word ", 100000);
    text = xasprintf("---\nname: a\ndescription: %s\n---\n", desc);
    expect_invalid(text, "a", "at most 1024");
    free(text);
    free(desc);
}
END_TEST

START_TEST(optional_field_rules)
{
    struct skill_meta m;
    char *long_text, *text;

    expect_invalid("---\nname: a\ndescription: d\nlicense: [MIT]\n---\n",
                   "a", "license must be a string");
    expect_invalid("---\nname: a\ndescription: d\ncompatibility: ''\n---\n",
                   "a", "compatibility has 0 characters");
    long_text = repeat("c", 501);
    text = xasprintf("---\nname: a\ndescription: d\ncompatibility: %s\n"
                     "---\n", long_text);
    expect_invalid(text, "a", "compatibility has 501 characters");
    free(text);
    free(long_text);
    expect_invalid("---\nname: a\ndescription: d\nmetadata: x\n---\n", "a",
                   "metadata must be a mapping");
    expect_invalid("---\nname: a\ndescription: d\nmetadata: [x]\n---\n",
                   "a", "metadata must be a mapping");
    expect_invalid("---\nname: a\ndescription: d\nmetadata:\n  k: [1]\n"
                   "---\n", "a", "metadata 'k' must be a string");
    expect_invalid("---\nname: a\ndescription: d\nmetadata:\n  k: {a: b}\n"
                   "---\n", "a", "metadata 'k' must be a string");
    expect_invalid("---\nname: a\ndescription: d\nmetadata:\n  k:\n---\n",
                   "a", "metadata 'k' must be a string, not null");
    expect_invalid("---\nname: a\ndescription: d\nmetadata:\n  k: 1\n"
                   "  k: 2\n---\n", "a", "metadata 'k' appears twice");
    expect_invalid("---\nname: a\ndescription: d\nallowed-tools:\n  - Read\n"
                   "---\n", "a", "allowed-tools must be a string");
    /* Null optional fields are as good as absent. */
    ck_assert_int_eq(parse("---\nname: a\ndescription: d\nlicense: ~\n"
                           "metadata:\n---\n", "a", &m), 0);
    ck_assert_ptr_null(m.license);
    ck_assert_ptr_null(m.metadata);
    skill_meta_free(&m);
    /* Scalars of other YAML types are read as their text. */
    ck_assert_int_eq(parse("---\nname: a\ndescription: 42\nmetadata:\n"
                           "  n: 7\n---\n", "a", &m), 0);
    ck_assert_str_eq(m.description, "42");
    ck_assert_str_eq(json_string_value(json_object_get(m.metadata, "n")),
                     "7");
    skill_meta_free(&m);
}
END_TEST

START_TEST(nul_bytes)
{
    static const char text[] = "---\nname: a\ndescription: d\0x\n---\n";
    struct skill_meta m;

    ck_assert_int_eq(skill_parse(text, sizeof(text) - 1, "a", &m), -1);
    ck_assert(has_reason(&m, "NUL byte"));
    skill_meta_free(&m);
    expect_invalid("---\nname: a\ndescription: \"d\\0x\"\n---\n", "a",
                   "description contains a NUL character");
}
END_TEST

START_TEST(utf8_helpers)
{
    char *p;

    ck_assert(util_utf8_valid("abc", 3));
    ck_assert(util_utf8_valid("\xf0\x9f\x9a\x80", 4));
    ck_assert(!util_utf8_valid("\xf0\x9f\x9a", 3));
    ck_assert(!util_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!util_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    ck_assert(!util_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    ck_assert_uint_eq(util_utf8_chars("\xc3\xa9t\xc3\xa9", 5), 3);
    p = util_utf8_printable("a\xff" "b\xc3\xa9");
    ck_assert_str_eq(p, "a\xef\xbf\xbd" "b\xc3\xa9");
    free(p);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("skill_parse");
    TCase *tc = tcase_create("skill_parse");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, valid_minimal);
    tcase_add_test(tc, valid_every_field);
    tcase_add_test(tc, crlf_and_bom);
    tcase_add_test(tc, unicode);
    tcase_add_test(tc, missing_front_matter);
    tcase_add_test(tc, unterminated_front_matter);
    tcase_add_test(tc, front_matter_not_a_mapping);
    tcase_add_test(tc, yaml_errors);
    tcase_add_test(tc, unknown_and_duplicate_keys);
    tcase_add_test(tc, name_rules);
    tcase_add_test(tc, description_rules);
    tcase_add_test(tc, optional_field_rules);
    tcase_add_test(tc, nul_bytes);
    tcase_add_test(tc, utf8_helpers);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
