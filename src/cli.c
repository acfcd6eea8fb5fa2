/*
 * cli.c - the colibri program: global options, commands resolved against
 * the operations table, arguments converted by their declared types, the
 * call, and the exit status.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cli.h"
#include "cli_client.h"
#include "cli_events.h"
#include "cli_format.h"
#include "config.h"
#include "limits.h"
#include "util.h"

/*
 * Shorthands from the issue that asked for the CLI: the words a person
 * types for the everyday operations.  A shorthand whose operation is not
 * in the table (yet) is ignored.
 */
const struct cli_shorthand cli_shorthands[] = {
    {"task add", "task.create", "title"},
    {"task ls", "task.list", NULL},
    {"task show", "task.get", NULL},
    {"task done", "task.complete", NULL},
    {"task dep add", "task.dep_add", "id,depends_on"},
    {"task dep rm", "task.dep_remove", "id,depends_on"},
    {"agent ls", "agent.list", NULL},
    {"agent show", "agent.get", NULL},
    {"skill ls", "skill.list", NULL},
    {"skill show", "skill.get", NULL},
};
const size_t cli_shorthand_count =
    sizeof(cli_shorthands) / sizeof(cli_shorthands[0]);

/* "claim-next" -> "claim_next" into out. */
static void
underscored(const char *in, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = in[i] == '-' ? '_' : in[i];
    out[i] = '\0';
}

/* True when some operation is called noun.something. */
static int
is_noun(const char *noun)
{
    size_t i, n = strlen(noun);

    for (i = 0; i < ops_count; i++)
        if (!strncmp(ops_table[i].name, noun, n) &&
            ops_table[i].name[n] == '.')
            return 1;
    return 0;
}

/* The longest shorthand whose words begin argv; *used = their number. */
static const struct cli_shorthand *
match_shorthand(int argc, char **argv, int *used)
{
    const struct cli_shorthand *best = NULL;
    int best_n = 0;
    size_t i;

    for (i = 0; i < cli_shorthand_count; i++) {
        const char *w = cli_shorthands[i].words;
        int n = 0;

        while (*w != '\0' && n < argc) {
            size_t len = strcspn(w, " ");

            if (strlen(argv[n]) != len || strncmp(argv[n], w, len) != 0)
                break;
            n++;
            w += len;
            while (*w == ' ')
                w++;
        }
        if (*w == '\0' && n > best_n &&
            ops_find(cli_shorthands[i].op) != NULL) {
            best = &cli_shorthands[i];
            best_n = n;
        }
    }
    *used = best_n;
    return best;
}

int
cli_positionals(const struct op *op, const struct cli_shorthand *sh,
                 char names[][64], int max)
{
    const char *p;
    int n = 0;

    if (sh != NULL && sh->positional != NULL) {
        p = sh->positional;
        while (*p != '\0' && n < max) {
            size_t len = strcspn(p, ",");

            snprintf(names[n++], 64, "%.*s", (int)len, p);
            p += len;
            if (*p == ',')
                p++;
        }
        return n;
    }
    for (p = op->path; p != NULL && (p = strchr(p, '{')) != NULL &&
         n < max; p++) {
        size_t len = strcspn(p + 1, "*}");     /* "{path*}": "path" */

        snprintf(names[n++], 64, "%.*s", (int)len, p + 1);
    }
    return n;
}

