/*
 * skills_rank.c - bm25 ranking of skill searches, as an FTS5 auxiliary
 * function that finds the best k matches in one call.
 *
 * Why not "ORDER BY rank" with FTS5's bm25()?  FTS5 then calls bm25()
 * once per matching row, and each call looks up the row's length in the
 * %_docsize table and builds its instance list; with words that occur
 * in most skills ("use", "the", "file") a query matches nearly every
 * row, and 10,000 rows cost tens of milliseconds.  Here one call, on the
 * first matching row, walks each phrase's matches with xQueryPhrase(),
 * adds every row's contribution into an array indexed by rowid (rowids
 * are 1..n, assigned in scan order), and keeps the k best; row lengths
 * come from an array the scan filled.  The formula is FTS5's bm25() (k1
 * 1.2, b 0.75, IDF floor 1e-6, column weights applied to term
 * frequencies, the row's total length against the average), with the
 * weights name 10, description 4, body 1, so the order is the order
 * "ORDER BY bm25(skill_fts, 10, 4, 1)" gives (tests/check_skills.c
 * compares the two), but for two shortcuts: lengths of non-ASCII text
 * are counted by a simpler rule than the tokenizer's
 * (skills_count_tokens), and words that are almost everywhere are
 * counted once per column (RANK_EXACT_ROWS).
 */
#include "autoconf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "skills_impl.h"
#include "util.h"

#define BM25_K1 1.2
#define BM25_B  0.75

#define TOPK_POINTER "colibri_topk"

/*
 * A phrase found in more than half of the skills gets bm25's floor IDF
 * (1e-6): it barely counts.  When it is also in more than this many
 * skills (so never in a catalog of up to twice as many), two shortcuts
 * spare the work of a word that is everywhere: its term frequency is
 * taken as one per column it is in (no positions are walked), and a
 * common word known as such before the query runs (skills_is_common) is
 * not looked up at all when the query's other words found enough skills
 * already.  Either can only reorder skills whose scores differ by less
 * than the floor IDF, that is skills that no rarer word of the query
 * tells apart.
 */
#define RANK_EXACT_ROWS 2000

/* Column weights: name, description, body (the columns of skill_fts). */
static const double column_weight[] = {10.0, 4.0, 1.0};

/* One phrase's matches: rowid and weighted term frequency. */
struct hits {
    sqlite3_int64 *rowid;
    double *freq;
    size_t n;
    size_t alloc;
};

size_t
skills_count_tokens(const char *s)
{
    size_t n = 0;
    int in = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int token = c >= 0x80 || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        if (token && !in)
            n++;
        in = token;
    }
    return n;
}

static double
weight(int col)
{
    return col >= 0 && col < (int)(sizeof(column_weight) /
                                   sizeof(column_weight[0]))
        ? column_weight[col] : 0;
}

/* Appends one row; freq is its weighted term frequency. */
static void
hits_add(struct hits *h, sqlite3_int64 rowid, double freq)
{
    if (h->n == h->alloc) {
        h->alloc = h->alloc ? 2 * h->alloc : 1024;
        h->rowid = xrealloc(h->rowid, h->alloc * sizeof(*h->rowid));
        h->freq = xrealloc(h->freq, h->alloc * sizeof(*h->freq));
    }
    h->rowid[h->n] = rowid;
    h->freq[h->n] = freq;
    h->n++;
}

/* xQueryPhrase callback: a row that has the phrase, its frequency
 * counted once per column (cheap: no positions are read). */
static int
collect_columns(const Fts5ExtensionApi *api, Fts5Context *ctx, void *arg)
{
    Fts5PhraseIter it;
    double freq = 0;
    int col;

    for (api->xPhraseFirstColumn(ctx, 0, &it, &col); col >= 0;
         api->xPhraseNextColumn(ctx, &it, &col))
        freq += weight(col);
    hits_add(arg, api->xRowid(ctx), freq);
    return SQLITE_OK;
}

/* xQueryPhrase callback: a row that has the phrase, with every
 * occurrence counted (bm25's term frequency). */
static int
collect_positions(const Fts5ExtensionApi *api, Fts5Context *ctx, void *arg)
{
    Fts5PhraseIter it;
    double freq = 0;
    int col, off;

    for (api->xPhraseFirst(ctx, 0, &it, &col, &off); col >= 0;
         api->xPhraseNext(ctx, &it, &col, &off))
        freq += weight(col);
    hits_add(arg, api->xRowid(ctx), freq);
    return SQLITE_OK;
}

/* a before b: higher score, then lower rowid (scan order). */
static int
better(double sa, sqlite3_int64 ra, double sb, sqlite3_int64 rb)
{
    return sa > sb || (sa == sb && ra < rb);
}

static void
topk_offer(struct skills_topk *top, sqlite3_int64 rowid, double score)
{
    int i;

    if (top->n == top->k &&
        !better(score, rowid, top->score[top->n - 1], top->rowid[top->n - 1]))
        return;
    i = top->n < top->k ? top->n++ : top->k - 1;
    while (i > 0 && better(score, rowid, top->score[i - 1],
                           top->rowid[i - 1])) {
        top->score[i] = top->score[i - 1];
        top->rowid[i] = top->rowid[i - 1];
        i--;
    }
    top->score[i] = score;
    top->rowid[i] = rowid;
}

/*
 * colibri_bm25(skill_fts, topk): on its first call of a query, ranks
 * every match and fills *topk; returns NULL.
 */
