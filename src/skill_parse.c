/*
 * skill_parse.c - SKILL.md front matter and body (see skill_parse.h).
 *
 * The delimiter lines are found by hand (they are not YAML); what lies
 * between them goes to libyaml's document loader, and the resulting node
 * tree is checked against the format.  Every problem found is appended
 * to the reasons, so one look at an invalid skill says everything that
 * is wrong with it, not only the first thing.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "skill_parse.h"
#include "util.h"

/* Front matter starts on the second line of the file. */
#define FRONT_MATTER_FIRST_LINE 2

static void add_reason(struct skill_meta *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int is_delimiter(const char *line, size_t len);
static char *copy_lf(const char *s, size_t len);
static void load_yaml(const char *text, size_t len, struct skill_meta *m);
static void read_mapping(yaml_document_t *doc, yaml_node_t *root,
                         struct skill_meta *m);
static void check_fields(struct skill_meta *m, const char *folder);

static const char *const known_keys[] = {
    "name", "description", "license", "compatibility", "metadata",
    "allowed-tools", NULL
};

/* Appends a reason; one that quotes bytes that are not UTF-8 (a folder
 * name), or that was cut inside a character, is made printable. */
static void
add_reason(struct skill_meta *m, const char *fmt, ...)
{
    char text[512], *shown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    shown = util_utf8_printable(text);
    json_array_append_new(m->reasons, json_string(shown));
    free(shown);
}

int
skill_name_check(const char *name, char *why, size_t whylen)
{
    const char *reason = NULL;
    size_t len = strlen(name), i;

    if (len == 0)
        reason = "is empty";
    for (i = 0; reason == NULL && i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            reason = "may contain only lower-case letters a-z, digits and "
                     "hyphens";
    }
    if (reason == NULL && len > SKILL_NAME_MAX)
        reason = "is longer than 64 characters";
    if (reason == NULL && (name[0] == '-' || name[len - 1] == '-'))
        reason = "must not begin or end with a hyphen";
    if (reason == NULL && strstr(name, "--") != NULL)
        reason = "must not contain two hyphens in a row";
    if (reason == NULL)
        return 0;
    if (why != NULL)
        snprintf(why, whylen, "%s", reason);
    return -1;
}

/* A "---" line, blanks and a CR allowed after it. */
static int
is_delimiter(const char *line, size_t len)
{
    while (len > 3 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
        len--;
    return len == 3 && memcmp(line, "---", 3) == 0;
}

/* A copy of s with every CRLF turned into LF. */
static char *
copy_lf(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
            continue;
        out[n++] = s[i];
    }
    out[n] = '\0';
    return out;
}

/* True for a plain scalar YAML reads as null: "", "~", "null". */
static int
is_null(const yaml_node_t *node)
{
    const char *v = (const char *)node->data.scalar.value;

    if (node->tag != NULL && !strcmp((const char *)node->tag,
                                     YAML_NULL_TAG))
        return 1;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
           !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *
node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "a string";
    }
}

/*
 * The string value of a scalar node: new, or NULL with a reason (not a
 * scalar, or a NUL inside).  *null is set for a null scalar.
 */
static char *
scalar_value(const yaml_node_t *node, const char *what, int *null,
             struct skill_meta *m)
{
    *null = 0;
    if (node->type != YAML_SCALAR_NODE) {
        add_reason(m, "%s must be a string, not %s", what, node_kind(node));
        return NULL;
    }
    if (is_null(node)) {
        *null = 1;
        return NULL;
    }
    if (memchr(node->data.scalar.value, '\0', node->data.scalar.length)) {
        add_reason(m, "%s contains a NUL character", what);
        return NULL;
    }
    return xstrndup((const char *)node->data.scalar.value,
                    node->data.scalar.length);
}