static int
parse_bool_word(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") ||
        !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") ||
             !strcmp(s, "off") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/*
 * Converts one command-line value to the argument's JSON type and stores
 * it in args: scalars once, lists appended to (repeats and commas).
 */
static int
put_value(json_t *args, const struct op *op, const struct arg_spec *a,
          const char *display, const char *value, char *err,
          size_t errlen)
{
    json_t *v = NULL, *list;
    json_error_t jerr;
    long long n;
    int b;

    if (a->type == ARG_STRINGS || a->type == ARG_INTS) {
        const char *p = value;

        list = json_object_get(args, a->name);
        if (list == NULL) {
            list = json_array();
            json_object_set_new(args, a->name, list);
        }
        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            char *item = xstrndup(p, len);

            if (a->type == ARG_STRINGS) {
                json_array_append_new(list, json_string(item));
            } else if (util_parse_ll(item, LLONG_MIN, LLONG_MAX, &n) < 0) {
                util_set_err(err, errlen, "%s takes integers, not '%s'",
                             display, item);
                free(item);
                return -1;
            } else {
                json_array_append_new(list, json_integer(n));
            }
            free(item);
            p += len;
            if (*p == ',')
                p++;
        }
        return 0;
    }
    if (json_object_get(args, a->name) != NULL)
        return util_set_err(err, errlen, "%s is given twice", display);
    switch (a->type) {
    case ARG_INT:
        if (util_parse_ll(value, LLONG_MIN, LLONG_MAX, &n) < 0)
            return util_set_err(err, errlen, "%s takes an integer, not '%s'",
                                display, value);
        v = json_integer(n);
        break;
    case ARG_BOOL:
        if (parse_bool_word(value, &b) < 0)
            return util_set_err(err, errlen, "%s takes true or false, not "
                                "'%s'", display, value);
        v = json_boolean(b);
        break;
    case ARG_ANY:
        v = json_loads(value, JSON_DECODE_ANY, &jerr);
        if (v == NULL)
            return util_set_err(err, errlen, "%s takes JSON text (%s); quote "
                                "a string as '\"text\"'", display, jerr.text);
        break;
    default:
        v = json_string(value);
        if (v == NULL)
            return util_set_err(err, errlen, "%s is not valid UTF-8",
                                display);
        break;
    }
    (void)op;
    json_object_set_new(args, a->name, v);
    return 0;
}

/* Reads a JSON object of arguments from text or, for "-", from in. */
static json_t *
read_data(const char *text, FILE *in, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc;

    if (!strcmp(text, "-")) {
        doc = json_loadf(in, 0, &jerr);
        if (doc == NULL) {
            util_set_err(err, errlen, "standard input is not a JSON object: "
                         "%s (line %d)", jerr.text, jerr.line);
            return NULL;
        }
    } else {
        doc = json_loads(text, 0, &jerr);
        if (doc == NULL) {
            util_set_err(err, errlen, "--data is not a JSON object: %s",
                         jerr.text);
            return NULL;
        }
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        util_set_err(err, errlen, "the arguments must be a JSON object");
        return NULL;
    }
    return doc;
}

/* Resolves the command words; *used = how many words it took. */
static int
resolve(int argc, char **argv, struct cli_command *cmd, int *used,
        char *err, size_t errlen)
{
    char name[160], verb[96];

    cmd->shorthand = match_shorthand(argc, argv, used);
    if (cmd->shorthand != NULL) {
        cmd->op = ops_find(cmd->shorthand->op);
        return 0;
    }
    if (strchr(argv[0], '.') != NULL || !is_noun(argv[0])) {
        /* "task.claim" as one word, or a legacy name ("ClaimTask"). */
        cmd->op = ops_resolve(argv[0]);
        *used = 1;
        if (cmd->op != NULL)
            return 0;
        return util_set_err(err, errlen, "unknown command '%s' (colibri help "
                            "lists the commands)", argv[0]);
    }
    snprintf(cmd->noun, sizeof(cmd->noun), "%s", argv[0]);
    if (argc < 2 || argv[1][0] == '-') {
        /* "colibri task" or "colibri task --help": the noun's help. */
        *used = 1;
        return 0;
    }
    underscored(argv[1], verb, sizeof(verb));
    snprintf(name, sizeof(name), "%s.%s", argv[0], verb);
    cmd->op = ops_find(name);
    *used = 2;
    if (cmd->op == NULL)
        return util_set_err(err, errlen, "unknown command '%s %s' (colibri "
                            "%s --help lists them)", argv[0], argv[1],
                            argv[0]);
    return 0;
}

