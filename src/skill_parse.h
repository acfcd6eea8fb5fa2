/*
 * skill_parse.h - the Agent Skills SKILL.md format: YAML front matter
 * between two "---" lines, then a markdown body.
 *
 * A pure module: text in, fields or reasons out.  It reads no files, so
 * every rule is unit-tested without a disk (tests/check_skill_parse.c).
 * The YAML is parsed with libyaml; only the delimiter lines are found by
 * hand.
 *
 * The rules (DESIGN.md, "Skills"):
 *   name           required, 1-64 characters of [a-z0-9-], no leading,
 *                  trailing or double hyphen; equals the folder name
 *   description    required, 1-1024 characters, not only blanks
 *   license        optional string
 *   compatibility  optional string of 1-500 characters
 *   metadata       optional mapping of string keys to string values
 *   allowed-tools  optional string (space-separated tool names)
 * Any other top-level key makes the skill invalid: the format allows only
 * these.  Characters are Unicode code points; the text must be UTF-8.
 */
#ifndef COLIBRI_SKILL_PARSE_H
#define COLIBRI_SKILL_PARSE_H

#include <stddef.h>
#include <jansson.h>

#define SKILL_NAME_MAX          64
#define SKILL_DESCRIPTION_MAX   1024
#define SKILL_COMPATIBILITY_MAX 500

/*
 * What a SKILL.md says.  Every member is new (freed by skill_meta_free)
 * and NULL when the file does not say it.  Fields are filled as far as
 * they could be read even when the skill is invalid, so an invalid
 * skill can still be listed under its name.
 */
struct skill_meta {
    char *name;
    char *description;
    char *license;
    char *compatibility;
    char *allowed_tools;
    json_t *metadata;           /* object of strings */
    char *body;                 /* after the front matter; "\r\n" -> "\n" */
    json_t *reasons;            /* array of strings; empty when valid */
};

/*
 * Parses the text of a SKILL.md (len bytes; NUL bytes inside make it
 * invalid).  folder, when not NULL, is the name of the folder holding
 * the file, which the name must equal.  A UTF-8 byte order mark and
 * CRLF line ends are accepted.  Returns 0 when the skill is valid, -1
 * when it is not; either way out is filled and must be freed.
 */
int skill_parse(const char *text, size_t len, const char *folder,
                struct skill_meta *out);

/* Releases the members of m (not m itself); accepts a zeroed m. */
void skill_meta_free(struct skill_meta *m);

/*
 * The front matter as JSON (new reference): the fields that are present,
 * under their SKILL.md names ("allowed-tools").
 */
json_t *skill_front_matter(const struct skill_meta *m);

/*
 * Checks a skill name against the naming rules.  0 when valid; -1 with a
 * human reason in why (which may be NULL).
 */
int skill_name_check(const char *name, char *why, size_t whylen);



#endif
