/*
 * prompt.h - three-region prompt assembly: the pure part.
 *
 * Region 1 is what every session of an agent kind shares (the system
 * prompt, tool notes, the skills index), region 2 what one session shares
 * (its task: title, body, dependencies, required skills), region 3 the
 * volatile tail of chat messages.  Providers cache prompt prefixes byte
 * for byte, so regions 1 and 2 are built only from their inputs: no time,
 * no counter, no locale, no input order (skills and dependencies are
 * sorted bytewise here, whatever order they arrive in).  Numbers are
 * written by hand, never through printf, so no locale can reach them.
 *
 * Nothing here reads a file, the store or a clock; op_prompt.c gathers
 * the inputs.  See docs/internals/prompt.md.
 */
#ifndef COLIBRI_PROMPT_H
#define COLIBRI_PROMPT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct op;

#define PROMPT_SHA256_HEX 65    /* 64 hex digits and the NUL */

struct prompt_skill {
    const char *name;           /* borrowed */
    const char *description;    /* borrowed */
};

struct prompt_dep {
    int64_t id;
    const char *title;          /* borrowed */
};

struct prompt_task {
    int64_t id;
    const char *title;          /* borrowed */
    const char *body;           /* borrowed; may be NULL or "" */
    const struct prompt_dep *deps;      /* any order */
    size_t ndeps;
    const char *const *skills;  /* required skills, any order */
    size_t nskills;
};

struct prompt_input {
    const char *system;         /* system prompt bytes (borrowed) */
    size_t system_len;
    const char *tool_notes;     /* borrowed */
    size_t tool_notes_len;
    const struct prompt_skill *skills;  /* valid skills, any order */
    size_t nskills;
    const struct prompt_task *task;     /* NULL: no task, empty region 2 */
};

struct prompt_out {
    char *region1;              /* new, NUL-terminated */
    size_t region1_len;
    char *region2;              /* new, NUL-terminated; "" without task */
    size_t region2_len;
    char region1_sha256[PROMPT_SHA256_HEX];     /* of region 1 */
    char region2_sha256[PROMPT_SHA256_HEX];     /* of region 2 alone */
    char prefix_sha256[PROMPT_SHA256_HEX];      /* of region 1 + 2 */
    char inputs_sha256[PROMPT_SHA256_HEX];      /* of region 1's inputs */
};

/*
 * Builds regions 1 and 2 from in and hashes them.  The inputs are not
 * changed (sorting works on copies of the pointers).  inputs_sha256 is
 * computed from the raw inputs, apart from the layout (a format version,
 * the system prompt's and tool notes' hashes, each skill's name and
 * description in name order), so that a bug that makes region 1 depend
 * on anything but its inputs shows up as drift, not as a changed input.
 */
void prompt_assemble(const struct prompt_input *in, struct prompt_out *out);
void prompt_out_free(struct prompt_out *out);

/* SHA-256 of data as 64 lower-case hex digits (gnutls). */
void prompt_sha256_hex(const void *data, size_t len,
                       char hex[PROMPT_SHA256_HEX]);

/*
 * Checks a tail (region 3): an array of at most max objects
 * {"role": "user"|"assistant"|"tool", "content": string}, nothing else.
 * 0, or -1 with a reason naming the first bad item.
 */
int prompt_check_tail(const json_t *tail, size_t max, char *reason,
                      size_t reasonlen);

/*
 * The answer of prompt.assemble (new): regions, messages (the system
 * message holds regions 1 and 2, then the tail's messages) and hashes.
 * tail is borrowed (NULL = empty).
 */
json_t *prompt_to_json(const struct prompt_out *out, const json_t *tail);

/*
 * The default tool notes: one line per operation that has an HTTP path,
 * "- name (METHOD PATH): summary", sorted by name bytewise.  New.
 */
char *prompt_tool_notes(const struct op *ops, size_t nops, size_t *len);

/* The built-in system prompt of a kind without a configured one. New. */
char *prompt_default_system(const char *kind, size_t *len);

#endif
