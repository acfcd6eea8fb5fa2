/*
 * prompt.c - three-region prompt assembly (see prompt.h and
 * docs/internals/prompt.md).
 *
 * Determinism is the whole point, so the rules are mechanical: every list
 * is sorted with a bytewise total order before it is written; numbers are
 * written by fmt_int() (no printf, no locale); single-line fields (names,
 * titles, descriptions) have their control characters turned into
 * spaces, so a stray newline cannot shift a line; every block ends with
 * exactly one newline.
 */
#include "autoconf.h"

#include "prompt.h"

#include <stdlib.h>
#include <string.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "ops.h"
#include "util.h"

/* Part of inputs_sha256: a change of the layout below is an explained
 * change of region 1, not drift.  Bump it with any change to the text
 * this file writes. */
#define PROMPT_FORMAT "colibri-prompt-v1"

/* A growing byte string (no cap: the inputs are capped where they come
 * from). */
struct sb {
    char *data;
    size_t len, size;
};

static void
sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->size) {
        size_t size = b->size ? b->size : 256;

        while (b->len + n + 1 > size)
            size *= 2;
        b->data = xrealloc(b->data, size);
        b->size = size;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
sb_str(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Appends s with every control byte (< 0x20, 0x7f) as a space: for
 * fields that must stay on one line.  UTF-8 stays valid (only ASCII
 * bytes are replaced). */
static void
sb_line(struct sb *b, const char *s)
{
    size_t i, start = 0, n;

    if (s == NULL)
        return;
    n = strlen(s);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x20 || ch == 0x7f) {
            sb_add(b, s + start, i - start);
            sb_add(b, " ", 1);
            start = i + 1;
        }
    }
    sb_add(b, s + start, n - start);
}

/* Appends a block of text so that it ends with exactly one newline
 * (trailing newlines dropped, one added); an empty block adds nothing. */
static void
sb_block(struct sb *b, const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0)
        return;
    sb_add(b, s, n);
    sb_add(b, "\n", 1);
}

/* Decimal digits of v, by hand: printf would consult the locale. */
static void
sb_int(struct sb *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        tmp[--i] = '-';
    sb_add(b, tmp + i, sizeof(tmp) - i);
}

static void
to_hex(const unsigned char md[32], char hex[PROMPT_SHA256_HEX])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

void
prompt_sha256_hex(const void *data, size_t len, char hex[PROMPT_SHA256_HEX])
{
    unsigned char md[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, md) < 0)
        abort();                /* SHA-256 is always there: a broken
                                 * library is a broken invariant */
    to_hex(md, hex);
}

static int
cmp_skill(const void *a, const void *b)
{
    const struct prompt_skill *x = *(const struct prompt_skill *const *)a;
    const struct prompt_skill *y = *(const struct prompt_skill *const *)b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

    if (c != 0)
        return c;
    return strcmp(x->description ? x->description : "",
                  y->description ? y->description : "");
}

