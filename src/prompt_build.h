/*
 * prompt_build.h - the inputs of prompt assembly, gathered from the
 * daemon: the system prompt of a kind (--system-prompt KIND=FILE, else a
 * built-in text), the tool notes (--tool-notes FILE, else generated from
 * the operations table), the valid skills of the catalog, a task and its
 * dependencies from the store.  Also what a spawn gets: the prefix
 * written to a content-addressed file, and the skills' folders.
 * See docs/internals/prompt.md.
 */
#ifndef COLIBRI_PROMPT_BUILD_H
#define COLIBRI_PROMPT_BUILD_H

#include <stdint.h>
#include <jansson.h>

#include "problem.h"
#include "prompt.h"

struct app;

/*
 * Assembles regions 1 and 2 for kind and task (<= 0: none) into *out
 * (free with prompt_out_free).  *skill_dirs (may be NULL) gets the
 * folders of the skills in region 1, sorted by skill name (new, NULL
 * ended).  Records the hashes (store_prompt_observe) when they differ
 * from the last ones this process recorded for the kind, or a minute
 * passed; session > 0 is always checked.  Errors: 404 task_not_found,
 * 404 session_not_found, 500 system_prompt_unreadable, and the store's.
 */
int prompt_build(struct app *app, const char *kind, int64_t task,
                 int64_t session, struct prompt_out *out,
                 char ***skill_dirs, struct problem *err);

/*
 * Writes regions 1 and 2 to DATA_DIR/prompts/<prefix_sha256>.md (mode
 * 0600, written to a temporary file and renamed, so a reader never sees
 * half of it); an existing file of that name is reused (its name is its
 * content's hash).  *path is new.
 */
int prompt_write_file(const char *data_dir, const struct prompt_out *out,
                      char **path, struct problem *err);

/*
 * The spawner's hook (spawner_options.prefix): for a spawn of runner
 * kind with task (<= 0: none), when there is a task or the kind has a
 * configured system prompt, builds the prefix, writes its file and gives
 * *file (new), *skill_dirs (new, NULL ended) and the prefix hash.
 * Otherwise 0 with *file NULL.  ctx is the struct app.
 */
int prompt_spawn_prefix(void *ctx, const char *kind, int64_t task,
                        char **file, char ***skill_dirs,
                        char sha[PROMPT_SHA256_HEX], struct problem *err);

#endif
