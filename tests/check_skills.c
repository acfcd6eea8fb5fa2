/*
 * check_skills.c - skills.c, skills_query.c and skill_fs.c on real
 * temporary trees: the scan (valid, invalid, duplicate, hidden, missing
 * roots), listing and its cursor, search ranking on a small fixed
 * corpus, equal to FTS5's bm25 on a larger one, and hostile queries,
 * path escapes for skill.file (.., absolute,
 * symbolic links out), and skill.put (validation, atomic replacement).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>

#include "src/limits.h"
#include "src/skill_fs.h"
#include "src/skills.h"
#include "src/skills_impl.h"
#include "testutil.h"

/* Writes dir/rel (making its folders) with text. */
static void
put_file(const char *dir, const char *rel, const char *text)
{
    char *path = xasprintf("%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    FILE *f;

    *slash = '\0';
    ck_assert_int_eq(util_mkdir_p(path, 0755), 0);
    *slash = '/';
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static void
put_skill(const char *root, const char *folder, const char *name,
          const char *description, const char *body)
{
    char *rel = xasprintf("%s/SKILL.md", folder);
    char *text = xasprintf("---\nname: %s\ndescription: %s\n---\n%s\n",
                           name, description, body);

    put_file(root, rel, text);
    free(rel);
    free(text);
}

static struct skills *
open_roots(char **roots, size_t n)
{
    struct skills *s = NULL;
    struct problem err = {0};

    if (skills_open(&s, roots, n, &err) < 0)
        ck_abort_msg("skills_open: %s", err.detail);
    return s;
}

static json_t *
list(struct skills *s, int invalid, int limit, const char *after)
{
    struct problem err = {0};
    json_t *out = NULL;

    ck_assert_int_eq(skills_list(s, invalid, limit, after, &out, &err), 0);
    return out;
}

/* The items' member key joined with ',' ("a,b,c"). */
static char *
joined(const json_t *items, const char *key)
{
    struct buf b;
    size_t i;

    buf_init(&b, 1 << 20);
    buf_append(&b, "", 0);
    for (i = 0; i < json_array_size(items); i++)
        buf_printf(&b, "%s%s", i ? "," : "", json_string_value(
                       json_object_get(json_array_get(items, i), key)));
    return b.data;
}

static const json_t *
find_item(const json_t *items, const char *key, const char *value)
{
    size_t i;

    for (i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);

        if (!strcmp(json_string_value(json_object_get(it, key)), value))
            return it;
    }
    return NULL;
}

/* The first reason of the invalid entry at path. */
static const char *
reason_of(const json_t *items, const char *path)
{
    const json_t *it = find_item(items, "path", path);

    ck_assert_msg(it != NULL, "no invalid entry %s", path);
    return json_string_value(json_array_get(json_object_get(it, "reasons"),
                                            0));
}

START_TEST(scan_valid_invalid_duplicate)
{
    char *dir = test_tmpdir();
    char *r1 = xasprintf("%s/r1", dir), *r2 = xasprintf("%s/r2", dir);
    char *r3 = xasprintf("%s/missing", dir);
    char *roots[] = {r1, r2, r3, r1};
    char *p, *names;
    struct skills *s;
    json_t *page, *bad, *items;
    int valid, invalid;

    put_skill(r1, "alpha", "alpha", "First skill.", "Alpha body.");
    put_skill(r1, "broken-name", "Broken_Name", "Bad name.", "");
    put_file(r1, "no-front/SKILL.md", "# no front matter\n");
    put_file(r1, "empty/notes.txt", "no SKILL.md here\n");
    put_skill(r1, ".hidden", "hidden", "Never scanned.", "");
    put_file(r1, "README.md", "a file in a root is not a skill\n");
    put_skill(r1, "linked-md", "linked-md", "x", "");
    p = xasprintf("%s/linked-md/SKILL.md", r1);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(symlink("/etc/hostname", p), 0);
    free(p);
    put_skill(r2, "alpha", "alpha", "The same name again.", "");
    put_skill(r2, "beta", "beta", "Second skill.", "Beta body.");

    /* r1 twice: scanned once.  A missing root is just empty. */
    s = open_roots(roots, 4);
    skills_counts(s, &valid, &invalid);
    ck_assert_int_eq(valid, 2);
    ck_assert_int_eq(invalid, 5);

    page = list(s, 0, 100, NULL);
    items = json_object_get(page, "items");
    names = joined(items, "name");
    ck_assert_str_eq(names, "alpha,beta");
    free(names);
    ck_assert(json_is_null(json_object_get(page, "next")));
    p = xasprintf("%s/alpha", r1);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 0), "path")), p);
    free(p);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 1), "root")), r2);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 1), "description")),
                     "Second skill.");
    json_decref(page);

    bad = list(s, 1, 100, NULL);
    items = json_object_get(bad, "items");
    ck_assert_uint_eq(json_array_size(items), 5);
    p = xasprintf("%s/alpha", r2);
    {
        char *first = xasprintf("duplicate of %s/alpha", r1);

        ck_assert_str_eq(reason_of(items, p), first);
        ck_assert_str_eq(json_string_value(json_object_get(
            find_item(items, "path", p), "name")), "alpha");
        free(first);
    }
    free(p);
    p = xasprintf("%s/no-front", r1);
    ck_assert_ptr_nonnull(strstr(reason_of(items, p), "no front matter"));
    ck_assert_ptr_null(json_object_get(find_item(items, "path", p),
                                       "name"));
    free(p);
    p = xasprintf("%s/empty", r1);
    ck_assert_str_eq(reason_of(items, p), "no SKILL.md in the folder");
    free(p);
    p = xasprintf("%s/linked-md", r1);
    ck_assert_str_eq(reason_of(items, p), "SKILL.md is a symbolic link");
    free(p);
    p = xasprintf("%s/broken-name", r1);
    ck_assert_str_eq(json_string_value(json_object_get(
        find_item(items, "path", p), "name")), "Broken_Name");
    free(p);
    json_decref(bad);

    /* Pages: one at a time, following next. */
    page = list(s, 0, 1, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(page, "next")),
                     "alpha");
    json_decref(page);
    page = list(s, 0, 1, "alpha");
    names = joined(json_object_get(page, "items"), "name");
    ck_assert_str_eq(names, "beta");
    free(names);
    ck_assert(json_is_null(json_object_get(page, "next")));
    json_decref(page);
    bad = list(s, 1, 2, NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(bad, "items")), 2);
    ck_assert(json_is_string(json_object_get(bad, "next")));
    json_decref(bad);

    skills_close(s);
    free(r1);
    free(r2);
    free(r3);
    test_rmdir(dir);
}
END_TEST

