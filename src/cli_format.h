/*
 * cli_format.h - how colibri prints answers: raw JSON for scripts, and
 * for people tables (lists), "key: value" lines (one object) and the
 * status overview.  The layouts follow the shape of the answer, not the
 * operation, so a new operation prints sensibly without code here.
 */
#ifndef COLIBRI_CLI_FORMAT_H
#define COLIBRI_CLI_FORMAT_H

#include <stdio.h>
#include <jansson.h>

#include "ops.h"

/* The answer as one JSON document (indented), for scripts. */
void cli_format_json(FILE *out, const json_t *result);

/*
 * For people:
 *   {"items": [...]}      a table (tasks: ID STATUS PRI TITLE ASSIGNEE
 *                         LEASE; others: the items' scalar members) and
 *                         a count line, with the cursor when there is one
 *   {"text": "..."}       the text (text answers, such as metrics)
 *   {..., "task": {..}}   the other members, then the task's
 *   any other object      "key: value" lines; a multi-line "body" last
 *   null                  nothing (204 answers)
 */
void cli_format_result(FILE *out, const struct op *op, json_t *result);

/* The system.status overview on one screen. */
void cli_format_status(FILE *out, json_t *status);

/* Width of UTF-8 text in code points (what a terminal mostly shows). */
size_t cli_text_width(const char *s);

#endif
