/*
 * skills_query.c - the reading side of the skills catalog: list, search,
 * get and file, each on a reference to the current index (see
 * skills_impl.h; the index never changes under a reader).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "skill_fs.h"
#include "skill_parse.h"
#include "skills_impl.h"
#include "util.h"

/* Marks around matches in snippet(): bytes that never occur in UTF-8,
 * so they survive the HTML escaping and become <mark> tags after it. */
#define MARK_OPEN   "\xff"
#define MARK_CLOSE  "\xfe"

/* Tokens of context in a snippet. */
#define SNIPPET_TOKENS 20

static json_t *
column_json(sqlite3_stmt *st, int col)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;

    return v ? v : json_null();
}

int
skills_list(struct skills *s, int invalid, int limit, const char *after,
            json_t **out, struct problem *err)
{
    struct skill_index *idx = skills_index_acquire(s);
    sqlite3_stmt *st = NULL;
    json_t *items = json_array(), *next = json_null();
    int rc = -1, n = 0;

    if (skills_prepare(idx->db, invalid
                       ? "SELECT path, root, name, reasons FROM invalid "
                         "WHERE path > ?1 ORDER BY path LIMIT ?2"
                       : "SELECT name, root, description FROM skill "
                         "WHERE name > ?1 ORDER BY name LIMIT ?2",
                       &st) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit + 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(st, 0);
        int root = sqlite3_column_int(st, 1);
        char *rootp = util_utf8_printable(s->roots[root]);
        json_t *item;

        if (n++ == limit) {
            json_decref(next);
            next = json_array_size(items) > 0
                ? json_copy(json_object_get(json_array_get(items,
                      json_array_size(items) - 1), invalid ? "path"
                                                           : "name"))
                : json_null();
            free(rootp);
            break;
        }
        if (invalid) {
            item = json_pack("{s:s, s:s, s:o}", "path", first, "root",
                             rootp, "reasons", column_json(st, 3));
            if (sqlite3_column_type(st, 2) != SQLITE_NULL)
                json_object_set_new(item, "name", json_string(
                    (const char *)sqlite3_column_text(st, 2)));
        } else {
            char *path = skills_shown_path(s, root, first);

            item = json_pack("{s:s, s:s, s:s, s:s}", "name", first,
                             "description",
                             (const char *)sqlite3_column_text(st, 2),
                             "root", rootp, "path", path);
            free(path);
        }
        json_array_append_new(items, item);
        free(rootp);
    }
    *out = json_pack("{s:O, s:O}", "items", items, "next", next);
    rc = 0;
out:
    sqlite3_finalize(st);
    json_decref(items);
    json_decref(next);
    skills_index_release(s, idx);
    return rc;
}

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static int
is_ascii_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* A byte that may be part of a token: an ASCII letter or digit, or any
 * byte of a non-ASCII character. */
static int
is_word_byte(char c)
{
    return (unsigned char)c >= 0x80 || is_ascii_alnum(c);
}

/*
 * Turns user text into an FTS5 query: every blank-separated word that
 * has a letter or digit becomes a quoted string ('"' doubled), and the
 * strings are joined with OR.  Quoting takes away every operator and
 * column filter, so the result always parses.  A word that is plain
 * ASCII letters and digits once the punctuation around it is dropped is
 * written so, in lower case ("(PDF*)" is "pdf", what the tokenizer makes
 * of it anyway), and only once; when every word is such, top->common
 * marks the common ones (then phrase i is word i).  0 with *terms
 * phrases, or -1 (400) for too many words.
 */
static int
fts_query(const struct skill_index *idx, const char *q, struct buf *out,
          struct skills_topk *top, int *terms, struct problem *err)
{
    char *seen[LIMIT_SKILL_QUERY_TERMS];
    const char *p = q;
    int words = 0, all_simple = 1, i, rc = 0;

