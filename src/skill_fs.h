/*
 * skill_fs.h - the file-system side of the skills catalog: reading one
 * file of a skill without ever leaving its folder, listing a skill's
 * files, and writing a skill folder atomically.
 *
 * Nothing here knows about the index (skills.c); every function takes
 * the folder or root it works in, so the rules about paths are tested
 * on their own (tests/check_skills.c).
 *
 * Paths given by clients are relative to the skill folder, '/'-separated.
 * They never reach the file system as given: each one is checked first
 * (skill_fs_check_path), and files are opened one component at a time
 * with O_NOFOLLOW beneath the folder's real path, so neither "..", an
 * absolute path, nor a symbolic link that resolves outside the folder
 * can reach a file outside it.
 */
#ifndef COLIBRI_SKILL_FS_H
#define COLIBRI_SKILL_FS_H

#include <stddef.h>
#include <jansson.h>

#include "problem.h"

/*
 * Checks a relative path from a client: not empty, not absolute, no
 * backslash, no empty, "." or ".." component, at most LIMIT_SKILL_DEPTH
 * components and LIMIT_SKILL_PATH_BYTES bytes.  0, or -1 with err:
 * 403 path_outside_skill (absolute, ".."), else 400 invalid_path.
 */
int skill_fs_check_path(const char *rel, struct problem *err);

/*
 * Reads the file rel under folder (at most cap bytes).  *out (new) is
 * {"path", "size", "content"} for UTF-8 text without NUL bytes, else
 * {"path", "size", "content_base64"}.  Errors: 400 invalid_path,
 * 403 path_outside_skill (also for a symbolic link that resolves outside
 * the folder), 403 file_too_large, 404 file_not_found.
 */
int skill_fs_read(const char *folder, const char *rel, size_t cap,
                  json_t **out, struct problem *err);

/*
 * The files under folder, recursively, without following symbolic
 * links: a new array of {"path", "size", "type"} ("file" or "symlink"),
 * sorted by path, at most cap entries (*truncated set when there were
 * more) and LIMIT_SKILL_DEPTH levels.
 */
json_t *skill_fs_list(const char *folder, size_t cap, int *truncated);

/*
 * Reads folder/SKILL.md for the scan: a new NUL-terminated text (length
 * in *len), or NULL with a reason in why (missing, a symbolic link, not
 * a regular file, larger than cap, unreadable).
 */
char *skill_fs_read_md(const char *folder, size_t cap, size_t *len,
                       char *why, size_t whylen);

/*
 * Writes root/name with SKILL.md = skill_md and the files of the object
 * files ({"relative/path": "text"}, may be NULL), atomically: the folder
 * is built beside its final place as root/.name.tmp-XXXXXX, every file
 * and directory is fsync'ed, and it is renamed into place; an existing
 * folder is exchanged with it (renameat2 RENAME_EXCHANGE where there is
 * one, else renamed aside first) and then removed.  A reader sees the
 * old folder or the new one, never a mix.  *created says whether no
 * folder was there before.  The paths of files must have passed
 * skill_fs_check_path.  Errors: 400 invalid_path (two paths conflict),
 * 507 storage_full, 500 skill_write_failed; nothing is left behind.
 */
int skill_fs_write(const char *root, const char *name, const char *skill_md,
                   json_t *files, int *created, struct problem *err);

/* Removes path and everything under it, never following links. */
void skill_fs_remove_tree(const char *path);

#endif
