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
#define LIMIT_AGENT_CHARS       64              /* agent ids, lease holders */
#define LIMIT_AGENT_SKILLS      256             /* skills per agent */
#define LIMIT_LIST_DEFAULT      100             /* ?limit= when absent */
#define LIMIT_LIST_MAX          1000            /* ?limit= upper bound */
#define LIMIT_LEASE_DEFAULT     300             /* seconds */
#define LIMIT_LEASE_MAX         86400
#define LIMIT_AGENT_TIMEOUT_DEFAULT 60          /* seconds of silence: offline */
#define LIMIT_REQUEST_ID_CHARS  64
#define LIMIT_INGEST_LINE       (256 * 1024)    /* one ingested pi event */
#define LIMIT_INGEST_REPORTED   100             /* rejected lines listed */
#define LIMIT_SPAWN_STDERR      4096            /* stderr tail kept per agent */
#define LIMIT_CONFIG_LINE       4096
#define LIMIT_WRITE_BATCH       512             /* writes per group commit */
#define LIMIT_HTTP_CONNECTIONS  4096            /* API connections, beyond
                                                 * event subscribers */
#define LIMIT_BUS_RING          8192            /* events the bus keeps in
                                                 * memory for live delivery */
#define LIMIT_SOCKET_LINE       (1024 * 1024)   /* one socket request line */
#define LIMIT_SOCKET_CLIENTS    64              /* socket connections */
#define LIMIT_SOCKET_SUBSCRIBERS 48             /* of them, event streams
                                                 * (each holds a worker) */
#define LIMIT_CLI_RESPONSE      (256 * 1024 * 1024) /* an answer to colibri */
#define LIMIT_SKILLS            100000          /* skill folders indexed */
#define LIMIT_SKILL_MD_BYTES    (256 * 1024)    /* one SKILL.md */
#define LIMIT_SKILL_FILE_BYTES  (1024 * 1024)   /* a file skill.file serves */
#define LIMIT_SKILL_FILES       1000            /* files skill.get lists */
#define LIMIT_SKILL_PUT_FILES   256             /* files in one skill.put */
#define LIMIT_SKILL_DEPTH       16              /* folder levels in a skill */
#define LIMIT_SKILL_PATH_BYTES  1000            /* a file path in a skill */
#define LIMIT_SKILL_QUERY_CHARS 256             /* skill.search q */
#define LIMIT_SKILL_QUERY_TERMS 32              /* words in q */
#define LIMIT_SKILL_SEARCH_DEFAULT 20           /* results when no limit */
#define LIMIT_SKILL_SEARCH_MAX  100
#define LIMIT_LOGIN_CODES       16              /* unused login codes kept */
#define LIMIT_LOGIN_SESSIONS    256             /* dashboard sessions */
#define LIMIT_HOSTS             1024            /* hosts host.report keeps */
#define LIMIT_SESSION_FOLLOWERS 256             /* session.entries streams */
#define LIMIT_METERING_NAME_CHARS 128           /* provider, model names */
#define LIMIT_METERING_PRICES   256             /* --price lines */
#define LIMIT_METERING_TOKENS   1000000000000LL /* tokens of one kind, one
                                                 * call */
#define LIMIT_METERING_METRIC_MODELS 256        /* models /metrics lists */

#define LIMIT_PROMPT_FILE_BYTES (256 * 1024)    /* system prompt, tool notes */
#define LIMIT_PROMPT_TAIL       256             /* messages in a tail */

#endif
