/*
 * cli_format.c - colibri's output for people and for scripts.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_format.h"
#include "limits.h"
#include "util.h"

#define MAX_COLUMNS     8
#define CELL_MAX        32      /* characters of a generic table cell */

struct column {
    const char *title;
    const char *key;            /* member; "a.b" looks into an object */
    size_t max;                 /* characters; 0 = no limit */
};

static const struct column task_columns[] = {
    {"ID", "id", 0},
    {"STATUS", "status", 0},
    {"PRI", "priority", 0},
    {"TITLE", "title", 40},
    {"ASSIGNEE", "assignee", 20},
    {"LEASE", "lease.expires_at", 0},
};

size_t
cli_text_width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Cuts s (new) to at most max characters, ending in "..." when cut. */
static char *
truncated(char *s, size_t max)
{
    size_t chars = 0, i;

    if (max == 0 || cli_text_width(s) <= max)
        return s;
    for (i = 0; s[i] != '\0'; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max - 3)
            break;
    }
    s[i] = '\0';
    s = xrealloc(s, i + 4);
    memcpy(s + i, "...", 4);
    return s;
}

/* One value as a person reads it (new string). */
static char *
value_text(const json_t *v)
{
    const json_t *holder, *until;

    switch (json_typeof(v)) {
    case JSON_NULL:
        return xstrdup("-");
    case JSON_STRING:
        return xstrdup(json_string_value(v));
    case JSON_TRUE:
        return xstrdup("yes");
    case JSON_FALSE:
        return xstrdup("no");
    case JSON_INTEGER:
        return xasprintf("%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return xasprintf("%g", json_real_value(v));
    case JSON_ARRAY: {
        struct buf b;
        size_t i;

        if (json_array_size(v) == 0)
            return xstrdup("-");
        for (i = 0; i < json_array_size(v); i++)
            if (json_is_object(json_array_get(v, i)) ||
                json_is_array(json_array_get(v, i)))
                return json_dumps(v, JSON_COMPACT);
        buf_init(&b, LIMIT_CLI_RESPONSE);
        for (i = 0; i < json_array_size(v); i++) {
            char *item = value_text(json_array_get(v, i));

            buf_printf(&b, "%s%s", i ? ", " : "", item);
            free(item);
        }
        return b.data ? b.data : xstrdup("");
    }
    case JSON_OBJECT:
        holder = json_object_get(v, "holder");
        until = json_object_get(v, "expires_at");
        if (json_is_string(holder) && json_is_string(until))
            return xasprintf("%s until %s", json_string_value(holder),
                             json_string_value(until));
        return json_dumps(v, JSON_COMPACT);
    }
    return xstrdup("?");
}

/* A table cell: one line, at most max characters. */
static char *
cell_text(const json_t *item, const struct column *c)
{
    const char *dot = strchr(c->key, '.');
    const json_t *v;
    char *s, *p;

    if (dot != NULL) {
        char outer[64];

        snprintf(outer, sizeof(outer), "%.*s", (int)(dot - c->key), c->key);
        v = json_object_get(json_object_get(item, outer), dot + 1);
    } else {
        v = json_object_get(item, c->key);
    }
    s = value_text(v != NULL ? v : json_null());
    for (p = s; *p != '\0'; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    return truncated(s, c->max);
}

static void
print_table(FILE *out, const json_t *items, const struct column *cols,
            size_t ncols)
{
    size_t nrows = json_array_size(items), r, c;
    size_t width[MAX_COLUMNS];
    char **cells = xcalloc(nrows * ncols + 1, sizeof(*cells));

    for (c = 0; c < ncols; c++)
        width[c] = cli_text_width(cols[c].title);
    for (r = 0; r < nrows; r++) {
        for (c = 0; c < ncols; c++) {
            char *s = cell_text(json_array_get(items, r), &cols[c]);
            size_t w = cli_text_width(s);

            cells[r * ncols + c] = s;
            if (w > width[c])
                width[c] = w;
        }
    }
    for (r = 0; r <= nrows; r++) {
        for (c = 0; c < ncols; c++) {
            const char *s = r == 0 ? cols[c].title
                                   : cells[(r - 1) * ncols + c];

            if (c + 1 == ncols)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%s%*s", s,
                        (int)(width[c] - cli_text_width(s) + 2), "");
        }
    }
    for (r = 0; r < nrows * ncols; r++)
        free(cells[r]);
    free(cells);
}

/* The noun of an operation's name ("task" of "task.list"). */
static void
op_noun(const struct op *op, char *out, size_t outlen)
{
    const char *dot = op ? strchr(op->name, '.') : NULL;

    if (dot == NULL)
        snprintf(out, outlen, "item");
    else
        snprintf(out, outlen, "%.*s", (int)(dot - op->name), op->name);
}

static void
print_list(FILE *out, const struct op *op, json_t *page)
{
    json_t *items = json_object_get(page, "items");
    json_t *first = json_array_get(items, 0);
    json_t *next = json_object_get(page, "next");
    struct column cols[MAX_COLUMNS];
    char noun[64];
    size_t n = json_array_size(items), ncols = 0;

    op_noun(op, noun, sizeof(noun));
    if (n == 0) {
        fprintf(out, "no %ss\n", noun);
        return;
    }
    if (json_is_object(first) && json_object_get(first, "title") &&
        json_object_get(first, "status") &&
        json_object_get(first, "priority")) {
        print_table(out, items, task_columns,
                    sizeof(task_columns) / sizeof(task_columns[0]));
    } else if (json_is_object(first)) {
        const char *key;
        json_t *v;
        static char titles[MAX_COLUMNS][64];

        /* Any other list: the scalar members of its first item. */
        json_object_foreach(first, key, v) {
            size_t i;

            if (json_is_object(v) || json_is_array(v) ||
                ncols == MAX_COLUMNS)
                continue;
            for (i = 0; key[i] != '\0' && i + 1 < sizeof(titles[0]); i++)
                titles[ncols][i] = (char)(key[i] >= 'a' && key[i] <= 'z'
                                          ? key[i] - 'a' + 'A' : key[i]);
            titles[ncols][i] = '\0';
            cols[ncols].title = titles[ncols];
            cols[ncols].key = key;
            cols[ncols].max = CELL_MAX;
            ncols++;
        }
        if (ncols > 0)
            print_table(out, items, cols, ncols);
    } else {
        size_t i;

        for (i = 0; i < n; i++) {
            char *s = value_text(json_array_get(items, i));

            fprintf(out, "%s\n", s);
            free(s);
        }
    }
    fprintf(out, "%zu %s%s", n, noun, n == 1 ? "" : "s");
    if (json_is_string(next))
        fprintf(out, " (more: --after %s)", json_string_value(next));
    fputc('\n', out);
}

/* "key: value" lines; strings of several lines come last, indented. */
static void
print_object(FILE *out, json_t *obj, const char *skip)
{
    const char *key;
    json_t *v;
    size_t width = 0;
    int blocks = 0;

    json_object_foreach(obj, key, v) {
        if (skip != NULL && !strcmp(key, skip))
            continue;
        if (strlen(key) > width)
            width = strlen(key);
    }
    json_object_foreach(obj, key, v) {
        char *s;

        if (skip != NULL && !strcmp(key, skip))
            continue;
        if (json_is_string(v) && (strchr(json_string_value(v), '\n') ||
                                  !strcmp(key, "body"))) {
            blocks = 1;
            continue;
        }
        s = value_text(v);
        fprintf(out, "%s:%*s %s\n", key, (int)(width - strlen(key)), "",
                s);
        free(s);
    }
    if (!blocks)
        return;
    json_object_foreach(obj, key, v) {
        const char *p;

        if ((skip != NULL && !strcmp(key, skip)) || !json_is_string(v) ||
            (!strchr(json_string_value(v), '\n') && strcmp(key, "body")))
            continue;
        p = json_string_value(v);
        if (*p == '\0')
            continue;
        fprintf(out, "%s:\n", key);
        while (*p != '\0') {
            size_t len = strcspn(p, "\n");

            fprintf(out, "  %.*s\n", (int)len, p);
            p += len;
            if (*p == '\n')
                p++;
        }
    }
}

void
cli_format_json(FILE *out, const json_t *result)
{
    char *text = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);

    fprintf(out, "%s\n", text ? text : "null");
    free(text);
}