static int
cmp_dep(const void *a, const void *b)
{
    const struct prompt_dep *x = *(const struct prompt_dep *const *)a;
    const struct prompt_dep *y = *(const struct prompt_dep *const *)b;

    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return strcmp(x->title ? x->title : "", y->title ? y->title : "");
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Region 1: system prompt, tool notes, skills index.  *sorted (new)
 * gets the skills sorted by name, for inputs_hash(). */
static void
build_region1(const struct prompt_input *in, struct sb *b,
              const struct prompt_skill ***sorted)
{
    const struct prompt_skill **v;
    size_t i;

    sb_block(b, in->system ? in->system : "", in->system ? in->system_len
                                                          : 0);
    sb_str(b, "\n## Tools\n\n");
    if (in->tool_notes_len > 0)
        sb_block(b, in->tool_notes, in->tool_notes_len);
    else
        sb_str(b, "(none)\n");
    sb_str(b, "\n## Skills\n\n");
    v = xcalloc(in->nskills + 1, sizeof(*v));
    *sorted = v;
    if (in->nskills == 0) {
        sb_str(b, "(none)\n");
        return;
    }
    for (i = 0; i < in->nskills; i++)
        v[i] = &in->skills[i];
    qsort(v, in->nskills, sizeof(*v), cmp_skill);
    for (i = 0; i < in->nskills; i++) {
        sb_str(b, "- ");
        sb_line(b, v[i]->name);
        sb_str(b, ": ");
        sb_line(b, v[i]->description);
        sb_str(b, "\n");
    }
}

/* Region 2: the task, its dependencies (id and title: never the status,
 * which changes while the session runs) and the skills it requires. */
static void
build_region2(const struct prompt_task *t, struct sb *b)
{
    size_t i;

    if (t == NULL)
        return;
    sb_str(b, "\n## Task ");
    sb_int(b, t->id);
    sb_str(b, ": ");
    sb_line(b, t->title);
    sb_str(b, "\n");
    if (t->body != NULL && t->body[0] != '\0') {
        sb_str(b, "\n");
        sb_block(b, t->body, strlen(t->body));
    }
    if (t->ndeps > 0) {
        const struct prompt_dep **v = xcalloc(t->ndeps, sizeof(*v));

        for (i = 0; i < t->ndeps; i++)
            v[i] = &t->deps[i];
        qsort(v, t->ndeps, sizeof(*v), cmp_dep);
        sb_str(b, "\n### Depends on\n\n");
        for (i = 0; i < t->ndeps; i++) {
            if (i > 0 && v[i]->id == v[i - 1]->id)
                continue;
            sb_str(b, "- ");
            sb_int(b, v[i]->id);
            sb_str(b, ": ");
            sb_line(b, v[i]->title);
            sb_str(b, "\n");
        }
        free(v);
    }
    if (t->nskills > 0) {
        const char **v = xcalloc(t->nskills, sizeof(*v));

        for (i = 0; i < t->nskills; i++)
            v[i] = t->skills[i] ? t->skills[i] : "";
        qsort(v, t->nskills, sizeof(*v), cmp_str);
        sb_str(b, "\n### Required skills\n\n");
        for (i = 0; i < t->nskills; i++) {
            if (i > 0 && strcmp(v[i], v[i - 1]) == 0)
                continue;
            sb_str(b, "- ");
            sb_line(b, v[i]);
            sb_str(b, "\n");
        }
        free(v);
    }
}

/*
 * The hash of region 1's inputs, raw and apart from how region 1 lays
 * them out: the format name, the hash of the system prompt, of the tool
 * notes, then each skill (sorted by name) as "name\0description\0".
 */
static void
inputs_hash(const struct prompt_input *in,
            const struct prompt_skill *const *sorted,
            char hex[PROMPT_SHA256_HEX])
{
    gnutls_hash_hd_t h;
    unsigned char md[32];
    size_t i;

    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        abort();
    gnutls_hash(h, PROMPT_FORMAT, sizeof(PROMPT_FORMAT));
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in->system ? in->system : "",
                     in->system ? in->system_len : 0, md);
    gnutls_hash(h, md, 32);
    gnutls_hash_fast(GNUTLS_DIG_SHA256,
                     in->tool_notes ? in->tool_notes : "",
                     in->tool_notes ? in->tool_notes_len : 0, md);
    gnutls_hash(h, md, 32);
    for (i = 0; i < in->nskills; i++) {
        const char *n = sorted[i]->name ? sorted[i]->name : "";
        const char *d = sorted[i]->description ? sorted[i]->description
                                               : "";

        gnutls_hash(h, n, strlen(n) + 1);
        gnutls_hash(h, d, strlen(d) + 1);
    }
    gnutls_hash_deinit(h, md);
    to_hex(md, hex);
}

/*
 * One pass over the bytes for the hash of region 1 and of regions 1 + 2:
 * the running hash is copied after region 1 (gnutls_hash_copy; where the
 * library cannot copy, region 1 is hashed twice).
 */
static void
prefix_hashes(const char *data, size_t len1, size_t len,
              struct prompt_out *out)
{
    gnutls_hash_hd_t h, copy;
    unsigned char md[32];

    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        abort();
    gnutls_hash(h, data, len1);
    copy = gnutls_hash_copy(h);
    if (copy != NULL) {
        gnutls_hash_deinit(copy, md);
        to_hex(md, out->region1_sha256);
    } else {
        prompt_sha256_hex(data, len1, out->region1_sha256);
    }
    gnutls_hash(h, data + len1, len - len1);
    gnutls_hash_deinit(h, md);
    to_hex(md, out->prefix_sha256);
    prompt_sha256_hex(data + len1, len - len1, out->region2_sha256);
}

void
prompt_assemble(const struct prompt_input *in, struct prompt_out *out)
{
    const struct prompt_skill **sorted = NULL;
    struct sb b = {0};

    memset(out, 0, sizeof(*out));
    build_region1(in, &b, &sorted);
    out->region1_len = b.len;
    build_region2(in->task, &b);
    out->region2_len = b.len - out->region1_len;
    prefix_hashes(b.data, out->region1_len, b.len, out);
    out->region2 = xstrndup(b.data + out->region1_len, out->region2_len);
    b.data[out->region1_len] = '\0';
    out->region1 = b.data;
    inputs_hash(in, sorted, out->inputs_sha256);
    free(sorted);
}

void
prompt_out_free(struct prompt_out *out)
{
    if (out == NULL)
        return;
    free(out->region1);
    free(out->region2);
    memset(out, 0, sizeof(*out));
}

