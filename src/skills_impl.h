/*
 * skills_impl.h - private to the skills catalog: skills.c scans, swaps
 * and writes; skills_query.c answers list, search, get and file.
 */
#ifndef COLIBRI_SKILLS_IMPL_H
#define COLIBRI_SKILLS_IMPL_H

#include <pthread.h>
#include <sqlite3.h>

#include "limits.h"
#include "skills.h"

struct skill_index {
    sqlite3 *db;
    int valid;
    int invalid;
    int refs;                   /* the catalog's, plus one per reader */
    int *doclen;                /* tokens of each skill, by rowid (1..) */
    int ndocs;                  /* rows of skill (rowids 1..ndocs) */
    double avgdl;               /* average of doclen */
    char **common;              /* sorted: words in most skills (below) */
    size_t ncommon;
};

struct skills {
    char **roots;               /* as configured, duplicates removed */
    size_t nroots;
    pthread_mutex_t lock;       /* guards index and every refs */
    struct skill_index *index;
    pthread_mutex_t writer;     /* one rescan or put at a time */
};

/* A reference to the current index; drop it with skills_index_release.
 * The index it gives never changes: a rescan makes a new one. */
struct skill_index *skills_index_acquire(struct skills *s);
void skills_index_release(struct skills *s, struct skill_index *idx);

/* sqlite3_prepare_v2; 0 or -1. */
int skills_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);

/* Fills err with the index's last error (500); returns -1. */
int skills_index_problem(struct problem *err, sqlite3 *db);

/* root/name as valid UTF-8, for showing; new. */
char *skills_shown_path(const struct skills *s, int root, const char *name);

/* The best matches of a search (skills_rank.c). */
struct skills_topk {
    int k;                      /* how many are wanted */
    int n;                      /* how many were found */
    int done;
    /* Phrase i of the query is a common word (skills_is_common): ranked
     * last, and left out when the others found k skills already. */
    unsigned char common[LIMIT_SKILL_QUERY_TERMS];
    sqlite3_int64 rowid[LIMIT_SKILL_SEARCH_MAX];
    double score[LIMIT_SKILL_SEARCH_MAX];   /* bm25, higher is better */
};

/* Registers colibri_bm25() on the index's connection; 0 or -1. */
int skills_rank_register(struct skill_index *idx);

/* Fills top with the k best matches of the FTS5 query; 0 or -1 (500). */
int skills_rank(struct skill_index *idx, const char *query,
                struct skills_topk *top, struct problem *err);

/*
 * Fills idx->common with the words (single tokens) that are in more than
 * half of the skills and in more than RANK_EXACT_ROWS of them: bm25
 * gives them its floor IDF, 1e-6.  0 or -1.
 */
int skills_rank_common(struct skill_index *idx);

/* True when token (lower-case ASCII letters and digits) is common. */
int skills_is_common(const struct skill_index *idx, const char *token);

/* Tokens in s as the unicode61 tokenizer counts them for ASCII text
 * (runs of letters and digits); every non-ASCII byte counts as a letter.
 * The lengths bm25 normalizes by. */
size_t skills_count_tokens(const char *s);

/* The root of the valid skill name, or -1 with 404 skill_not_found. */
int skills_find_root(struct skills *s, const char *name,
                     struct problem *err);

#endif