void
cli_format_result(FILE *out, const struct op *op, json_t *result)
{
    json_t *text = json_object_get(result, "text");
    json_t *task = json_object_get(result, "task");

    if (result == NULL || json_is_null(result))
        return;
    if (!json_is_object(result)) {
        char *s = value_text(result);

        fprintf(out, "%s\n", s);
        free(s);
        return;
    }
    if (json_is_string(text) && json_object_size(result) == 1) {
        const char *t = json_string_value(text);
        size_t len = strlen(t);

        fputs(t, out);
        if (len > 0 && t[len - 1] != '\n')
            fputc('\n', out);
        return;
    }
    if (json_is_array(json_object_get(result, "items"))) {
        print_list(out, op, result);
        return;
    }
    if (json_is_object(task)) {
        /* A claim: {"outcome": "claimed", "task": {...}}. */
        print_object(out, result, "task");
        print_object(out, task, NULL);
        return;
    }
    print_object(out, result, NULL);
}

static void
print_uptime(FILE *out, long long s)
{
    if (s < 60)
        fprintf(out, "%llds", s);
    else if (s < 3600)
        fprintf(out, "%lldm %02llds", s / 60, s % 60);
    else if (s < 86400)
        fprintf(out, "%lldh %02lldm", s / 3600, s % 3600 / 60);
    else
        fprintf(out, "%lldd %02lldh", s / 86400, s % 86400 / 3600);
}