static void
read_metadata(yaml_document_t *doc, yaml_node_t *node, struct skill_meta *m)
{
    yaml_node_pair_t *pair;

    if (node->type == YAML_SCALAR_NODE && is_null(node))
        return;
    if (node->type != YAML_MAPPING_NODE) {
        add_reason(m, "metadata must be a mapping of strings to strings, "
                   "not %s", node_kind(node));
        return;
    }
    m->metadata = json_object();
    for (pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(doc, pair->value);
        char *key, *value, what[128];
        int null;

        key = scalar_value(k, "a metadata key", &null, m);
        if (key == NULL) {
            if (null)
                add_reason(m, "a metadata key is null");
            continue;
        }
        snprintf(what, sizeof(what), "metadata '%.64s'", key);
        value = scalar_value(v, what, &null, m);
        if (null)
            add_reason(m, "%s must be a string, not null", what);
        if (json_object_get(m->metadata, key) != NULL)
            add_reason(m, "%s appears twice", what);
        else if (value != NULL)
            json_object_set_new(m->metadata, key, json_string(value));
        free(key);
        free(value);
    }
}

/* Reads the top-level mapping into m's fields. */
static void
read_mapping(yaml_document_t *doc, yaml_node_t *root, struct skill_meta *m)
{
    yaml_node_pair_t *pair;
    json_t *seen = json_object();

    for (pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *k = yaml_document_get_node(doc, pair->key);
        yaml_node_t *v = yaml_document_get_node(doc, pair->value);
        char **slot = NULL;
        char *key, what[96];
        int null, i, known = 0;

        key = scalar_value(k, "a front-matter key", &null, m);
        if (key == NULL) {
            if (null)
                add_reason(m, "a front-matter key is null");
            continue;
        }
        for (i = 0; known_keys[i] != NULL; i++)
            if (!strcmp(known_keys[i], key))
                known = 1;
        if (!known) {
            add_reason(m, "unknown field '%.64s': the front matter may "
                       "have only name, description, license, "
                       "compatibility, metadata and allowed-tools", key);
            free(key);
            continue;
        }
        if (json_object_get(seen, key) != NULL) {
            add_reason(m, "'%s' appears twice", key);
            free(key);
            continue;
        }
        json_object_set_new(seen, key, json_true());
        if (!strcmp(key, "metadata")) {
            read_metadata(doc, v, m);
            free(key);
            continue;
        }
        if (!strcmp(key, "name"))
            slot = &m->name;
        else if (!strcmp(key, "description"))
            slot = &m->description;
        else if (!strcmp(key, "license"))
            slot = &m->license;
        else if (!strcmp(key, "compatibility"))
            slot = &m->compatibility;
        else
            slot = &m->allowed_tools;
        snprintf(what, sizeof(what), "%s", key);
        *slot = scalar_value(v, what, &null, m);
        free(key);
    }
    json_decref(seen);
}

static void
yaml_reason(struct skill_meta *m, const yaml_parser_t *p)
{
    if (p->problem == NULL) {
        add_reason(m, "the front matter is not valid YAML");
        return;
    }
    add_reason(m, "the front matter is not valid YAML: %s%s%s at line "
               "%zu, column %zu", p->context ? p->context : "",
               p->context ? ", " : "", p->problem,
               (size_t)p->problem_mark.line + FRONT_MATTER_FIRST_LINE,
               (size_t)p->problem_mark.column + 1);
}

