/*
 * cli_help.c - colibri's help, written from the operations table: the
 * commands are the operations, their summaries are the table's, their
 * arguments and constraints are the arg specs.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_format.h"
#include "util.h"

#define HELP_WIDTH      79
#define HELP_COMMAND    29      /* width of the command column */

/* Writes text from column col, wrapping at HELP_WIDTH to indent. */
static void
wrap(FILE *out, const char *text, size_t col, size_t indent)
{
    const char *p = text;

    while (*p != '\0') {
        size_t len = strcspn(p, " ");

        if (col > indent && col + 1 + len > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)len, p);
        col += len;
        p += len;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

/* "claim_next" -> "claim-next", as the CLI shows names. */
static void
dashed(const char *in, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = in[i] == '_' ? '-' : in[i];
    out[i] = '\0';
}

static void
upper(const char *in, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = (char)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 'a' + 'A'
                                                     : in[i]);
    out[i] = '\0';
}

/* The words that run op: "task claim-next" or the shorthand's. */
static void
command_words(const struct op *op, const struct cli_shorthand *sh,
              char *out, size_t outlen)
{
    const char *dot = strchr(op->name, '.');
    char verb[64];

    if (sh != NULL) {
        snprintf(out, outlen, "%s", sh->words);
        return;
    }
    dashed(dot + 1, verb, sizeof(verb));
    snprintf(out, outlen, "%.*s %s", (int)(dot - op->name), op->name, verb);
}

static int
is_positional(const char *name, char names[][64], int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return 1;
    return 0;
}

static void
metavar(const struct arg_spec *a, char *out, size_t outlen)
{
    size_t i, n = 0;

    switch (a->type) {
    case ARG_STRING:
        if (a->choices == NULL) {
            snprintf(out, outlen, "TEXT");
            break;
        }
        out[0] = '\0';
        for (i = 0; a->choices[i] != NULL && n + 1 < outlen; i++)
            n += (size_t)snprintf(out + n, outlen - n, "%s%s",
                                  i ? "|" : "", a->choices[i]);
        break;
    case ARG_INT: snprintf(out, outlen, "N"); break;
    case ARG_BOOL: out[0] = '\0'; break;
    case ARG_STRINGS: snprintf(out, outlen, "TEXT,..."); break;
    case ARG_INTS: snprintf(out, outlen, "N,..."); break;
    default: snprintf(out, outlen, "JSON"); break;
    }
}

/* What an argument accepts, in words. */
static void
constraint(const struct arg_spec *a, char *out, size_t outlen)
{
    size_t n = 0;

#define ADD(...) (n += (size_t)snprintf(out + n, n < outlen ? outlen - n \
                                                           : 0, __VA_ARGS__))
    out[0] = '\0';
    switch (a->type) {
    case ARG_INT:
        if (a->min == 0 && a->max == 0)
            ADD("integer");
        else if (a->max == INT64_MAX)
            ADD("integer from %lld", a->min);
        else
            ADD("integer %lld to %lld", a->min, a->max);
        break;
    case ARG_STRING:
        if (a->choices != NULL)
            ADD("one of the values shown");
        else if (a->max > 0)
            ADD("%lld to %lld characters", a->min, a->max);
        else
            ADD("text");
        break;
    case ARG_BOOL:
        ADD("a flag; --no-%s or =false turns it off", a->name);
        break;
    case ARG_STRINGS:
    case ARG_INTS:
        ADD("a list: repeat the option or separate with commas");
        if (a->max > 0)
            ADD("; at most %lld", a->max);
        break;
    default:
        ADD("JSON text");
        break;
    }
    if (a->flags & ARG_NULLABLE)
        ADD("; --no-%s sets null", a->name);
    if (a->flags & ARG_REQUIRED)
        ADD("; required");
#undef ADD
}

static void
synopsis(FILE *out, const struct op *op, const struct cli_shorthand *sh)
{
    char words[128], names[8][64], meta[256], flag[96], token[400];
    const struct arg_spec *a;
    size_t col, indent;
    int n, i;

    command_words(op, sh, words, sizeof(words));
    n = cli_positionals(op, sh, names, 8);
    col = indent = (size_t)fprintf(out, "colibri %s", words) + 1;
    if (indent > 40)
        indent = 8;
    for (i = 0; i < n; i++) {
        upper(names[i], token, sizeof(token));
        fprintf(out, " %s", token);
        col += strlen(token) + 1;
    }
    for (a = op->args; a != NULL && a->name != NULL; a++) {
        if (is_positional(a->name, names, n))
            continue;
        dashed(a->name, flag, sizeof(flag));
        metavar(a, meta, sizeof(meta));
        snprintf(token, sizeof(token), "%s--%s%s%s%s",
                 a->flags & ARG_REQUIRED ? "" : "[", flag,
                 meta[0] ? " " : "", meta,
                 a->flags & ARG_REQUIRED ? "" : "]");
        if (col + 1 + strlen(token) > HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)indent - 1, "");
            col = indent - 1;
        }
        fprintf(out, " %s", token);
        col += strlen(token) + 1;
    }
    fputc('\n', out);
}

