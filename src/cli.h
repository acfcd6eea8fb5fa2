/*
 * cli.h - the colibri command line, generated from the operations table.
 *
 * "colibri NOUN VERB [ARGS]" runs the operation "NOUN.VERB": positional
 * arguments fill its path arguments ({id}) in order, "--name value" fills
 * any argument by its declared type.  A short table of shorthands ("task
 * add", "task ls") sits on top.  Nothing here names an operation other
 * than the shorthands, so a new row of the table is a new command.
 */
#ifndef COLIBRI_CLI_H
#define COLIBRI_CLI_H

#include <stdio.h>
#include <jansson.h>

#include "ops.h"

/* Exit statuses, documented in colibri(1); scripts rely on them. */
enum cli_exit {
    CLI_OK = 0,
    CLI_ERROR = 1,              /* anything else */
    CLI_USAGE = 2,              /* bad command line (or 400 arguments) */
    CLI_NOT_FOUND = 3,          /* 404 */
    CLI_CONFLICT = 4,           /* 409, 412, 428 */
    CLI_REFUSED = 5,            /* 401, 403, the socket refused us */
    CLI_UNREACHABLE = 6         /* no daemon at the socket or URL */
};

/* A shorthand: words typed -> operation; data in cli.c. */
struct cli_shorthand {
    const char *words;          /* "task dep add" */
    const char *op;             /* "task.dep_add" */
    const char *positional;     /* "id,depends_on"; NULL: the path's */
};
extern const struct cli_shorthand cli_shorthands[];
extern const size_t cli_shorthand_count;

/* One parsed command. */
struct cli_command {
    const struct op *op;        /* NULL with help for a noun or overview */
    const struct cli_shorthand *shorthand;  /* the one used, or NULL */
    char noun[64];              /* for "colibri NOUN --help" */
    json_t *args;               /* new; the operation's arguments */
    int help;                   /* --help was given */
    int json;                   /* --json was given */
};

/*
 * Turns the words after the global options into a command.  Arguments
 * are converted to the JSON type their spec declares (integers parsed,
 * booleans as flags, lists from repeats or commas, JSON text for "any");
 * their values are not validated here: the daemon does that, the same
 * way for every transport.  stdin is read for "--data -" or "-".
 * 0, or -1 with a sentence in err (a usage error).
 */
int cli_parse(int argc, char **argv, FILE *in, struct cli_command *cmd,
              char *err, size_t errlen);
void cli_command_free(struct cli_command *cmd);

/* The names positional words fill: the shorthand's, else the {..}
 * segments of the op's path in order.  Returns how many (at most max). */
int cli_positionals(const struct op *op, const struct cli_shorthand *sh,
                    char names[][64], int max);

/* The exit status for an error with this HTTP status and code. */
int cli_exit_status(int status, const char *code);

/* "session entries ID --follow" (cli_session.c): prints the entries as
 * they come until the session has ended; the exit status. */
struct cli_endpoint;
int cli_session_follow(const struct cli_endpoint *ep, const struct op *op,
                       json_t *args, int json, FILE *out);

/* Help from the table: everything, one noun, one operation. */
void cli_help_overview(FILE *out);
int cli_help_noun(FILE *out, const char *noun);
void cli_help_op(FILE *out, const struct op *op,
                 const struct cli_shorthand *shorthand);
/* "events" or "ingest": the commands that are streams (cli_events.c);
 * "events" also lists the events.* operations. */
void cli_help_stream_command(FILE *out, const char *name);

/* "colibri inventory" (cli_inventory.c): this host's runtime manifest,
 * computed locally; --report also sends it to the daemon. */
struct cli_endpoint;
void cli_inventory_help(FILE *out);
int cli_inventory_main(const struct cli_endpoint *ep, int argc, char **argv,
                       const char *data_dir);

/* The whole program; returns the exit status. */
int cli_main(int argc, char **argv);

#endif