/* Loads the front matter (one YAML document, a mapping) into m. */
static void
load_yaml(const char *text, size_t len, struct skill_meta *m)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;

    if (!yaml_parser_initialize(&parser)) {
        add_reason(m, "out of memory reading the front matter");
        return;
    }
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_reason(m, &parser);
        yaml_parser_delete(&parser);
        return;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type != YAML_MAPPING_NODE &&
        !(root->type == YAML_SCALAR_NODE && is_null(root)))
        add_reason(m, "the front matter must be a mapping of fields "
                   "('name: value' lines), not %s", node_kind(root));
    else if (root != NULL && root->type == YAML_MAPPING_NODE)
        read_mapping(&doc, root, m);
    yaml_document_delete(&doc);
    /* A second document ("...", then more YAML) is not front matter. */
    if (root != NULL) {
        if (!yaml_parser_load(&parser, &doc)) {
            yaml_reason(m, &parser);
        } else {
            if (yaml_document_get_root_node(&doc) != NULL)
                add_reason(m, "the front matter holds more than one YAML "
                           "document");
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
}

static void
check_fields(struct skill_meta *m, const char *folder)
{
    char why[128];
    size_t n;

    if (m->name == NULL) {
        add_reason(m, "name is required");
    } else {
        if (skill_name_check(m->name, why, sizeof(why)) < 0)
            add_reason(m, "name '%.80s' %s", m->name, why);
        if (folder != NULL && strcmp(m->name, folder) != 0)
            add_reason(m, "name '%.80s' is not the folder's name '%.80s'",
                       m->name, folder);
    }
    if (m->description == NULL) {
        add_reason(m, "description is required");
    } else {
        n = util_utf8_chars(m->description, strlen(m->description));
        if (strspn(m->description, " \t\r\n") == strlen(m->description))
            add_reason(m, "description is empty");
        else if (n > SKILL_DESCRIPTION_MAX)
            add_reason(m, "description has %zu characters; at most %d are "
                       "allowed", n, SKILL_DESCRIPTION_MAX);
    }
    if (m->compatibility != NULL) {
        n = util_utf8_chars(m->compatibility, strlen(m->compatibility));
        if (n == 0 || n > SKILL_COMPATIBILITY_MAX)
            add_reason(m, "compatibility has %zu characters; it must have "
                       "1 to %d", n, SKILL_COMPATIBILITY_MAX);
    }
}

int
skill_parse(const char *text, size_t len, const char *folder,
            struct skill_meta *out)
{
    const char *end, *eol, *p, *fm, *body = NULL;
    size_t fm_len = 0;

    memset(out, 0, sizeof(*out));
    out->reasons = json_array();
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (memchr(text, '\0', len) != NULL) {
        add_reason(out, "SKILL.md contains a NUL byte");
        goto out;
    }
    if (!util_utf8_valid(text, len)) {
        add_reason(out, "SKILL.md is not valid UTF-8");
        goto out;
    }
    end = text + len;
    eol = memchr(text, '\n', len);
    if (!is_delimiter(text, eol ? (size_t)(eol - text) : len)) {
        add_reason(out, "SKILL.md has no front matter: its first line "
                   "must be '---'");
        out->body = copy_lf(text, len);
        goto out;
    }
    fm = eol ? eol + 1 : end;
    for (p = fm; eol != NULL && p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (is_delimiter(p, eol ? (size_t)(eol - p) : (size_t)(end - p))) {
            fm_len = (size_t)(p - fm);
            body = eol ? eol + 1 : end;
            break;
        }
    }
    if (body == NULL) {
        add_reason(out, "the front matter is not terminated: no closing "
                   "'---' line");
        goto out;
    }
    load_yaml(fm, fm_len, out);
    out->body = copy_lf(body, (size_t)(end - body));
    check_fields(out, folder);
out:
    return json_array_size(out->reasons) == 0 ? 0 : -1;
}

json_t *
skill_front_matter(const struct skill_meta *m)
{
    json_t *doc = json_object();

    if (m->name != NULL)
        json_object_set_new(doc, "name", json_string(m->name));
    if (m->description != NULL)
        json_object_set_new(doc, "description",
                            json_string(m->description));
    if (m->license != NULL)
        json_object_set_new(doc, "license", json_string(m->license));
    if (m->compatibility != NULL)
        json_object_set_new(doc, "compatibility",
                            json_string(m->compatibility));
    if (m->metadata != NULL)
        json_object_set(doc, "metadata", m->metadata);
    if (m->allowed_tools != NULL)
        json_object_set_new(doc, "allowed-tools",
                            json_string(m->allowed_tools));
    return doc;
}

void
skill_meta_free(struct skill_meta *m)
{
    free(m->name);
    free(m->description);
    free(m->license);
    free(m->compatibility);
    free(m->allowed_tools);
    json_decref(m->metadata);
    free(m->body);
    json_decref(m->reasons);
    memset(m, 0, sizeof(*m));
}

