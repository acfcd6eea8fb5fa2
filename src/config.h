/*
 * config.h - colibrid's configuration: one table of options read from
 * flags (getopt_long), COLIBRI_* environment variables and a config file,
 * with precedence flag > env > file > default.
 *
 * The table in config.c is the single description of every option: it
 * drives --help, --print-config, the environment names and the file keys,
 * so the four can never disagree.
 */
#ifndef COLIBRI_CONFIG_H
#define COLIBRI_CONFIG_H

#include <stdio.h>

enum durability {
    DURABILITY_FULL,            /* fsync each group commit (survives power loss) */
    DURABILITY_NORMAL           /* WAL without fsync per commit (survives kill -9) */
};

/* Value struct: public, owned strings, freed by config_free. */
struct config {
    char *config_file;          /* the file that was read, or NULL */
    char *listen;               /* "HOST:PORT" as given */
    char *listen_host;          /* parsed from listen */
    int listen_port;            /* parsed from listen; 0 = pick a free one */
    char *data_dir;
    char *db_path;              /* defaults to data_dir/colibri.sqlite */
    char *token_path;           /* always data_dir/token */
    char *socket_path;
    char *socket_group;         /* may also use the socket; NULL = none */
    char *tls_cert;
    char *tls_key;
    char **allow_hosts;         /* NULL-terminated, extra allowed Host names */
    char **skills_paths;        /* NULL-terminated skill roots, or NULL */
    enum durability durability;
    int threads;                /* HTTP worker threads */
    int reap_interval;          /* seconds between lease reaper runs */
    int daemonize;
    int debug;
    int events_keep;            /* events kept for replay */
    int events_max_age;         /* seconds */
    int session_max_age_days;   /* ended sessions kept; 0 = no limit */
    int metering_max_age_days;  /* metered calls kept; 0 = no limit */
    int session_max_kb;         /* all session files; 0 = no limit */
    int sse_max_subscribers;
    int sse_heartbeat;          /* seconds */
    int http_memory;            /* bytes per HTTP connection */
    char *static_dir;           /* the dashboard's files */
    char **runners;             /* NULL-terminated "NAME=ARGV", or NULL */
    char **spawn_env_allow;     /* NULL-terminated names, or NULL */
    char *mdo_path;             /* jail tools; NULL = default */
    char *jexec_path;
    char *jail_path;
    char *jail_helper_path;
    char *jls_path;
    char **runtime_tools;       /* NULL-terminated names runtime.get looks
                                 * for, or NULL: the built-in list */
    char **system_prompts;      /* NULL-terminated "KIND=FILE", or NULL */
    char *tool_notes;           /* file of tool notes; NULL = generated */
    char **prices;              /* NULL-terminated "MODEL=IN,OUT,CR,CW"
                                 * (metering.h), or NULL */
};

enum config_action {
    CONFIG_RUN,
    CONFIG_HELP,
    CONFIG_VERSION,
    CONFIG_CHECK,
    CONFIG_PRINT,
    CONFIG_PRINT_OPS            /* the operations table as JSON */
};

/*
 * Builds the configuration from argv, the environment (envp-style lookup
 * through getenv) and the config file.  On error returns -1 with a human
 * reason in err; *action tells main what was asked for.
 */
int config_load(struct config *cfg, int argc, char **argv,
                enum config_action *action, char *err, size_t errlen);

/* Checks what can only be checked against the system (files readable,
 * address parseable); 0 or -1 with the reason in err. */
int config_check(const struct config *cfg, char *err, size_t errlen);

/* Writes the effective configuration in config-file syntax. */
void config_print(const struct config *cfg, FILE *out);
void config_usage(FILE *out, const char *progname);
void config_free(struct config *cfg);

/*
 * Defaults that the colibri CLI must compute exactly as the daemon does
 * (argv0 decides "installed" or "run from a build tree"); new strings.
 * The socket: RUNSTATEDIR/colibri/colibri.sock for an installed program
 * run as root, else $XDG_RUNTIME_DIR/colibri/colibri.sock when that is
 * absolute, else data_dir/colibri.sock.
 */
char *config_default_data_dir(const char *argv0);
char *config_default_socket_path(const char *argv0, const char *data_dir);
char *config_default_static_dir(const char *argv0);

#endif
