/*
 * skills.h - the skills catalog: skill folders in configured roots, and
 * a searchable index derived from them.
 *
 * The folders on disk are the source of truth.  The index is a private
 * in-memory SQLite database (FTS5 over name, description and body) that
 * a scan builds from nothing; a rescan builds a fresh one and swaps it
 * in, so a search sees the old index or the new one, never half of one.
 * Nothing of the catalog is in the store: restarting the daemon, or
 * rescanning, rebuilds it.  See docs/internals/skills.md.
 *
 * Roots are scanned in order; each direct sub-folder of a root is one
 * skill (hidden ones, starting with '.', are skipped).  A skill that
 * breaks a rule is kept as an invalid entry with its reasons, and so is
 * a second skill of a name an earlier root already has ("duplicate of
 * <path>"): the first root wins.
 *
 * Every function is safe to call from any thread.  Results are new JSON
 * references; errors fill a struct problem.
 */
#ifndef COLIBRI_SKILLS_H
#define COLIBRI_SKILLS_H

#include <stddef.h>
#include <jansson.h>

#include "problem.h"

struct skills;

/*
 * Opens the catalog over roots[0..nroots-1] (copied) and scans them.  A
 * root that does not exist or cannot be read is logged and scanned as
 * empty (it may appear later; skill.rescan looks again).  Fails only
 * when the index cannot be made (500).
 */
int skills_open(struct skills **out, char *const *roots, size_t nroots,
                struct problem *err);

/* Releases everything; accepts NULL. */
void skills_close(struct skills *s);

/* How many valid and invalid skills the current index holds. */
void skills_counts(struct skills *s, int *valid, int *invalid);

/*
 * Scans every root into a new index and swaps it in.  *counts (new, may
 * be NULL) is {"valid", "invalid", "took_ms"}.
 */
int skills_rescan(struct skills *s, json_t **counts, struct problem *err);

/*
 * One page of the catalog sorted by name: {"items": [{name, description,
 * root, path}], "next": <cursor>|null}; or, with invalid, the invalid
 * entries sorted by path: {"items": [{path, root, name?, reasons}],
 * "next"}.  after is the previous page's next (NULL for the first).
 */
int skills_list(struct skills *s, int invalid, int limit, const char *after,
                json_t **out, struct problem *err);

/*
 * Full-text search: q is user text; each word is quoted into an FTS5
 * query (words joined with OR), so no input is an FTS5 syntax error; a q
 * without any letter or digit finds nothing.  Ranked by bm25 with name
 * weighted over description over body.  {"items": [{name, description,
 * score, snippet}]}: score is -bm25 (higher is better); snippet is an
 * HTML fragment (text escaped, matches in <mark>...</mark>).  400 when q
 * has no word, or more than LIMIT_SKILL_QUERY_TERMS.
 */
int skills_search(struct skills *s, const char *q, int limit, json_t **out,
                  struct problem *err);

/*
 * One valid skill: {name, description, root, path, front_matter, body,
 * files: [{path, size, type}], files_truncated}.  The front matter and
 * body are as of the last scan; the file list is read now.
 * 404 skill_not_found.
 */
int skills_get(struct skills *s, const char *name, json_t **out,
               struct problem *err);

/*
 * One file of a valid skill (see skill_fs_read): {name, path, size,
 * content | content_base64}.  404 skill_not_found, and the problems of
 * skill_fs_read.
 */
int skills_file(struct skills *s, const char *name, const char *path,
                json_t **out, struct problem *err);

/*
 * Creates or replaces the skill name from the text of its SKILL.md and
 * optional files ({"relative/path": "text"}), validated like a scanned
 * one, written atomically into the first writable root, then indexed
 * (by a rescan).  *out is the skill as skills_get gives it plus
 * "created" (false when it replaced one).  Errors: 422 invalid_skill
 * (with "reasons"), 400 invalid_path / invalid_argument (files),
 * 409 no_writable_root, 409 skill_shadowed (an earlier, read-only root
 * has a skill of that name, which would keep winning), 5xx on write
 * failures.
 */
int skills_put(struct skills *s, const char *name, const char *skill_md,
               json_t *files, json_t **out, struct problem *err);

#endif