static void
bm25_top(const Fts5ExtensionApi *api, Fts5Context *ctx,
         sqlite3_context *out, int nval, sqlite3_value **val)
{
    struct skill_index *idx = api->xUserData(ctx);
    struct skills_topk *top;
    struct hits h;
    sqlite3_int64 *touched = NULL, r;
    double *score = NULL, avgdl, idf;
    size_t j, ntouched = 0;
    int i, k, nphrase, rc = SQLITE_OK;

    top = nval == 1 ? sqlite3_value_pointer(val[0], TOPK_POINTER) : NULL;
    if (top == NULL) {
        sqlite3_result_error(out, "colibri_bm25: no result pointer", -1);
        return;
    }
    if (top->done || idx->ndocs == 0) {
        sqlite3_result_null(out);
        return;
    }
    memset(&h, 0, sizeof(h));
    score = xcalloc((size_t)idx->ndocs + 1, sizeof(*score));
    touched = xmalloc(((size_t)idx->ndocs + 1) * sizeof(*touched));
    avgdl = idx->avgdl > 0 ? idx->avgdl : 1;
    nphrase = api->xPhraseCount(ctx);
    /* Rare words first; common ones only while skills are missing. */
    for (k = 0; k < 2 * nphrase && rc == SQLITE_OK; k++) {
        int common;

        i = k % nphrase;
        common = i < LIMIT_SKILL_QUERY_TERMS && top->common[i];
        if ((k < nphrase) == common)
            continue;
        if (common && ntouched >= (size_t)top->k)
            continue;
        h.n = 0;
        rc = api->xQueryPhrase(ctx, i, &h, collect_columns);
        if (rc == SQLITE_OK && h.n > 0 &&
            !(h.n > RANK_EXACT_ROWS && 2 * h.n > (size_t)idx->ndocs)) {
            h.n = 0;
            rc = api->xQueryPhrase(ctx, i, &h, collect_positions);
        }
        idf = log(((double)idx->ndocs - (double)h.n + 0.5) /
                  ((double)h.n + 0.5));
        if (idf <= 0.0)
            idf = 1e-6;
        for (j = 0; j < h.n; j++) {
            double f = h.freq[j], d;

            r = h.rowid[j];
            if (r < 1 || r > idx->ndocs || f <= 0)
                continue;
            d = idx->doclen[r];
            if (score[r] == 0)
                touched[ntouched++] = r;
            score[r] += idf * f * (BM25_K1 + 1.0) /
                        (f + BM25_K1 * (1.0 - BM25_B + BM25_B * d / avgdl));
        }
    }
    if (rc == SQLITE_OK) {
        for (j = 0; j < ntouched; j++)
            topk_offer(top, touched[j], score[touched[j]]);
        top->done = 1;
        sqlite3_result_null(out);
    } else {
        sqlite3_result_error_code(out, rc);
    }
    free(h.rowid);
    free(h.freq);
    free(score);
    free(touched);
}

static int
compare_words(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
skills_is_common(const struct skill_index *idx, const char *token)
{
    return idx->ncommon > 0 &&
           bsearch(&token, idx->common, idx->ncommon, sizeof(char *),
                   compare_words) != NULL;
}

int
skills_rank_common(struct skill_index *idx)
{
    sqlite3_stmt *st = NULL;
    size_t alloc = 0;

    if (idx->ndocs <= 2 * RANK_EXACT_ROWS)
        return 0;
    if (sqlite3_exec(idx->db, "CREATE VIRTUAL TABLE skill_vocab USING "
                     "fts5vocab(skill_fts, 'row')", NULL, NULL,
                     NULL) != SQLITE_OK ||
        skills_prepare(idx->db, "SELECT term FROM skill_vocab WHERE "
                       "doc > ?1 AND 2 * doc > ?2 ORDER BY term", &st) < 0)
        return -1;
    sqlite3_bind_int(st, 1, RANK_EXACT_ROWS);
    sqlite3_bind_int(st, 2, idx->ndocs);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (idx->ncommon == alloc) {
            alloc = alloc ? 2 * alloc : 64;
            idx->common = xrealloc(idx->common, alloc * sizeof(char *));
        }
        idx->common[idx->ncommon++] =
            xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    /* ORDER BY used SQLite's BINARY order, which is strcmp's. */
    return 0;
}

int
skills_rank_register(struct skill_index *idx)
{
    sqlite3_stmt *st = NULL;
    fts5_api *api = NULL;

    if (skills_prepare(idx->db, "SELECT fts5(?1)", &st) < 0)
        return -1;
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (api == NULL || api->iVersion < 2)
        return -1;
    return api->xCreateFunction(api, "colibri_bm25", idx, bm25_top,
                                NULL) == SQLITE_OK ? 0 : -1;
}

int
skills_rank(struct skill_index *idx, const char *query,
            struct skills_topk *top, struct problem *err)
{
    sqlite3_stmt *st = NULL;
    int step;

    top->n = 0;
    top->done = 0;
    if (top->k > LIMIT_SKILL_SEARCH_MAX)
        top->k = LIMIT_SKILL_SEARCH_MAX;
    if (skills_prepare(idx->db, "SELECT colibri_bm25(skill_fts, ?2) FROM "
                       "skill_fts WHERE skill_fts MATCH ?1 LIMIT 1",
                       &st) < 0)
        return skills_index_problem(err, idx->db);
    sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
    sqlite3_bind_pointer(st, 2, top, TOPK_POINTER, NULL);
    step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        skills_index_problem(err, idx->db);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}