void
cli_help_op(FILE *out, const struct op *op,
            const struct cli_shorthand *sh)
{
    char names[8][64], left[400], meta[256], flag[96], text[600];
    const struct arg_spec *a;
    int n;

    synopsis(out, op, sh);
    fputs("  ", out);
    wrap(out, op->summary, 2, 2);
    if (sh != NULL) {
        command_words(op, NULL, left, sizeof(left));
        fprintf(out, "  (shorthand for colibri %s)\n", left);
    }
    snprintf(text, sizeof(text), "(operation %s%s%s%s%s%s)", op->name,
             op->path ? "; " : "", op->path ? op->method : "",
             op->path ? " " : "", op->path ? op->path : "",
             op->flags & OP_WRITE ? "; changes state" : "");
    fputs("  ", out);
    wrap(out, text, 2, 3);
    n = cli_positionals(op, sh, names, 8);
    if (op->args == NULL || op->args[0].name == NULL)
        return;
    fputc('\n', out);
    for (a = op->args; a->name != NULL; a++) {
        metavar(a, meta, sizeof(meta));
        if (is_positional(a->name, names, n)) {
            upper(a->name, left, sizeof(left));
        } else {
            dashed(a->name, flag, sizeof(flag));
            snprintf(left, sizeof(left), "--%s%s%s", flag,
                     meta[0] ? " " : "", meta);
        }
        constraint(a, meta, sizeof(meta));
        snprintf(text, sizeof(text), "%s; %s", a->summary, meta);
        if (strlen(left) + 4 > HELP_COMMAND) {
            fprintf(out, "  %s\n%*s", left, HELP_COMMAND, "");
        } else {
            fprintf(out, "  %-*s", HELP_COMMAND - 2, left);
        }
        wrap(out, text, HELP_COMMAND, HELP_COMMAND);
    }
}

/* One line of the command list: the command, then its summary. */
static void
command_line(FILE *out, const struct op *op, const struct cli_shorthand *sh,
             const char *summary)
{
    char words[128], names[8][64], token[64], line[256];
    size_t len;
    int n, i;

    command_words(op, sh, words, sizeof(words));
    len = (size_t)snprintf(line, sizeof(line), "%s", words);
    n = cli_positionals(op, sh, names, 8);
    for (i = 0; i < n && len < sizeof(line); i++) {
        upper(names[i], token, sizeof(token));
        len += (size_t)snprintf(line + len, sizeof(line) - len, " %s",
                                token);
    }
    if (strlen(line) + 4 > HELP_COMMAND)
        fprintf(out, "  %s\n%*s", line, HELP_COMMAND, "");
    else
        fprintf(out, "  %-*s", HELP_COMMAND - 2, line);
    wrap(out, summary, HELP_COMMAND, HELP_COMMAND);
}

/* The shorthands (of noun, or all) under a heading; none: nothing. */
static void
shorthand_lines(FILE *out, const char *noun)
{
    char target[160], summary[200];
    size_t i, n = noun ? strlen(noun) : 0;
    int shown = 0;

    for (i = 0; i < cli_shorthand_count; i++) {
        const struct op *op = ops_find(cli_shorthands[i].op);

        if (op == NULL || (noun != NULL &&
                           (strncmp(cli_shorthands[i].words, noun, n) ||
                            cli_shorthands[i].words[n] != ' ')))
            continue;
        if (shown++ == 0)
            fprintf(out, "\nShorthands:\n\n");
        command_words(op, NULL, target, sizeof(target));
        snprintf(summary, sizeof(summary), "= colibri %s", target);
        command_line(out, op, &cli_shorthands[i], summary);
    }
}