int
cli_parse(int argc, char **argv, FILE *in, struct cli_command *cmd,
          char *err, size_t errlen)
{
    char names[8][64], flag[96], display[112];
    json_t *data = NULL, *flags = NULL;
    const char *key;
    json_t *v;
    int i, used, npos, filled = 0, only_positional = 0, rc = -1;

    memset(cmd, 0, sizeof(*cmd));
    if (argc < 1)
        return util_set_err(err, errlen, "no command (colibri help lists "
                            "them)");
    if (resolve(argc, argv, cmd, &used, err, errlen) < 0)
        return -1;
    flags = json_object();
    npos = cmd->op ? cli_positionals(cmd->op, cmd->shorthand, names, 8)
                   : 0;
    for (i = used; i < argc; i++) {
        const char *word = argv[i], *value = NULL, *eq;
        const struct arg_spec *a;
        int negated = 0;

        if (only_positional || word[0] != '-' || word[1] == '\0') {
            if (!only_positional && !strcmp(word, "-")) {
                json_decref(data);
                if ((data = read_data("-", in, err, errlen)) == NULL)
                    goto out;
                continue;
            }
            if (cmd->op == NULL || filled >= npos) {
                util_set_err(err, errlen, "unexpected argument '%s'", word);
                goto out;
            }
            a = ops_find_arg(cmd->op, names[filled]);
            snprintf(display, sizeof(display), "%s", names[filled]);
            filled++;
            if (a == NULL) {
                util_set_err(err, errlen, "%s takes no argument '%s'",
                             cmd->op->name, display);
                goto out;
            }
            if (put_value(flags, cmd->op, a, display, word, err,
                          errlen) < 0)
                goto out;
            continue;
        }
        if (!strcmp(word, "--")) {
            only_positional = 1;
            continue;
        }
        if (!strcmp(word, "--json")) {
            cmd->json = 1;
            continue;
        }
        if (!strcmp(word, "--help") || !strcmp(word, "-h")) {
            cmd->help = 1;
            continue;
        }
        if (cmd->op == NULL) {
            util_set_err(err, errlen, "unknown option '%s'", word);
            goto out;
        }
        if (!strncmp(word, "--data", 6) && (word[6] == '\0' ||
                                             word[6] == '=')) {
            value = word[6] == '=' ? word + 7 : argv[++i];
            if (value == NULL) {
                util_set_err(err, errlen, "--data needs a JSON object (or - "
                             "for standard input)");
                goto out;
            }
            json_decref(data);
            if ((data = read_data(value, in, err, errlen)) == NULL)
                goto out;
            continue;
        }
        if (word[1] != '-') {
            util_set_err(err, errlen, "unknown option '%s'", word);
            goto out;
        }
        eq = strchr(word, '=');
        snprintf(flag, sizeof(flag), "%.*s",
                 (int)(eq ? (size_t)(eq - word - 2) : strlen(word + 2)),
                 word + 2);
        snprintf(display, sizeof(display), "--%s", flag);
        underscored(flag, flag, sizeof(flag));
        a = ops_find_arg(cmd->op, flag);
        if (a == NULL && !strncmp(flag, "no_", 3) &&
            (a = ops_find_arg(cmd->op, flag + 3)) != NULL && eq == NULL)
            negated = 1;
        if (a == NULL) {
            char typed[200];
            size_t n = 0;
            int w;

            typed[0] = '\0';
            for (w = 0; w < used && n < sizeof(typed); w++)
                n += (size_t)snprintf(typed + n, sizeof(typed) - n, "%s%s",
                                      w ? " " : "", argv[w]);
            util_set_err(err, errlen, "%s has no option %s (colibri %s --help "
                         "lists its arguments)", cmd->op->name, display,
                         typed);
            goto out;
        }
        if (negated) {
            if (a->type == ARG_BOOL) {
                value = "false";
            } else if (a->flags & ARG_NULLABLE) {
                if (json_object_get(flags, a->name) != NULL) {
                    util_set_err(err, errlen, "%s is given twice", display);
                    goto out;
                }
                json_object_set_new(flags, a->name, json_null());
                continue;
            } else {
                util_set_err(err, errlen, "%s cannot be negated", display);
                goto out;
            }
        } else if (eq != NULL) {
            value = eq + 1;
        } else if (a->type == ARG_BOOL) {
            int b;

            value = "true";
            if (i + 1 < argc && parse_bool_word(argv[i + 1], &b) == 0)
                value = argv[++i];
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            util_set_err(err, errlen, "%s needs a value", display);
            goto out;
        }
        if (put_value(flags, cmd->op, a, display, value, err, errlen) < 0)
            goto out;
    }
    if (data != NULL) {
        json_object_foreach(flags, key, v) {
            if (json_object_get(data, key) != NULL) {
                util_set_err(err, errlen, "'%s' is given twice (in the JSON "
                             "arguments and on the command line)", key);
                goto out;
            }
        }
        json_object_update(data, flags);
        cmd->args = json_incref(data);
    } else {
        cmd->args = json_incref(flags);
    }
    rc = 0;
out:
    json_decref(data);
    json_decref(flags);
    return rc;
}

