/*
 * skills.c - the skills catalog: scanning roots into a derived,
 * in-memory SQLite FTS5 index, swapping it in, and skill.put (see
 * skills.h and docs/internals/skills.md; queries are in skills_query.c).
 *
 * Concurrency: the current index is a reference-counted snapshot.  A
 * reader takes a reference under the mutex, works on the index without
 * holding it, and drops the reference; a rescan builds a new index with
 * no lock held, swaps the pointer under the mutex, and the old index is
 * freed by whoever drops its last reference.  A reader therefore never
 * waits for a scan and never sees a half-built index.  The in-memory
 * database is opened in serialized mode (SQLITE_OPEN_FULLMUTEX) and
 * every reader prepares its own statements, so readers may share it.
 * Rescans and puts are serialized by a second mutex.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limits.h"
#include "log.h"
#include "skill_fs.h"
#include "skill_parse.h"
#include "skills_impl.h"
#include "util.h"

/* A scan in progress: the index being built and its statements. */
struct scan {
    struct skills *s;
    struct skill_index *idx;
    sqlite3_stmt *find;
    sqlite3_stmt *insert;
    sqlite3_stmt *insert_fts;
    sqlite3_stmt *insert_invalid;
    int entries;
    int failed;
    sqlite3_int64 doclen_alloc;
    double tokens;              /* all skills' tokens, for the average */
};

/*
 * The index.  skill_fts indexes the columns of skill (external
 * content), so the text is stored once.  Ranking is skills_rank.c's.
 */
static const char schema_sql[] =
    "CREATE TABLE skill ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  root INTEGER NOT NULL,"
    "  front_matter TEXT NOT NULL);"
    "CREATE TABLE invalid ("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL,"
    "  root INTEGER NOT NULL,"
    "  name TEXT,"
    "  reasons TEXT NOT NULL);"
    "CREATE INDEX invalid_path ON invalid (path);"
    "CREATE VIRTUAL TABLE skill_fts USING fts5("
    "  name, description, body, content = 'skill', content_rowid = 'id',"
    "  tokenize = 'unicode61 remove_diacritics 2');"
    /* No merging while the scan inserts: one 'optimize' at the end. */
    "INSERT INTO skill_fts (skill_fts, rank) VALUES ('automerge', 0);";

static int index_build(struct skills *s, struct skill_index **out,
                       struct problem *err);
static void index_free(struct skill_index *idx);
static int rescan_locked(struct skills *s, json_t **counts,
                         struct problem *err);

int
skills_index_problem(struct problem *err, sqlite3 *db)
{
    return problem_set(err, 500, "skills_index_error",
                       "the skills index failed: %s", sqlite3_errmsg(db));
}

static void
index_free(struct skill_index *idx)
{
    size_t i;

    if (idx == NULL)
        return;
    sqlite3_close(idx->db);
    free(idx->doclen);
    for (i = 0; i < idx->ncommon; i++)
        free(idx->common[i]);
    free(idx->common);
    free(idx);
}

struct skill_index *
skills_index_acquire(struct skills *s)
{
    struct skill_index *idx;

    pthread_mutex_lock(&s->lock);
    idx = s->index;
    idx->refs++;
    pthread_mutex_unlock(&s->lock);
    return idx;
}

void
skills_index_release(struct skills *s, struct skill_index *idx)
{
    int last;

    pthread_mutex_lock(&s->lock);
    last = --idx->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (last)
        index_free(idx);
}

/* root/name for showing: valid UTF-8 whatever the root's bytes. */
char *
skills_shown_path(const struct skills *s, int root, const char *name)
{
    char *path = xasprintf("%s/%s", s->roots[root], name);
    char *shown = util_utf8_printable(path);

    free(path);
    return shown;
}

/* --- scanning -------------------------------------------------------- */

static void
add_invalid(struct scan *sc, int root, const char *path, const char *name,
            json_t *reasons)
{
    sqlite3_stmt *st = sc->insert_invalid;
    char *shown = util_utf8_printable(path);
    char *text = json_dumps(reasons, JSON_COMPACT);

    sqlite3_bind_text(st, 1, shown, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, root);
    if (name != NULL)
        sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        sc->failed = 1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sc->idx->invalid++;
    free(shown);
    free(text);
}