START_TEST(rescan_sees_changes)
{
    char *dir = test_tmpdir();
    char *roots[] = {dir};
    struct problem err = {0};
    struct skills *s;
    json_t *counts = NULL, *out = NULL;
    char *p;

    s = open_roots(roots, 1);
    put_skill(dir, "new-one", "new-one", "Appeared later.", "zebra");
    ck_assert_int_eq(skills_get(s, "new-one", &out, &err), -1);
    ck_assert_str_eq(err.code, "skill_not_found");
    problem_clear(&err);
    ck_assert_int_eq(skills_rescan(s, &counts, &err), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(counts, "valid")),
                     1);
    ck_assert_int_eq(json_integer_value(json_object_get(counts, "invalid")),
                     0);
    ck_assert(json_is_integer(json_object_get(counts, "took_ms")));
    json_decref(counts);
    ck_assert_int_eq(skills_search(s, "zebra", 10, &out, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    p = xasprintf("%s/new-one", dir);
    skill_fs_remove_tree(p);
    free(p);
    ck_assert_int_eq(skills_rescan(s, NULL, &err), 0);
    ck_assert_int_eq(skills_search(s, "zebra", 10, &out, &err), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

static json_t *
search(struct skills *s, const char *q)
{
    struct problem err = {0};
    json_t *out = NULL;

    if (skills_search(s, q, 20, &out, &err) < 0)
        ck_abort_msg("search '%s': %s", q, err.detail);
    return out;
}

static char *
search_names(struct skills *s, const char *q)
{
    json_t *out = search(s, q);
    char *names = joined(json_object_get(out, "items"), "name");

    json_decref(out);
    return names;
}

/* A corpus where "pdf" is in a name, a description, and a body. */
static struct skills *
corpus(char *dir)
{
    char *roots[] = {dir};

    put_skill(dir, "pdf-tools", "pdf-tools", "Work with documents.",
              "Merge and split files.");
    put_skill(dir, "doc-reader", "doc-reader",
              "Read PDF documents and scanned pages.",
              "Open the file and read it.");
    put_skill(dir, "notes", "notes", "Keep notes in markdown.",
              "Notes may link to a pdf now and then; write <b>bold</b> "
              "& more.");
    put_skill(dir, "web-search", "web-search",
              "Search the web for pages.", "Use a search engine.");
    put_skill(dir, "resume", "resume", "Write a r\xc3\xa9sum\xc3\xa9.",
              "Keep it short.");
    return open_roots(roots, 1);
}

START_TEST(search_ranks_name_over_description_over_body)
{
    char *dir = test_tmpdir(), *names;
    struct skills *s = corpus(dir);
    json_t *out, *items;
    double s0, s1, s2;

    names = search_names(s, "pdf");
    ck_assert_str_eq(names, "pdf-tools,doc-reader,notes");
    free(names);
    out = search(s, "pdf");
    items = json_object_get(out, "items");
    s0 = json_real_value(json_object_get(json_array_get(items, 0), "score"));
    s1 = json_real_value(json_object_get(json_array_get(items, 1), "score"));
    s2 = json_real_value(json_object_get(json_array_get(items, 2), "score"));
    ck_assert(s0 > s1 && s1 > s2 && s2 > 0);
    /* A body match is shown from the body, escaped, marked. */
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 2), "snippet")),
                     "Notes may link to a <mark>pdf</mark> now and then; "
                     "write &lt;b&gt;bold&lt;/b&gt; &amp; more.\n");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 1), "snippet")),
                     "Read <mark>PDF</mark> documents and scanned pages.");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(items, 1), "description")),
                     "Read PDF documents and scanned pages.");
    json_decref(out);

    /* Words are ORed; more matching words rank higher. */
    names = search_names(s, "search web engine");
    ck_assert_str_eq(names, "web-search");
    free(names);
    names = search_names(s, "read notes");
    ck_assert_str_eq(names, "notes,doc-reader");
    free(names);
    /* Case and diacritics do not matter. */
    names = search_names(s, "RESUME");
    ck_assert_str_eq(names, "resume");
    free(names);
    names = search_names(s, "r\xc3\xa9sum\xc3\xa9");
    ck_assert_str_eq(names, "resume");
    free(names);
    names = search_names(s, "nothing-matches-this");
    ck_assert_str_eq(names, "");
    free(names);
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