void
cli_command_free(struct cli_command *cmd)
{
    json_decref(cmd->args);
    cmd->args = NULL;
}

int
cli_exit_status(int status, const char *code)
{
    if (code != NULL && !strcmp(code, "unreachable"))
        return CLI_UNREACHABLE;
    if (code != NULL && !strcmp(code, "peer_refused"))
        return CLI_REFUSED;
    switch (status) {
    case 400: return CLI_USAGE;
    case 401: case 403: return CLI_REFUSED;
    case 404: return CLI_NOT_FOUND;
    case 409: case 412: case 428: return CLI_CONFLICT;
    default: return CLI_ERROR;
    }
}

/* --- the program ----------------------------------------------------- */

struct cli_options {
    const char *socket_path;
    const char *url;
    const char *token_file;
    const char *cacert;
    int json;
};

static void
usage_line(FILE *out)
{
    fprintf(out, "usage: colibri [--socket PATH | --url URL [--token-file "
            "FILE]] [--json] NOUN VERB [ARGS...]\n"
            "       colibri help [NOUN [VERB]]\n");
}

/* Takes the global options; returns the index of the first command word,
 * or -1 (usage error, message printed) or -2 (done: help, version). */
static int
global_options(int argc, char **argv, struct cli_options *o)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *w = argv[i], **slot = NULL, *eq = strchr(w, '=');
        size_t n = eq ? (size_t)(eq - w) : strlen(w);

        if (!strcmp(w, "--")) {
            return i + 1;
        } else if (!strcmp(w, "--json")) {
            o->json = 1;
            continue;
        } else if (!strcmp(w, "--help") || !strcmp(w, "-h")) {
            cli_help_overview(stdout);
            return -2;
        } else if (!strcmp(w, "--version") || !strcmp(w, "-V")) {
            printf("colibri %s\n", PACKAGE_VERSION);
            return -2;
        } else if (n == 8 && !strncmp(w, "--socket", n)) {
            slot = &o->socket_path;
        } else if (n == 5 && !strncmp(w, "--url", n)) {
            slot = &o->url;
        } else if (n == 12 && !strncmp(w, "--token-file", n)) {
            slot = &o->token_file;
        } else if (n == 8 && !strncmp(w, "--cacert", n)) {
            slot = &o->cacert;
        } else {
            fprintf(stderr, "colibri: unknown option '%s'\n", w);
            usage_line(stderr);
            return -1;
        }
        if (eq != NULL) {
            *slot = eq + 1;
        } else if (i + 1 < argc) {
            *slot = argv[++i];
        } else {
            fprintf(stderr, "colibri: %.*s needs a value\n", (int)n, w);
            return -1;
        }
    }
    return i;
}

static int
run(const struct cli_options *o, const struct cli_endpoint *ep,
    struct cli_command *cmd, int status_view)
{
    struct cli_error err;
    json_t *result = NULL;
    int code;

    if (cmd->op->flags & OP_STREAM) {
        /* "colibri events subscribe" or "events stream": the stream is
         * followed as "colibri events" does, over either transport. */
        if (strncmp(cmd->op->name, "events.", 7) != 0) {
            fprintf(stderr, "colibri: %s answers with a stream, which "
                    "this colibri does not follow (stream_unsupported)\n",
                    cmd->op->name);
            return CLI_ERROR;
        }
        return cli_events_follow(ep, cmd->args, o->json || cmd->json,
                                 stdout);
    }
    if ((cmd->op->flags & OP_FOLLOW) &&
        json_is_true(json_object_get(cmd->args, "follow")))
        return cli_session_follow(ep, cmd->op, cmd->args,
                                  o->json || cmd->json, stdout);
    if (cli_call(ep, cmd->op, cmd->args, &result, &err) < 0) {
        fprintf(stderr, "colibri: %s (%s)\n", err.detail, err.code);
        if (!strcmp(err.code, "unauthorized") && ep->url != NULL)
            fprintf(stderr, "colibri: give the API token with "
                    "--token-file or COLIBRI_TOKEN\n");
        return cli_exit_status(err.status, err.code);
    }
    if (o->json || cmd->json)
        cli_format_json(stdout, result);
    else if (status_view)
        cli_format_status(stdout, result);
    else
        cli_format_result(stdout, cmd->op, result);
    code = fflush(stdout) == 0 ? CLI_OK : CLI_ERROR;
    json_decref(result);
    return code;
}

