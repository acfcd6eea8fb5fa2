/*
 * limits.h - every cap on input that comes from outside, in one place.
 *
 * A buffer that grows from untrusted input is always created with one of
 * these caps; exceeding it is a recoverable error for that request, never
 * an abort.  Change a number here and the docs (docs/configuration.md).
 */
#ifndef COLIBRI_LIMITS_H
#define COLIBRI_LIMITS_H

#define LIMIT_BODY_BYTES        (1024 * 1024)   /* HTTP request body */
#define LIMIT_PATH_BUF          1024            /* a path (414 beyond) */
#define LIMIT_TITLE_CHARS       500             /* task title */
#define LIMIT_TEXT_BYTES        (256 * 1024)    /* task body, result */
#define LIMIT_LABELS            32              /* labels per task */
#define LIMIT_LABEL_CHARS       64
#define LIMIT_DEPS              256             /* dependencies per task */
#define LIMIT_AGENT_CHARS       128             /* agent ids, lease holders */
#define LIMIT_LIST_DEFAULT      100             /* ?limit= when absent */
#define LIMIT_LIST_MAX          1000            /* ?limit= upper bound */
#define LIMIT_LEASE_DEFAULT     300             /* seconds */
#define LIMIT_LEASE_MAX         86400
#define LIMIT_REQUEST_ID_CHARS  64
#define LIMIT_CONFIG_LINE       4096
#define LIMIT_WRITE_BATCH       512             /* writes per group commit */
#define LIMIT_HTTP_CONNECTIONS  4096

#endif