int
prompt_check_tail(const json_t *tail, size_t max, char *reason,
                  size_t reasonlen)
{
    static const char *const roles[] = {"user", "assistant", "tool", NULL};
    size_t i;
    json_t *m;

    if (tail == NULL || json_is_null(tail))
        return 0;
    if (!json_is_array(tail)) {
        snprintf(reason, reasonlen, "'tail' must be an array of "
                 "{role, content} messages");
        return -1;
    }
    if (json_array_size(tail) > max) {
        snprintf(reason, reasonlen, "'tail' has more than %zu messages",
                 max);
        return -1;
    }
    json_array_foreach(tail, i, m) {
        json_t *role = json_object_get(m, "role");
        json_t *content = json_object_get(m, "content");
        int k, ok = 0;

        if (!json_is_object(m) || json_object_size(m) != 2 ||
            !json_is_string(role) || !json_is_string(content)) {
            snprintf(reason, reasonlen, "tail[%zu] must be {\"role\": ..., "
                     "\"content\": \"...\"} and nothing else", i);
            return -1;
        }
        for (k = 0; roles[k] != NULL; k++)
            if (strcmp(json_string_value(role), roles[k]) == 0)
                ok = 1;
        if (!ok) {
            snprintf(reason, reasonlen, "tail[%zu].role must be user, "
                     "assistant or tool (regions 1 and 2 are the system "
                     "message)", i);
            return -1;
        }
    }
    return 0;
}

json_t *
prompt_to_json(const struct prompt_out *out, const json_t *tail)
{
    json_t *messages = json_array(), *regions, *tailcopy;
    size_t i, len = out->region1_len + out->region2_len;
    char *system = xmalloc(len + 1);

    memcpy(system, out->region1, out->region1_len);
    memcpy(system + out->region1_len, out->region2, out->region2_len);
    system[len] = '\0';

    tailcopy = tail != NULL && json_is_array(tail) ? json_deep_copy(tail)
                                                   : json_array();
    json_array_append_new(messages, json_pack("{s:s, s:s%}", "role",
                          "system", "content", system, len));
    for (i = 0; i < json_array_size(tailcopy); i++)
        json_array_append(messages, json_array_get(tailcopy, i));
    regions = json_pack("[{s:i, s:s%, s:I, s:s}, {s:i, s:s%, s:I, s:s},"
                        " {s:i, s:o}]",
                        "region", 1, "content", out->region1,
                        out->region1_len, "bytes",
                        (json_int_t)out->region1_len, "sha256",
                        out->region1_sha256,
                        "region", 2, "content", out->region2,
                        out->region2_len, "bytes",
                        (json_int_t)out->region2_len, "sha256",
                        out->region2_sha256,
                        "region", 3, "messages", tailcopy);
    free(system);
    return json_pack("{s:o, s:o, s:s, s:s, s:s}", "regions", regions,
                     "messages", messages, "region1_sha256",
                     out->region1_sha256, "prefix_sha256",
                     out->prefix_sha256, "inputs_sha256",
                     out->inputs_sha256);
}

static int
cmp_op(const void *a, const void *b)
{
    return strcmp((*(const struct op *const *)a)->name,
                  (*(const struct op *const *)b)->name);
}

char *
prompt_tool_notes(const struct op *ops, size_t nops, size_t *len)
{
    const struct op **v = xcalloc(nops + 1, sizeof(*v));
    struct sb b = {0};
    size_t i, n = 0;

    for (i = 0; i < nops; i++)
        if (ops[i].path != NULL && ops[i].method != NULL)
            v[n++] = &ops[i];
    qsort(v, n, sizeof(*v), cmp_op);
    sb_str(&b, "Colibri's API (under $COLIBRI_URL, or the socket "
           "$COLIBRI_SOCKET):\n");
    for (i = 0; i < n; i++) {
        sb_str(&b, "- ");
        sb_line(&b, v[i]->name);
        sb_str(&b, " (");
        sb_line(&b, v[i]->method);
        sb_str(&b, " ");
        sb_line(&b, v[i]->path);
        sb_str(&b, "): ");
        sb_line(&b, v[i]->summary);
        sb_str(&b, "\n");
    }
    free(v);
    *len = b.len;
    return b.data;
}

char *
prompt_default_system(const char *kind, size_t *len)
{
    struct sb b = {0};

    sb_str(&b, "You are a coding agent of kind '");
    sb_line(&b, kind);
    sb_str(&b, "', run by Colibri, the control plane of this host.\n"
           "Work on the task below, one step at a time. Report progress "
           "and the result through Colibri's API, and say when you are "
           "blocked instead of guessing.\n");
    *len = b.len;
    return b.data;
}