int
cli_main(int argc, char **argv)
{
    struct cli_options o;
    struct cli_link link;
    struct cli_command cmd;
    char err[600];
    int first, rc, status_view = 0, stream_cmd = 0, i;

    memset(&o, 0, sizeof(o));
    memset(&link, 0, sizeof(link));
    memset(&cmd, 0, sizeof(cmd));
    first = global_options(argc, argv, &o);
    if (first == -2)
        return CLI_OK;
    if (first < 0)
        return CLI_USAGE;
    if (first >= argc) {
        usage_line(stderr);
        fprintf(stderr, "(colibri help lists the commands)\n");
        return CLI_USAGE;
    }
    if (!strcmp(argv[first], "help")) {
        if (first + 1 >= argc) {
            cli_help_overview(stdout);
            return CLI_OK;
        }
        if (first + 2 == argc && (!strcmp(argv[first + 1], "ingest") ||
                                  !strcmp(argv[first + 1], "events"))) {
            cli_help_stream_command(stdout, argv[first + 1]);
            return CLI_OK;
        }
        /* "help task claim" = "task claim --help". */
        if (cli_parse(argc - first - 1, argv + first + 1, stdin, &cmd, err,
                      sizeof(err)) < 0) {
            fprintf(stderr, "colibri: %s\n", err);
            return CLI_USAGE;
        }
        cmd.help = 1;
    } else if (!strcmp(argv[first], "ingest") ||
               (!strcmp(argv[first], "events") &&
                (first + 1 == argc || argv[first + 1][0] == '-'))) {
        /* Commands of their own, not one operation's call. */
        stream_cmd = argv[first][0] == 'i' ? 2 : 1;
        for (i = first + 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                cli_help_stream_command(stdout, argv[first]);
                return CLI_OK;
            }
    } else if (!strcmp(argv[first], "inventory")) {
        /* A command of its own: the manifest is computed here. */
        stream_cmd = 3;
        for (i = first + 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                cli_inventory_help(stdout);
                return CLI_OK;
            }
    } else if (!strcmp(argv[first], "status") && (first + 1 == argc ||
                                                  argv[first + 1][0] ==
                                                  '-')) {
        /* The overview: system.status with its own layout. */
        char status_op[] = "system.status", *words[3] = {status_op};
        int n = 1;

        if (first + 1 < argc)
            words[n++] = argv[first + 1];
        if (first + 2 < argc) {
            fprintf(stderr, "colibri: status takes no arguments\n");
            return CLI_USAGE;
        }
        if (cli_parse(n, words, stdin, &cmd, err, sizeof(err)) < 0) {
            fprintf(stderr, "colibri: %s\n", err);
            return CLI_USAGE;
        }
        status_view = 1;
    } else if (cli_parse(argc - first, argv + first, stdin, &cmd, err,
                         sizeof(err)) < 0) {
        fprintf(stderr, "colibri: %s\n", err);
        return CLI_USAGE;
    }
    if (!stream_cmd && (cmd.help || cmd.op == NULL)) {
        int ok = 1;

        if (cmd.op != NULL)
            cli_help_op(stdout, cmd.op, cmd.shorthand);
        else
            ok = cli_help_noun(cmd.help ? stdout : stderr, cmd.noun) == 0;
        rc = cmd.help && ok ? CLI_OK : CLI_USAGE;
        goto out;
    }

    if (o.socket_path != NULL && o.url != NULL) {
        fprintf(stderr, "colibri: give --socket or --url, not both\n");
        rc = CLI_USAGE;
        goto out;
    }
    if (cli_link_open(&link, argv[0], o.url, o.socket_path, o.token_file,
                      o.cacert, "colibri", "token_unreadable") < 0) {
        rc = CLI_ERROR;
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (stream_cmd == 1)
        rc = cli_events_main(&link.ep, argc - first - 1, argv + first + 1,
                             o.json);
    else if (stream_cmd == 2)
        rc = cli_ingest_main(&link.ep, argc - first - 1, argv + first + 1,
                             o.json, STDIN_FILENO);
    else if (stream_cmd == 3)
        rc = cli_inventory_main(&link.ep, argc - first - 1, argv + first + 1,
                                link.data_dir);
    else
        rc = run(&o, &link.ep, &cmd, status_view);
    curl_global_cleanup();
out:
    cli_link_close(&link);
    cli_command_free(&cmd);
    return rc;
}