    *terms = 0;
    while (*p != '\0') {
        const char *start, *end, *a, *b, *c;
        int simple = 1, dup = 0, word = 0;
        char *key;

        while (is_blank(*p))
            p++;
        start = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        end = p;
        for (c = start; c < end; c++)
            if (is_word_byte(*c))
                word = 1;
        if (!word)
            continue;
        if (++words > LIMIT_SKILL_QUERY_TERMS) {
            problem_set(err, 400, "invalid_argument", "'q' has more than "
                        "%d words", LIMIT_SKILL_QUERY_TERMS);
            problem_extra(err, "argument", json_string("q"));
            rc = -1;
            break;
        }
        for (a = start; !is_word_byte(*a); a++)
            ;
        for (b = end; !is_word_byte(b[-1]); b--)
            ;
        for (c = a; c < b; c++)
            if (!is_ascii_alnum(*c))
                simple = 0;
        if (simple) {
            key = xstrndup(a, (size_t)(b - a));
            for (i = 0; key[i] != '\0'; i++)
                if (key[i] >= 'A' && key[i] <= 'Z')
                    key[i] = (char)(key[i] - 'A' + 'a');
        } else {
            all_simple = 0;
            key = xstrndup(start, (size_t)(end - start));
        }
        for (i = 0; i < *terms; i++)
            if (!strcmp(seen[i], key))
                dup = 1;
        if (dup) {
            free(key);
            continue;
        }
        buf_append(out, *terms > 0 ? " OR \"" : "\"", *terms > 0 ? 5 : 1);
        for (c = key; *c != '\0'; c++) {
            buf_append(out, c, 1);
            if (*c == '"')
                buf_append(out, "\"", 1);
        }
        buf_append(out, "\"", 1);
        top->common[*terms] = (unsigned char)(simple &&
                                              skills_is_common(idx, key));
        seen[(*terms)++] = key;
    }
    /* A word of other characters may make no phrase at all (all
     * punctuation to the tokenizer), and then phrase numbers shift. */
    if (!all_simple)
        memset(top->common, 0, sizeof(top->common));
    for (i = 0; i < *terms; i++)
        free(seen[i]);
    return rc;
}

/* snippet() output made an HTML fragment: text escaped, marks as tags.
 * NULL is taken as "". */
static char *
snippet_html(const char *text)
{
    struct buf b;
    const char *p;

    if (text == NULL)
        text = "";
    buf_init(&b, 16 * strlen(text) + 1);
    for (p = text; *p != '\0'; p++) {
        switch (*p) {
        case '&': buf_append(&b, "&amp;", 5); break;
        case '<': buf_append(&b, "&lt;", 4); break;
        case '>': buf_append(&b, "&gt;", 4); break;
        case '"': buf_append(&b, "&quot;", 6); break;
        case '\'': buf_append(&b, "&#39;", 5); break;
        default:
            if (*p == MARK_OPEN[0])
                buf_append(&b, "<mark>", 6);
            else if (*p == MARK_CLOSE[0])
                buf_append(&b, "</mark>", 7);
            else
                buf_append(&b, p, 1);
        }
    }
    if (b.data == NULL)
        buf_append(&b, "", 0);
    return b.data;
}

/* Binds what the snippet statements take: the query, the row, the
 * marks and (snippet only) its length in tokens. */
static void
bind_fetch(sqlite3_stmt *st, const struct buf *query, sqlite3_int64 rowid)
{
    sqlite3_bind_text(st, 1, query->data, (int)query->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rowid);
    sqlite3_bind_text(st, 3, MARK_OPEN, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, MARK_CLOSE, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 5)
        sqlite3_bind_int(st, 5, SNIPPET_TOKENS);
}

int
skills_search(struct skills *s, const char *q, int limit, json_t **out,
              struct problem *err)
{
    struct skill_index *idx;
    struct skills_topk top;
    sqlite3_stmt *st = NULL, *st_desc = NULL;
    json_t *items;
    struct buf query;
    int terms, i, rc = -1;

