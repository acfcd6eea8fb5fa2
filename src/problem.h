/*
 * problem.h - the error vocabulary shared by every layer: an RFC 9457
 * problem (status, stable machine-readable code, human detail).
 *
 * The store, the handlers and the transports all fill the same struct, so
 * an error found deep in a transaction reaches an HTTP client, a socket
 * client or an MCP client with the same code.
 */
#ifndef COLIBRI_PROBLEM_H
#define COLIBRI_PROBLEM_H

#include <jansson.h>

struct problem {
    int status;                 /* HTTP status it maps to, 0 = no error */
    const char *code;           /* static string, e.g. "not_found" */
    char detail[512];
    json_t *extra;              /* new; extension members, or NULL */
};

/* Fills p and returns -1, so "return problem_set(...)" reads naturally. */
int problem_set(struct problem *p, int status, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Adds an extension member; steals value. */
void problem_extra(struct problem *p, const char *key, json_t *value);

/* Resets p to "no error", releasing extension members. */
void problem_clear(struct problem *p);

/* The standard reason phrase of an HTTP status ("Not Found"). */
const char *problem_title(int status);

/* Builds the problem+json document: type, title, status, detail, code,
 * plus extension members; returns a new reference. */
json_t *problem_to_json(const struct problem *p);

#endif