/*
 * skills_rank.c computes bm25 itself; on a catalog where it takes no
 * shortcut (fewer than 4000 skills, ASCII text) its order and scores are
 * those of FTS5's own bm25() with the same weights.
 */
START_TEST(ranking_is_fts5_bm25)
{
    static const char *const vocab[] = {
        "alpha", "beta", "gamma", "delta", "pdf", "web", "file", "read",
        "write", "table", "image", "audio", "test", "build", "deploy",
        "search", "index", "query", "note", "page", "shell", "python",
        "rust", "data", "graph", "chart", "mail", "calendar", "sql", "csv"
    };
    const int nv = (int)(sizeof(vocab) / sizeof(vocab[0]));
    char *dir = test_tmpdir(), *roots[] = {dir};
    struct skills *s;
    struct skill_index *idx;
    unsigned seed = 7;
    int d, q, w;

    for (d = 0; d < 300; d++) {
        struct buf desc, body;
        char name[32];

        buf_init(&desc, 1 << 16);
        buf_init(&body, 1 << 16);
        for (w = 0; w < 3 + d % 11; w++) {
            seed = seed * 1103515245 + 12345;
            buf_printf(&desc, "%s ", vocab[(seed >> 16) % (unsigned)(1 +
                       (w * 7 + d) % nv)]);
        }
        for (w = 0; w < 10 + (d * 13) % 90; w++) {
            seed = seed * 1103515245 + 12345;
            buf_printf(&body, "%s%s", vocab[(seed >> 16) % (unsigned)nv],
                       w % 9 == 8 ? ".\n" : " ");
        }
        snprintf(name, sizeof(name), "%s-%03d", vocab[d % nv], d);
        put_skill(dir, name, name, desc.data, body.data);
        buf_free(&desc);
        buf_free(&body);
    }
    s = open_roots(roots, 1);
    idx = skills_index_acquire(s);
    for (q = 0; q < 60; q++) {
        struct problem err = {0};
        sqlite3_stmt *st = NULL;
        json_t *out = NULL, *items;
        char text[128], fts[256];
        size_t i = 0;

        seed = seed * 1103515245 + 12345;
        if (q % 3 == 0)
            snprintf(text, sizeof(text), "%s", vocab[(seed >> 16) % nv]);
        else if (q % 3 == 1)
            snprintf(text, sizeof(text), "%s %s", vocab[(seed >> 16) % nv],
                     vocab[(seed >> 8) % nv]);
        else
            snprintf(text, sizeof(text), "%s %s %s", vocab[q % nv],
                     vocab[(seed >> 16) % nv], vocab[(seed >> 4) % nv]);
        /* The FTS5 query skills_search makes of it: each word once. */
        {
            char copy[128], *word, *save = NULL;
            size_t n = 0;

            snprintf(copy, sizeof(copy), "%s", text);
            fts[0] = '\0';
            for (word = strtok_r(copy, " ", &save); word != NULL;
                 word = strtok_r(NULL, " ", &save)) {
                char quoted[40];

                snprintf(quoted, sizeof(quoted), "\"%s\"", word);
                if (strstr(fts, quoted) != NULL)
                    continue;
                n += (size_t)snprintf(fts + n, sizeof(fts) - n, "%s%s",
                                      n ? " OR " : "", quoted);
            }
        }
        ck_assert_int_eq(skills_search(s, text, 20, &out, &err), 0);
        items = json_object_get(out, "items");
        ck_assert_int_eq(skills_prepare(idx->db,
            "SELECT s.name, -bm25(skill_fts, 10.0, 4.0, 1.0) FROM skill_fts "
            "JOIN skill s ON s.id = skill_fts.rowid WHERE skill_fts MATCH "
            "?1 ORDER BY bm25(skill_fts, 10.0, 4.0, 1.0), s.id LIMIT 20",
            &st), 0);
        sqlite3_bind_text(st, 1, fts, -1, SQLITE_STATIC);
        for (i = 0; sqlite3_step(st) == SQLITE_ROW; i++) {
            const json_t *it = json_array_get(items, i);
            double want = sqlite3_column_double(st, 1);
            double got = json_real_value(json_object_get(it, "score"));

            ck_assert_msg(it != NULL, "q=%s: fewer results than bm25", fts);
            ck_assert_msg(fabs(got - want) <= 1e-9 * fabs(want),
                          "q=%s #%zu: score %.12g, bm25 %.12g", fts, i, got,
                          want);
            ck_assert_msg(!strcmp(json_string_value(json_object_get(it,
                              "name")),
                              (const char *)sqlite3_column_text(st, 0)),
                          "q=%s #%zu: %s, bm25 has %s", fts, i,
                          json_string_value(json_object_get(it, "name")),
                          sqlite3_column_text(st, 0));
        }
        ck_assert_uint_eq(json_array_size(items), i);
        sqlite3_finalize(st);
        json_decref(out);
    }
    skills_index_release(s, idx);
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

START_TEST(search_takes_any_text)
{
    static const char *const hostile[] = {
        "\"", "\"pdf", "pdf\"", "pdf OR", "OR", "AND NOT", "NEAR(pdf web)",
        "name:pdf", "pdf*", "*", "^pdf", "(pdf", "pdf)", "{name}: pdf",
        "-pdf", "+pdf", "'; DROP TABLE skill; --", "\xe2\x80\x94",
        "pdf \xe2\x80\x94 web", "\\", "%", "pdf\"\"\"web", NULL
    };
    char *dir = test_tmpdir(), *names;
    struct skills *s = corpus(dir);
    struct problem err = {0};
    json_t *out = NULL;
    char *many;
    int i;

    for (i = 0; hostile[i] != NULL; i++) {
        if (skills_search(s, hostile[i], 20, &out, &err) < 0)
            ck_abort_msg("q=%s: %s", hostile[i], err.detail);
        ck_assert(json_is_array(json_object_get(out, "items")));
        json_decref(out);
    }
    /* Only punctuation: nothing, without an error. */
    names = search_names(s, "!!! ??? ... --- ***");
    ck_assert_str_eq(names, "");
    free(names);
    /* Operators are words like any other. */
    names = search_names(s, "name:pdf");
    ck_assert_str_eq(names, "");
    free(names);
    names = search_names(s, "pdf OR");
    ck_assert_str_eq(names, "pdf-tools,doc-reader,notes");
    free(names);
    /* Blank q, or too many words: 400. */
    ck_assert_int_eq(skills_search(s, " \t ", 20, &out, &err), -1);
    ck_assert_int_eq(err.status, 400);
    problem_clear(&err);
    many = xasprintf("%s", "w");
    for (i = 0; i < LIMIT_SKILL_QUERY_TERMS; i++) {
        char *more = xasprintf("%s w%d", many, i);

        free(many);
        many = more;
    }
    ck_assert_int_eq(skills_search(s, many, 20, &out, &err), -1);
    ck_assert_int_eq(err.status, 400);
    problem_clear(&err);
    free(many);
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

static const char *
file_code(struct skills *s, const char *name, const char *path)
{
    static char code[64];
    struct problem err = {0};
    json_t *out = NULL;

    if (skills_file(s, name, path, &out, &err) == 0) {
        json_decref(out);
        return "ok";
    }
    snprintf(code, sizeof(code), "%d %s", err.status, err.code);
    problem_clear(&err);
    return code;
}

START_TEST(file_never_leaves_the_folder)
{
    char *dir = test_tmpdir();
    char *root = xasprintf("%s/root", dir);
    char *outside = xasprintf("%s/secret.txt", dir);
    char *roots[] = {root};
    char *p, *big;
    struct problem err = {0};
    struct skills *s;
    json_t *out = NULL;
    FILE *f;

    put_file(dir, "secret.txt", "top secret\n");
    put_skill(root, "pdf", "pdf", "Read PDFs.", "Body.");
    put_skill(root, "other", "other", "Another skill.", "Body.");
    put_file(root, "pdf/notes/a.txt", "note a\n");
    put_file(root, "other/private.txt", "other's file\n");
    p = xasprintf("%s/pdf/out", root);
    ck_assert_int_eq(symlink(outside, p), 0);
    free(p);
    p = xasprintf("%s/pdf/out-rel", root);
    ck_assert_int_eq(symlink("../../secret.txt", p), 0);
    free(p);
    p = xasprintf("%s/pdf/sibling", root);
    ck_assert_int_eq(symlink("../other/private.txt", p), 0);
    free(p);
    p = xasprintf("%s/pdf/outdir", root);
    ck_assert_int_eq(symlink(dir, p), 0);
    free(p);
    p = xasprintf("%s/pdf/inside", root);
    ck_assert_int_eq(symlink("notes/a.txt", p), 0);
    free(p);
    p = xasprintf("%s/pdf/loop", root);
    ck_assert_int_eq(symlink("loop", p), 0);
    free(p);
    p = xasprintf("%s/pdf/fifo", root);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    free(p);
    p = xasprintf("%s/pdf/blob.bin", root);
    f = fopen(p, "wb");
    fwrite("\x00\x01\x02\xff", 1, 4, f);
    fclose(f);
    free(p);
    p = xasprintf("%s/pdf/big.txt", root);
    f = fopen(p, "w");
    big = xcalloc(1, LIMIT_SKILL_FILE_BYTES + 2);
    memset(big, 'x', LIMIT_SKILL_FILE_BYTES + 1);
    fputs(big, f);
    fclose(f);
    free(big);
    free(p);
    s = open_roots(roots, 1);

    ck_assert_str_eq(file_code(s, "pdf", "SKILL.md"), "ok");
    ck_assert_str_eq(file_code(s, "pdf", "notes/a.txt"), "ok");
    ck_assert_str_eq(file_code(s, "pdf", "inside"), "ok");
    ck_assert_str_eq(file_code(s, "pdf", "../other/private.txt"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "notes/../../other/private.txt"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", ".."), "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", outside),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "/etc/passwd"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "out"), "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "out-rel"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "sibling"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "outdir/secret.txt"),
                     "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "loop"), "403 path_outside_skill");
    ck_assert_str_eq(file_code(s, "pdf", "notes\\a.txt"),
                     "400 invalid_path");
    ck_assert_str_eq(file_code(s, "pdf", "notes//a.txt"),
                     "400 invalid_path");
    ck_assert_str_eq(file_code(s, "pdf", "./SKILL.md"), "400 invalid_path");
    ck_assert_str_eq(file_code(s, "pdf", ""), "400 invalid_path");
    ck_assert_str_eq(file_code(s, "pdf", "nope.txt"), "404 file_not_found");
    ck_assert_str_eq(file_code(s, "pdf", "notes"), "404 file_not_found");
    ck_assert_str_eq(file_code(s, "pdf", "fifo"), "404 file_not_found");
    ck_assert_str_eq(file_code(s, "pdf", "big.txt"), "403 file_too_large");
    ck_assert_str_eq(file_code(s, "nope", "SKILL.md"),
                     "404 skill_not_found");

    ck_assert_int_eq(skills_file(s, "pdf", "notes/a.txt", &out, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(out, "content")),
                     "note a\n");
    ck_assert_int_eq(json_integer_value(json_object_get(out, "size")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(out, "name")), "pdf");
    ck_assert_str_eq(json_string_value(json_object_get(out, "path")),
                     "notes/a.txt");
    json_decref(out);
    ck_assert_int_eq(skills_file(s, "pdf", "blob.bin", &out, &err), 0);
    ck_assert_ptr_null(json_object_get(out, "content"));
    ck_assert_str_eq(json_string_value(json_object_get(out,
                                                       "content_base64")),
                     "AAEC/w==");
    json_decref(out);

    /* skill.get lists files without following links. */
    ck_assert_int_eq(skills_get(s, "pdf", &out, &err), 0);
    {
        json_t *files = json_object_get(out, "files");
        const json_t *it;

        it = find_item(files, "path", "notes/a.txt");
        ck_assert_ptr_nonnull(it);
        ck_assert_str_eq(json_string_value(json_object_get(it, "type")),
                         "file");
        it = find_item(files, "path", "outdir");
        ck_assert_str_eq(json_string_value(json_object_get(it, "type")),
                         "symlink");
        ck_assert_ptr_null(find_item(files, "path", "outdir/secret.txt"));
        ck_assert_ptr_null(find_item(files, "path", "fifo"));
        ck_assert_ptr_nonnull(find_item(files, "path", "SKILL.md"));
        ck_assert(json_is_false(json_object_get(out, "files_truncated")));
        ck_assert_str_eq(json_string_value(json_object_get(
            json_object_get(out, "front_matter"), "description")),
            "Read PDFs.");
        ck_assert_str_eq(json_string_value(json_object_get(out, "body")),
                         "Body.\n");
    }
    json_decref(out);
    skills_close(s);
    free(root);
    free(outside);
    test_rmdir(dir);
}
END_TEST

/* Names in dir that start with '.' (leftovers of a put). */
static int
hidden_entries(const char *dir)
{
    char *cmd = xasprintf("ls -A '%s' | grep -c '^\\.'", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    free(cmd);
    return n;
}

static char *
read_text(const char *path)
{
    char *text = util_read_file(path, 1 << 20);

    return text;
}

static const char *
put_code(struct skills *s, const char *name, const char *md, json_t *files)
{
    static char code[64];
    struct problem err = {0};
    json_t *out = NULL;

    if (skills_put(s, name, md, files, &out, &err) == 0) {
        json_decref(out);
        return "ok";
    }
    snprintf(code, sizeof(code), "%d %s", err.status, err.code);
    problem_clear(&err);
    return code;
}

START_TEST(put_validates_and_replaces)
{
    char *dir = test_tmpdir();
    char *missing = xasprintf("%s/missing", dir);
    char *roots[] = {missing, dir};
    struct problem err = {0};
    struct skills *s = open_roots(roots, 2);
    json_t *out = NULL, *files;
    char *p, *text;

    files = json_pack("{s:s, s:s}", "scripts/run.sh", "echo one\n",
                      "notes.txt", "first\n");
    ck_assert_int_eq(skills_put(s, "tool", "---\nname: tool\ndescription: "
                                "Version one.\n---\nOne.\n", files, &out,
                                &err), 0);
    json_decref(files);
    ck_assert(json_is_true(json_object_get(out, "created")));
    ck_assert_str_eq(json_string_value(json_object_get(out, "root")), dir);
    ck_assert_uint_eq(json_array_size(json_object_get(out, "files")), 3);
    json_decref(out);
    p = xasprintf("%s/tool/scripts/run.sh", dir);
    text = read_text(p);
    ck_assert_str_eq(text, "echo one\n");
    free(text);
    free(p);
    ck_assert_int_eq(hidden_entries(dir), 0);
    text = search_names(s, "version");
    ck_assert_str_eq(text, "tool");
    free(text);

    /* Replace: the new folder only, nothing left of the old one. */
    ck_assert_int_eq(skills_put(s, "tool", "---\nname: tool\ndescription: "
                                "Version two.\n---\nTwo.\n", NULL, &out,
                                &err), 0);
    ck_assert(json_is_false(json_object_get(out, "created")));
    ck_assert_uint_eq(json_array_size(json_object_get(out, "files")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(out, "body")),
                     "Two.\n");
    json_decref(out);
    p = xasprintf("%s/tool/notes.txt", dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    free(p);
    ck_assert_int_eq(hidden_entries(dir), 0);

    /* Refused: nothing changes. */
    ck_assert_str_eq(put_code(s, "tool", "no front matter", NULL),
                     "422 invalid_skill");
    ck_assert_str_eq(put_code(s, "tool", "---\nname: other\ndescription: "
                              "x\n---\n", NULL), "422 invalid_skill");
    ck_assert_str_eq(put_code(s, "Tool", "---\nname: Tool\ndescription: "
                              "x\n---\n", NULL), "422 invalid_skill");
    ck_assert_str_eq(put_code(s, "..", "---\nname: ..\ndescription: "
                              "x\n---\n", NULL), "422 invalid_skill");
    {
        static const char *const bad[][2] = {
            {"../escape.txt", "403 path_outside_skill"},
            {"a/../../x", "403 path_outside_skill"},
            {"/etc/x", "403 path_outside_skill"},
            {"a\\b", "400 invalid_path"},
            {"a//b", "400 invalid_path"},
            {"./a", "400 invalid_path"},
            {"SKILL.md", "400 invalid_path"},
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            files = json_pack("{s:s}", bad[i][0], "x");
            ck_assert_str_eq(put_code(s, "tool", "---\nname: tool\n"
                                      "description: Version three.\n---\n",
                                      files), bad[i][1]);
            json_decref(files);
        }
    }
    files = json_pack("{s:i}", "a.txt", 1);
    ck_assert_str_eq(put_code(s, "tool", "---\nname: tool\ndescription: "
                              "x\n---\n", files), "400 invalid_argument");
    json_decref(files);
    /* "a" is a file and a folder: found while writing, then undone. */
    files = json_pack("{s:s, s:s}", "a", "file", "a/b", "file in a");
    ck_assert_str_eq(put_code(s, "tool", "---\nname: tool\ndescription: "
                              "Version three.\n---\n", files),
                     "400 invalid_path");
    json_decref(files);
    ck_assert_int_eq(hidden_entries(dir), 0);
    ck_assert_int_eq(skills_get(s, "tool", &out, &err), 0);
    ck_assert_str_eq(json_string_value(json_object_get(out, "description")),
                     "Version two.");
    json_decref(out);
    p = xasprintf("%s/escape.txt", dir);
    ck_assert_int_eq(access(p, F_OK), -1);
    free(p);

    /* Invalid reasons come back with the problem. */
    ck_assert_int_eq(skills_put(s, "tool", "---\nname: tool\n---\n", NULL,
                                &out, &err), -1);
    ck_assert_int_eq(err.status, 422);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(
                         err.extra, "reasons"), 0)),
                     "description is required");
    problem_clear(&err);
    skills_close(s);

    /* No writable root at all. */
    s = open_roots(&missing, 1);
    ck_assert_str_eq(put_code(s, "tool", "---\nname: tool\ndescription: "
                              "x\n---\n", NULL), "409 no_writable_root");
    skills_close(s);
    free(missing);
    test_rmdir(dir);
}
END_TEST

struct reader {
    char *folder;
    volatile int stop;
    int reads;
    int mixed;
};

/* Reads SKILL.md and version.txt through one folder descriptor, so both
 * come from the same folder; they must always agree. */
static void *
read_loop(void *arg)
{
    struct reader *r = arg;

    while (!r->stop) {
        int dfd = open(r->folder, O_RDONLY | O_DIRECTORY);
        char md[256], ver[16];
        ssize_t n1 = -1, n2 = -1;
        int fd;

        if (dfd < 0)
            continue;
        fd = openat(dfd, "SKILL.md", O_RDONLY);
        if (fd >= 0) {
            n1 = read(fd, md, sizeof(md) - 1);
            close(fd);
        }
        fd = openat(dfd, "version.txt", O_RDONLY);
        if (fd >= 0) {
            n2 = read(fd, ver, sizeof(ver) - 1);
            close(fd);
        }
        close(dfd);
        if (n1 <= 0 || n2 <= 0)
            continue;
        md[n1] = '\0';
        ver[n2] = '\0';
        r->reads++;
        if (strstr(md, ver) == NULL || strstr(md, "\n---\nend\n") == NULL)
            r->mixed++;
    }
    return NULL;
}

START_TEST(put_is_atomic_for_readers)
{
    char *dir = test_tmpdir();
    char *roots[] = {dir};
    struct skills *s = open_roots(roots, 1);
    struct reader r;
    pthread_t t;
    int i;

    ck_assert_str_eq(put_code(s, "swap", "---\nname: swap\ndescription: "
                              "v-0\n---\nend\n", NULL), "ok");
    memset(&r, 0, sizeof(r));
    r.folder = xasprintf("%s/swap", dir);
    pthread_create(&t, NULL, read_loop, &r);
    for (i = 1; i <= 40; i++) {
        char *md = xasprintf("---\nname: swap\ndescription: v-%d\n---\nend\n",
                             i);
        char *ver = xasprintf("v-%d", i);
        json_t *files = json_pack("{s:s}", "version.txt", ver);

        ck_assert_str_eq(put_code(s, "swap", md, files), "ok");
        json_decref(files);
        free(md);
        free(ver);
    }
    r.stop = 1;
    pthread_join(t, NULL);
    ck_assert_int_eq(r.mixed, 0);
    ck_assert_int_eq(hidden_entries(dir), 0);
    free(r.folder);
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

struct searcher {
    struct skills *s;
    int failures;
};

static void *
search_loop(void *arg)
{
    struct searcher *w = arg;
    int i;

    for (i = 0; i < 300; i++) {
        struct problem err = {0};
        json_t *out = NULL;

        if (skills_search(w->s, i % 2 ? "pdf" : "notes web", 10, &out,
                          &err) < 0 ||
            json_array_size(json_object_get(out, "items")) == 0)
            w->failures++;
        json_decref(out);
        problem_clear(&err);
    }
    return NULL;
}

START_TEST(searches_run_during_rescans)
{
    char *dir = test_tmpdir();
    struct skills *s = corpus(dir);
    struct searcher w[4];
    pthread_t t[4];
    struct problem err = {0};
    int i;

    for (i = 0; i < 4; i++) {
        w[i].s = s;
        w[i].failures = 0;
        pthread_create(&t[i], NULL, search_loop, &w[i]);
    }
    for (i = 0; i < 20; i++)
        ck_assert_int_eq(skills_rescan(s, NULL, &err), 0);
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].failures, 0);
    }
    skills_close(s);
    test_rmdir(dir);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("skills");
    TCase *tc = tcase_create("skills");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, scan_valid_invalid_duplicate);
    tcase_add_test(tc, rescan_sees_changes);
    tcase_add_test(tc, search_ranks_name_over_description_over_body);
    tcase_add_test(tc, ranking_is_fts5_bm25);
    tcase_add_test(tc, search_takes_any_text);
    tcase_add_test(tc, file_never_leaves_the_folder);
    tcase_add_test(tc, put_validates_and_replaces);
    tcase_add_test(tc, put_is_atomic_for_readers);
    tcase_add_test(tc, searches_run_during_rescans);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