    buf_init(&query, 8 * strlen(q) + 16);
    if (strspn(q, " \t\r\n\f\v") == strlen(q)) {
        problem_set(err, 400, "invalid_argument", "'q' must have a word "
                    "to search for");
        problem_extra(err, "argument", json_string("q"));
        buf_free(&query);
        return -1;
    }
    items = json_array();
    idx = skills_index_acquire(s);
    memset(&top, 0, sizeof(top));
    top.k = limit;
    if (fts_query(idx, q, &query, &top, &terms, err) < 0)
        goto out;
    if (terms > 0 && skills_rank(idx, query.data, &top, err) < 0)
        goto out;
    if (top.n > 0 &&
        skills_prepare(idx->db, "SELECT name, description, "
                       "snippet(skill_fts, 2, ?3, ?4, '\xe2\x80\xa6', ?5) "
                       "FROM skill_fts WHERE skill_fts MATCH ?1 AND "
                       "rowid = ?2", &st) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    for (i = 0; i < top.n; i++) {
        char *html, *shown;
        const char *body;

        bind_fetch(st, &query, top.rowid[i]);
        if (sqlite3_step(st) != SQLITE_ROW) {
            skills_index_problem(err, idx->db);
            goto out;
        }
        /* The body around the matches; else the whole description,
         * marked where it matches. */
        body = (const char *)sqlite3_column_text(st, 2);
        if (body != NULL && strchr(body, MARK_OPEN[0]) != NULL) {
            html = snippet_html(body);
        } else {
            if (st_desc == NULL &&
                skills_prepare(idx->db, "SELECT highlight(skill_fts, 1, "
                               "?3, ?4) FROM skill_fts WHERE skill_fts "
                               "MATCH ?1 AND rowid = ?2",
                               &st_desc) < 0) {
                skills_index_problem(err, idx->db);
                goto out;
            }
            bind_fetch(st_desc, &query, top.rowid[i]);
            html = snippet_html(sqlite3_step(st_desc) == SQLITE_ROW
                ? (const char *)sqlite3_column_text(st_desc, 0) : NULL);
            sqlite3_reset(st_desc);
        }
        shown = util_utf8_printable(html);
        json_array_append_new(items, json_pack(
            "{s:s, s:s, s:f, s:s}", "name", sqlite3_column_text(st, 0),
            "description", sqlite3_column_text(st, 1), "score",
            top.score[i], "snippet", shown));
        free(html);
        free(shown);
        sqlite3_reset(st);
    }
    *out = json_pack("{s:O}", "items", items);
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_finalize(st_desc);
    json_decref(items);
    skills_index_release(s, idx);
    buf_free(&query);
    return rc;
}

/* The root of the valid skill name, or -1 (404). */
int
skills_find_root(struct skills *s, const char *name, struct problem *err)
{
    struct skill_index *idx = skills_index_acquire(s);
    sqlite3_stmt *st = NULL;
    int root = -1;

    if (skills_prepare(idx->db, "SELECT root FROM skill WHERE name = ?1",
                       &st) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        root = sqlite3_column_int(st, 0);
    else
        problem_set(err, 404, "skill_not_found", "no valid skill is "
                    "named '%s'", name);
out:
    sqlite3_finalize(st);
    skills_index_release(s, idx);
    return root;
}

int
skills_get(struct skills *s, const char *name, json_t **out,
           struct problem *err)
{
    struct skill_index *idx = skills_index_acquire(s);
    sqlite3_stmt *st = NULL;
    char *folder = NULL, *path, *rootp;
    json_t *doc = NULL, *files;
    int root, truncated = 0, rc = -1;

    if (skills_prepare(idx->db, "SELECT description, root, front_matter, "
                       "body FROM skill WHERE name = ?1", &st) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        problem_set(err, 404, "skill_not_found", "no valid skill is named "
                    "'%s'", name);
        goto out;
    }
    root = sqlite3_column_int(st, 1);
    path = skills_shown_path(s, root, name);
    rootp = util_utf8_printable(s->roots[root]);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s}", "name", name,
                    "description", sqlite3_column_text(st, 0), "root",
                    rootp, "path", path, "front_matter",
                    column_json(st, 2), "body", sqlite3_column_text(st, 3));
    free(path);
    free(rootp);
    folder = xasprintf("%s/%s", s->roots[root], name);
    rc = 0;
out:
    sqlite3_finalize(st);
    skills_index_release(s, idx);
    if (rc == 0) {
        /* Read the folder with no reference held: it may take a while. */
        files = skill_fs_list(folder, LIMIT_SKILL_FILES, &truncated);
        json_object_set_new(doc, "files", files);
        json_object_set_new(doc, "files_truncated",
                            json_boolean(truncated));
        *out = doc;
    }
    free(folder);
    return rc;
}

int
skills_file(struct skills *s, const char *name, const char *path,
            json_t **out, struct problem *err)
{
    char *folder;
    int root, rc;

    if (skill_fs_check_path(path, err) < 0)
        return -1;
    root = skills_find_root(s, name, err);
    if (root < 0)
        return -1;
    folder = xasprintf("%s/%s", s->roots[root], name);
    rc = skill_fs_read(folder, path, LIMIT_SKILL_FILE_BYTES, out, err);
    free(folder);
    if (rc == 0)
        json_object_set_new(*out, "name", json_string(name));
    return rc;
}