/*
 * daemon    ok, colibrid 0.1.0, pid 4242, up 3m 05s
 * http      http://127.0.0.1:7700
 * socket    /run/user/1000/colibri/colibri.sock
 * schema    3
 *
 * tasks     5
 *   todo           2
 *   ...
 * Every member but "daemon" is a section {"total": n, "by_x": {...}}.
 */
void
cli_format_status(FILE *out, json_t *status)
{
    json_t *d = json_object_get(status, "daemon");
    const char *key, *sub;
    json_t *section, *v;

    const char *state = json_string_value(json_object_get(d, "status"));
    const char *version = json_string_value(json_object_get(d, "version"));

    fprintf(out, "%-9s %s, colibrid %s, pid %lld, up ", "daemon",
            state ? state : "?", version ? version : "?",
            (long long)json_integer_value(json_object_get(d, "pid")));
    print_uptime(out, (long long)json_integer_value(
                          json_object_get(d, "uptime_seconds")));
    fputc('\n', out);
    if (json_is_string(json_object_get(d, "listen")))
        fprintf(out, "%-9s %s://%s\n", "http",
                json_is_true(json_object_get(d, "tls")) ? "https" : "http",
                json_string_value(json_object_get(d, "listen")));
    if (json_is_string(json_object_get(d, "socket")))
        fprintf(out, "%-9s %s\n", "socket",
                json_string_value(json_object_get(d, "socket")));
    fprintf(out, "%-9s %lld\n", "schema",
            (long long)json_integer_value(json_object_get(
                d, "schema_version")));
    json_object_foreach(status, key, section) {
        if (!strcmp(key, "daemon") || !json_is_object(section))
            continue;
        fputc('\n', out);
        fprintf(out, "%-9s %lld\n", key, (long long)json_integer_value(
                                             json_object_get(section,
                                                             "total")));
        json_object_foreach(section, sub, v) {
            const char *name;
            json_t *count;

            if (strncmp(sub, "by_", 3) != 0 || !json_is_object(v))
                continue;
            json_object_foreach(v, name, count) {
                char *s = value_text(count);

                fprintf(out, "  %-13s %s\n", name, s);
                free(s);
            }
        }
    }
}