/* Indexes a valid skill, or records it as a duplicate of an earlier one. */
static void
add_valid(struct scan *sc, int root, const char *path,
          const struct skill_meta *m)
{
    json_t *fm;
    char *fm_text;
    sqlite3_int64 id;

    sqlite3_bind_text(sc->find, 1, m->name, -1, SQLITE_STATIC);
    if (sqlite3_step(sc->find) == SQLITE_ROW) {
        char *first = skills_shown_path(sc->s,
                                        sqlite3_column_int(sc->find, 0),
                                        m->name);
        json_t *reasons = json_array();
        char *reason = xasprintf("duplicate of %s", first);

        json_array_append_new(reasons, json_string(reason));
        sqlite3_reset(sc->find);
        add_invalid(sc, root, path, m->name, reasons);
        json_decref(reasons);
        free(reason);
        free(first);
        return;
    }
    sqlite3_reset(sc->find);
    fm = skill_front_matter(m);
    fm_text = json_dumps(fm, JSON_COMPACT);
    sqlite3_bind_text(sc->insert, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(sc->insert, 2, m->description, -1, SQLITE_STATIC);
    sqlite3_bind_text(sc->insert, 3, m->body, -1, SQLITE_STATIC);
    sqlite3_bind_int(sc->insert, 4, root);
    sqlite3_bind_text(sc->insert, 5, fm_text, -1, SQLITE_STATIC);
    if (sqlite3_step(sc->insert) != SQLITE_DONE)
        sc->failed = 1;
    sqlite3_reset(sc->insert);
    id = sqlite3_last_insert_rowid(sc->idx->db);
    sqlite3_bind_int64(sc->insert_fts, 1, id);
    sqlite3_bind_text(sc->insert_fts, 2, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(sc->insert_fts, 3, m->description, -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(sc->insert_fts, 4, m->body, -1, SQLITE_STATIC);
    if (sqlite3_step(sc->insert_fts) != SQLITE_DONE)
        sc->failed = 1;
    sqlite3_reset(sc->insert_fts);
    sc->idx->valid++;
    if (id >= sc->doclen_alloc) {
        sc->doclen_alloc = 2 * id + 64;
        sc->idx->doclen = xrealloc(sc->idx->doclen,
                                   (size_t)sc->doclen_alloc *
                                   sizeof(*sc->idx->doclen));
    }
    sc->idx->doclen[id] = (int)(skills_count_tokens(m->name) +
                                skills_count_tokens(m->description) +
                                skills_count_tokens(m->body));
    sc->tokens += sc->idx->doclen[id];
    if (id > sc->idx->ndocs)
        sc->idx->ndocs = (int)id;
    json_decref(fm);
    free(fm_text);
}

/* One entry of a root: a folder is a skill (valid or not); anything
 * else that is not a folder is not a skill and is left alone. */
static void
scan_entry(struct scan *sc, int root, const char *folder)
{
    char *path = xasprintf("%s/%s", sc->s->roots[root], folder);
    char why[256], *text;
    struct skill_meta meta;
    struct stat st;
    size_t len = 0;
    int stat_errno = 0;

    memset(&meta, 0, sizeof(meta));
    if (stat(path, &st) < 0)
        stat_errno = errno;
    else if (!S_ISDIR(st.st_mode))
        goto out;
    if (sc->entries >= LIMIT_SKILLS) {
        if (sc->entries++ == LIMIT_SKILLS)
            log_warnx("skills: more than %d skills; the rest are not "
                      "indexed", LIMIT_SKILLS);
        goto out;
    }
    sc->entries++;
    meta.reasons = json_array();
    if (stat_errno != 0) {
        snprintf(why, sizeof(why), "cannot open the folder: %s",
                 strerror(stat_errno));
        json_array_append_new(meta.reasons, json_string(why));
        add_invalid(sc, root, path, NULL, meta.reasons);
        goto out;
    }
    text = skill_fs_read_md(path, LIMIT_SKILL_MD_BYTES, &len, why,
                            sizeof(why));
    if (text == NULL) {
        json_array_append_new(meta.reasons, json_string(why));
        add_invalid(sc, root, path, NULL, meta.reasons);
        goto out;
    }
    json_decref(meta.reasons);
    if (skill_parse(text, len, folder, &meta) < 0)
        add_invalid(sc, root, path, meta.name, meta.reasons);
    else
        add_valid(sc, root, path, &meta);
    free(text);
out:
    skill_meta_free(&meta);
    free(path);
}

static int
visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static void
scan_root(struct scan *sc, int root)
{
    struct dirent **names = NULL;
    int n, i;

    n = scandir(sc->s->roots[root], &names, visible, alphasort);
    if (n < 0) {
        log_warn("skills: cannot read the skills root %s",
                 sc->s->roots[root]);
        return;
    }
    for (i = 0; i < n; i++) {
        scan_entry(sc, root, names[i]->d_name);
        free(names[i]);
    }
    free(names);
}

int
skills_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : -1;
}

/* Builds a fresh index from every root. */
static int
index_build(struct skills *s, struct skill_index **out, struct problem *err)
{
    struct skill_index *idx = xcalloc(1, sizeof(*idx));
    struct scan sc;
    size_t r;
    int rc = -1;

    memset(&sc, 0, sizeof(sc));
    sc.s = s;
    sc.idx = idx;
    if (sqlite3_open_v2(":memory:", &idx->db, SQLITE_OPEN_READWRITE |
                        SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(idx->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
        skills_rank_register(idx) < 0 ||
        sqlite3_exec(idx->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        skills_prepare(idx->db, "SELECT root FROM skill WHERE name = ?1",
                       &sc.find) < 0 ||
        skills_prepare(idx->db, "INSERT INTO skill (name, description, "
                       "body, root, front_matter) VALUES (?1, ?2, ?3, ?4, "
                       "?5)", &sc.insert) < 0 ||
        skills_prepare(idx->db, "INSERT INTO skill_fts (rowid, name, "
                       "description, body) VALUES (?1, ?2, ?3, ?4)",
                       &sc.insert_fts) < 0 ||
        skills_prepare(idx->db, "INSERT INTO invalid (path, root, name, "
                       "reasons) VALUES (?1, ?2, ?3, ?4)",
                       &sc.insert_invalid) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    for (r = 0; r < s->nroots; r++)
        scan_root(&sc, (int)r);
    if (sc.failed ||
        sqlite3_exec(idx->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(idx->db, "INSERT INTO skill_fts (skill_fts) "
                     "VALUES ('optimize')", NULL, NULL, NULL) !=
            SQLITE_OK ||
        skills_rank_common(idx) < 0) {
        skills_index_problem(err, idx->db);
        goto out;
    }
    idx->avgdl = idx->ndocs > 0 ? sc.tokens / idx->ndocs : 0;
    idx->refs = 1;
    *out = idx;
    idx = NULL;
    rc = 0;
out:
    sqlite3_finalize(sc.find);
    sqlite3_finalize(sc.insert);
    sqlite3_finalize(sc.insert_fts);
    sqlite3_finalize(sc.insert_invalid);
    index_free(idx);
    return rc;
}

/* Rescans and swaps; the caller holds s->writer. */
static int
rescan_locked(struct skills *s, json_t **counts, struct problem *err)
{
    struct skill_index *idx = NULL, *old;
    int64_t start = util_mono_us();

    if (index_build(s, &idx, err) < 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    old = s->index;
    s->index = idx;
    pthread_mutex_unlock(&s->lock);
    if (old != NULL)
        skills_index_release(s, old);
    if (counts != NULL)
        *counts = json_pack("{s:i, s:i, s:I}", "valid", idx->valid,
                            "invalid", idx->invalid, "took_ms",
                            (json_int_t)((util_mono_us() - start) / 1000));
    return 0;
}

/* --- lifecycle ------------------------------------------------------- */

int
skills_open(struct skills **out, char *const *roots, size_t nroots,
            struct problem *err)
{
    struct skills *s = xcalloc(1, sizeof(*s));
    char **real = xcalloc(nroots + 1, sizeof(*real));
    size_t i, j;

    s->roots = xcalloc(nroots + 1, sizeof(*s->roots));
    for (i = 0; i < nroots; i++) {
        int dup = 0;

        /* The same folder named twice would report every skill of it
         * as a duplicate of itself. */
        real[i] = realpath(roots[i], NULL);
        for (j = 0; j < i && real[i] != NULL; j++)
            if (real[j] != NULL && !strcmp(real[i], real[j]))
                dup = 1;
        if (dup) {
            log_warnx("skills: %s is named twice as a skills root; "
                      "scanning it once", roots[i]);
            continue;
        }
        s->roots[s->nroots++] = xstrdup(roots[i]);
    }
    for (i = 0; i < nroots; i++)
        free(real[i]);
    free(real);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->writer, NULL);
    if (index_build(s, &s->index, err) < 0) {
        skills_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void
skills_close(struct skills *s)
{
    size_t i;

    if (s == NULL)
        return;
    if (s->index != NULL)
        skills_index_release(s, s->index);
    for (i = 0; i < s->nroots; i++)
        free(s->roots[i]);
    free(s->roots);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->writer);
    free(s);
}

void
skills_counts(struct skills *s, int *valid, int *invalid)
{
    struct skill_index *idx = skills_index_acquire(s);

    *valid = idx->valid;
    *invalid = idx->invalid;
    skills_index_release(s, idx);
}

int
skills_rescan(struct skills *s, json_t **counts, struct problem *err)
{
    int rc;

    pthread_mutex_lock(&s->writer);
    rc = rescan_locked(s, counts, err);
    pthread_mutex_unlock(&s->writer);
    return rc;
}

/* --- put ------------------------------------------------------------- */

static int
check_files(json_t *files, struct problem *err)
{
    const char *key;
    json_t *value;

    if (files == NULL || json_is_null(files))
        return 0;
    if (!json_is_object(files) ||
        json_object_size(files) > LIMIT_SKILL_PUT_FILES) {
        problem_set(err, 400, "invalid_argument", "'files' must be an "
                    "object of at most %d \"relative/path\": \"text\" "
                    "members", LIMIT_SKILL_PUT_FILES);
        problem_extra(err, "argument", json_string("files"));
        return -1;
    }
    json_object_foreach(files, key, value) {
#if JANSSON_VERSION_HEX >= 0x020e00
        /* A NUL inside a key (JSON "\u0000") would cut the path short. */
        if (json_object_iter_key_len(json_object_key_to_iter(key)) !=
            strlen(key)) {
            problem_set(err, 400, "invalid_path", "a file path contains a "
                        "NUL character");
            problem_extra(err, "argument", json_string("files"));
            return -1;
        }
#endif
        if (skill_fs_check_path(key, err) < 0) {
            problem_extra(err, "argument", json_string("files"));
            return -1;
        }
        if (!strcmp(key, "SKILL.md")) {
            problem_set(err, 400, "invalid_path", "SKILL.md is given by "
                        "'skill_md', not in 'files'");
            problem_extra(err, "argument", json_string("files"));
            return -1;
        }
        if (!json_is_string(value)) {
            problem_set(err, 400, "invalid_argument", "the content of "
                        "each file must be a string");
            problem_extra(err, "argument", json_string("files"));
            return -1;
        }
    }
    return 0;
}

static int
writable_root(const struct skills *s)
{
    struct stat st;
    size_t i;

    for (i = 0; i < s->nroots; i++)
        if (stat(s->roots[i], &st) == 0 && S_ISDIR(st.st_mode) &&
            access(s->roots[i], W_OK | X_OK) == 0)
            return (int)i;
    return -1;
}

int
skills_put(struct skills *s, const char *name, const char *skill_md,
           json_t *files, json_t **out, struct problem *err)
{
    struct skill_meta meta;
    struct problem ignored = {0};
    size_t len = strlen(skill_md);
    int root, existing, created = 0, rc = -1;

    *out = NULL;
    if (len > LIMIT_SKILL_MD_BYTES) {
        problem_set(err, 422, "invalid_skill", "SKILL.md has %zu bytes; at "
                    "most %d are allowed", len, LIMIT_SKILL_MD_BYTES);
        return -1;
    }
    if (skill_parse(skill_md, len, name, &meta) < 0) {
        problem_set(err, 422, "invalid_skill", "the skill is not valid: "
                    "%s", json_string_value(json_array_get(meta.reasons,
                                                           0)));
        problem_extra(err, "reasons", json_incref(meta.reasons));
        skill_meta_free(&meta);
        return -1;
    }
    skill_meta_free(&meta);
    if (check_files(files, err) < 0)
        return -1;

    pthread_mutex_lock(&s->writer);
    root = writable_root(s);
    if (root < 0) {
        problem_set(err, 409, "no_writable_root", "no skills root is a "
                    "writable folder (see --skills-path)");
        goto out;
    }
    existing = skills_find_root(s, name, &ignored);
    problem_clear(&ignored);
    if (existing >= 0 && existing < root) {
        char *shown = skills_shown_path(s, existing, name);

        problem_set(err, 409, "skill_shadowed", "%s is in a read-only "
                    "skills root before the first writable one, and would "
                    "still win over the new skill", shown);
        free(shown);
        goto out;
    }
    if (skill_fs_write(s->roots[root], name, skill_md,
                       json_is_object(files) ? files : NULL, &created,
                       err) < 0)
        goto out;
    /* (op_skill.c announces the change: a skill.changed event.) */
    if (rescan_locked(s, NULL, err) < 0)
        goto out;
    rc = 0;
out:
    pthread_mutex_unlock(&s->writer);
    if (rc == 0 && skills_get(s, name, out, err) < 0)
        rc = -1;
    if (rc == 0)
        json_object_set_new(*out, "created", json_boolean(created));
    return rc;
}