void
cli_help_overview(FILE *out)
{
    size_t i;

    fprintf(out,
            "usage: colibri [--socket PATH | --url URL [--token-file FILE]]"
            " [--json]\n"
            "               NOUN VERB [ARGS...]\n\n"
            "Commands, one per operation of the daemon (\"colibri NOUN "
            "--help\" shows their\narguments, \"colibri NOUN VERB --help\" "
            "one command's):\n\n");
    fprintf(out, "  %-*s", HELP_COMMAND - 2, "status");
    wrap(out, "One-screen overview: the daemon, tasks by status",
         HELP_COMMAND, HELP_COMMAND);
    fprintf(out, "  %-*s", HELP_COMMAND - 2, "events [--types T,U.*]");
    wrap(out, "Follow the events, one line each ([--agent ID] [--since "
         "EVENT_ID]); resumes after a reconnect; Ctrl-C stops",
         HELP_COMMAND, HELP_COMMAND);
    fprintf(out, "  %-*s", HELP_COMMAND - 2, "ingest --agent ID");
    wrap(out, "Forward pi JSON lines from stdin to the agent's glasspane "
         "([--batch N]): pi --mode json ... | colibri ingest --agent ID",
         HELP_COMMAND, HELP_COMMAND);
    fprintf(out, "  %-*s", HELP_COMMAND - 2, "inventory [--report]");
    wrap(out, "This host's runtime manifest as JSON (OS, CPUs, memory, "
         "disk, runtimes on PATH, jails), computed here; --report sends it "
         "to the daemon (host.report)", HELP_COMMAND, HELP_COMMAND);
    /* By noun, the nouns in the order the table first names them. */
    for (i = 0; i < ops_count; i++) {
        const char *dot = strchr(ops_table[i].name, '.');
        size_t n = (size_t)(dot - ops_table[i].name), j;

        for (j = 0; j < i; j++)
            if (!strncmp(ops_table[j].name, ops_table[i].name, n + 1))
                break;
        if (j < i)
            continue;           /* this noun was listed already */
        for (j = i; j < ops_count; j++)
            if (!strncmp(ops_table[j].name, ops_table[i].name, n + 1))
                command_line(out, &ops_table[j], NULL,
                             ops_table[j].summary);
    }
    shorthand_lines(out, NULL);
    fprintf(out,
            "\nOptions (before the command):\n"
            "  --socket PATH        the daemon's Unix socket (default: the "
            "path colibrid\n"
            "                       uses when started the same way) "
            "[COLIBRI_SOCKET]\n"
            "  --url URL            use HTTP(S) at URL instead of the "
            "socket [COLIBRI_URL]\n"
            "  --token-file FILE    the API token for --url (default "
            "COLIBRI_TOKEN, then\n"
            "                       DATA_DIR/token) [COLIBRI_DATA_DIR]\n"
            "  --cacert FILE        CA certificates for an https:// URL "
            "[COLIBRI_CACERT]\n"
            "  --json               print the answer as JSON (also after "
            "the command)\n"
            "  -h, --help           this help;  -V, --version   the "
            "version\n\n"
            "Arguments: positional words fill the {path} arguments; "
            "--NAME VALUE or\n--NAME=VALUE any argument (dashes or "
            "underscores); --data JSON or - (stdin)\na whole JSON object "
            "of arguments.\n\n"
            "Exit status: 0 ok, 1 error, 2 usage or invalid arguments, 3 "
            "not found,\n4 conflict, 5 refused, 6 daemon unreachable.  "
            "See colibri(1).\n");
}

void
cli_help_stream_command(FILE *out, const char *name)
{
    if (!strcmp(name, "ingest")) {
        fprintf(out,
                "usage: pi --mode json ... | colibri ingest --agent ID "
                "[--batch N] [--json]\n\n"
                "  Reads pi's JSON lines from standard input and feeds "
                "them to the agent's\n"
                "  glasspane (operation agent.events) in batches: every N "
                "lines (default 200),\n"
                "  at least every 200 ms while lines come, and at end of "
                "input.  Rejected\n"
                "  lines are reported by line number on standard error, "
                "then a summary\n"
                "  with the agent's state (--json: the summary as JSON on "
                "standard output).\n\n"
                "  Exit status: 0 every line accepted, 1 some rejected, "
                "3 unknown agent,\n"
                "  6 daemon unreachable.\n");
        return;
    }
    fprintf(out,
            "usage: colibri events [--types T,U.*] [--agent ID] [--since "
            "EVENT_ID] [--json]\n\n"
            "  Follows the event stream, one line per event (time, type, "
            "subject, agent,\n"
            "  summary; --json: the event's JSON line).  Over the socket "
            "it uses\n"
            "  events.subscribe, with --url the SSE stream GET "
            "/api/v1/events.  --since\n"
            "  resumes after an event id (replayed from the store); a "
            "connection that\n"
            "  drops is made again after the last event seen.  Ctrl-C "
            "stops (exit 0).\n\n");
    cli_help_noun(out, "events");
}

int
cli_help_noun(FILE *out, const char *noun)
{
    size_t i, n = strlen(noun);
    int found = 0;

    for (i = 0; i < ops_count; i++) {
        if (strncmp(ops_table[i].name, noun, n) ||
            ops_table[i].name[n] != '.')
            continue;
        if (found++)
            fputc('\n', out);
        cli_help_op(out, &ops_table[i], NULL);
    }
    if (!found) {
        fprintf(out, "colibri: no commands for '%s' (colibri help lists "
                "them)\n", noun);
        return -1;
    }
    shorthand_lines(out, noun);
    return 0;
}
