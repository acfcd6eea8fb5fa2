/*
 * jail.c - the jail wrapper (see jail.h and docs/internals/jail.md).
 *
 * Pure: no I/O, no environment, no globals.  The only thing that runs is
 * string checking and argv building, so every rule is unit-tested in
 * tests/check_jail.c without a FreeBSD host.
 */
#include "autoconf.h"

#include "src/jail.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/util.h"

/* A growing argv under construction. */
struct argv_builder {
    char **v;
    int n;
    int cap;
};

static int is_set(const char *s);
static int has_control(const char *s);
static void ab_push(struct argv_builder *ab, const char *s);
static void ab_pushf(struct argv_builder *ab, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ab_free(struct argv_builder *ab);
static void ab_finish(struct argv_builder *ab, const char *program,
                      struct jail_cmd *out);
static int check_binary(const char *binary, char *err, size_t errlen);
static int check_config(const struct jail_config *cfg, char *err,
                        size_t errlen);
static void push_jail_form(struct argv_builder *ab,
                           const struct jail_config *cfg, const char *tool,
                           const char *binary, const char *const argv[]);

static int
is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int
has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

void
jail_tools_default(struct jail_tools *tools)
{
    tools->mdo = JAIL_DEFAULT_MDO;
    tools->jexec = JAIL_DEFAULT_JEXEC;
    tools->jail = JAIL_DEFAULT_JAIL;
    tools->helper = JAIL_DEFAULT_HELPER;
    tools->jls = JAIL_DEFAULT_JLS;
}

int
jail_priv_parse(const char *s, enum jail_priv *out, char *err,
                size_t errlen)
{
    if (!is_set(s) || strcmp(s, "mdo") == 0)
        *out = JAIL_PRIV_MDO;
    else if (strcmp(s, "helper") == 0)
        *out = JAIL_PRIV_HELPER;
    else if (strcmp(s, "none") == 0)
        *out = JAIL_PRIV_NONE;
    else {
        util_set_err(err, errlen,
                     "invalid jail privilege mode (COLIBRI_JAIL_PRIV_MODE): "
                     "expected mdo, helper or none");
        return -1;
    }
    return 0;
}

const char *
jail_priv_name(enum jail_priv priv)
{
    switch (priv) {
    case JAIL_PRIV_MDO:
        return "mdo";
    case JAIL_PRIV_HELPER:
        return "helper";
    case JAIL_PRIV_NONE:
        return "none";
    }
    return "?";
}

int
jail_config_wanted(const struct jail_config *cfg)
{
    return cfg != NULL && (is_set(cfg->name) || is_set(cfg->path) ||
                           is_set(cfg->ip4) || is_set(cfg->user));
}

/*
 * Jail names: letters, digits, '_', '-' and '.' (FreeBSD's hierarchical
 * separator), starting with a letter, digit or '_' so it can never be
 * read as an option; no empty component ("a..b", "a.", ".a").
 */
int
jail_check_name(const char *name, char *err, size_t errlen)
{
    size_t len, i;

    if (!is_set(name)) {
        util_set_err(err, errlen, "jail name is empty");
        return -1;
    }
    len = strlen(name);
    if (len > JAIL_NAME_MAX) {
        util_set_err(err, errlen, "jail name longer than %d characters",
                     JAIL_NAME_MAX);
        return -1;
    }
    if (name[0] == '-') {
        util_set_err(err, errlen, "jail name must not start with '-'");
        return -1;
    }
    for (i = 0; i < len; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 c == '.';
        if (!ok) {
            util_set_err(err, errlen,
                         "jail name may only contain letters, digits, "
                         "'_', '-' and '.'");
            return -1;
        }
        if (c == '.' && (i == 0 || i == len - 1 || name[i + 1] == '.')) {
            util_set_err(err, errlen, "jail name has an empty '.' component");
            return -1;
        }
    }
    return 0;
}

/*
 * Jail roots: absolute, and clean so that what is checked is what the
 * kernel resolves: no empty segment ("//", trailing '/'), no "." or ".."
 * segment, no control characters.  "/" itself is accepted.
 */
int
jail_check_path(const char *path, char *err, size_t errlen)
{
    const char *seg, *end;

    if (!is_set(path)) {
        util_set_err(err, errlen, "jail path is empty");
        return -1;
    }
    if (path[0] != '/') {
        util_set_err(err, errlen, "jail path must be absolute");
        return -1;
    }
    if (strlen(path) > JAIL_PATH_MAX) {
        util_set_err(err, errlen, "jail path longer than %d characters",
                     JAIL_PATH_MAX);
        return -1;
    }
    if (has_control(path)) {
        util_set_err(err, errlen, "jail path contains control characters");
        return -1;
    }
    if (strcmp(path, "/") == 0)
        return 0;
    for (seg = path + 1;; seg = end + 1) {
        size_t n;

        end = strchr(seg, '/');
        n = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if (n == 0) {
            util_set_err(err, errlen,
                         "jail path has an empty segment ('//' or a "
                         "trailing '/')");
            return -1;
        }
        if ((n == 1 && seg[0] == '.') ||
            (n == 2 && seg[0] == '.' && seg[1] == '.')) {
            util_set_err(err, errlen,
                         "jail path must not contain '.' or '..' segments");
            return -1;
        }
        if (end == NULL)
            break;
    }
    return 0;
}

/*
 * IPv4 literals: exactly a dotted quad of decimal numbers (checked here,
 * since some inet_pton accept fewer parts) that inet_pton also accepts.
 */
int
jail_check_ip4(const char *ip4, char *err, size_t errlen)
{
    struct in_addr addr;
    int dots = 0, digits = 0;
    const char *p;

    if (!is_set(ip4)) {
        util_set_err(err, errlen, "jail ip4 is empty");
        return -1;
    }
    for (p = ip4; *p != '\0'; p++) {
        if (*p == '.') {
            if (digits == 0)
                break;
            dots++;
            digits = 0;
        } else if (*p >= '0' && *p <= '9' && digits < 3) {
            digits++;
        } else {
            break;
        }
    }
    if (*p != '\0' || dots != 3 || digits == 0 ||
        inet_pton(AF_INET, ip4, &addr) != 1) {
        util_set_err(err, errlen,
                     "jail ip4 must be an IPv4 address like 192.0.2.10");
        return -1;
    }
    return 0;
}

/*
 * User names: the POSIX portable set (letters, digits, '.', '_', '-'),
 * not starting with '-', at most JAIL_USER_MAX characters.
 */
int
jail_check_user(const char *user, char *err, size_t errlen)
{
    size_t len, i;

    if (!is_set(user)) {
        util_set_err(err, errlen, "jail user is empty");
        return -1;
    }
    len = strlen(user);
    if (len > JAIL_USER_MAX) {
        util_set_err(err, errlen, "jail user longer than %d characters",
                     JAIL_USER_MAX);
        return -1;
    }
    if (user[0] == '-') {
        util_set_err(err, errlen, "jail user must not start with '-'");
        return -1;
    }
    for (i = 0; i < len; i++) {
        char c = user[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 c == '.';
        if (!ok) {
            util_set_err(err, errlen,
                         "jail user may only contain letters, digits, "
                         "'_', '-' and '.'");
            return -1;
        }
    }
    return 0;
}

/* The command run inside the jail: jexec/jail read it after their own
 * options, so it must not look like one. */
static int
check_binary(const char *binary, char *err, size_t errlen)
{
    if (!is_set(binary)) {
        util_set_err(err, errlen, "command is empty");
        return -1;
    }
    if (binary[0] == '-') {
        util_set_err(err, errlen, "command must not start with '-'");
        return -1;
    }
    if (has_control(binary)) {
        util_set_err(err, errlen, "command contains control characters");
        return -1;
    }
    return 0;
}

/* Validates every set field, including the ones the chosen form ignores,
 * and refuses ip4/user without a name or path (they would otherwise run
 * the command unconfined, which is not what was asked for). */
static int
check_config(const struct jail_config *cfg, char *err, size_t errlen)
{
    if (is_set(cfg->name) && jail_check_name(cfg->name, err, errlen) < 0)
        return -1;
    if (is_set(cfg->path) && jail_check_path(cfg->path, err, errlen) < 0)
        return -1;
    if (is_set(cfg->ip4) && jail_check_ip4(cfg->ip4, err, errlen) < 0)
        return -1;
    if (is_set(cfg->user) && jail_check_user(cfg->user, err, errlen) < 0)
        return -1;
    if (is_set(cfg->tag) && jail_check_tag(cfg->tag, err, errlen) < 0)
        return -1;
    if (!is_set(cfg->name) && !is_set(cfg->path)) {
        util_set_err(err, errlen, "jail ip4 or user given without a jail name "
                             "or path");
        return -1;
    }
    return 0;
}

static void
ab_push(struct argv_builder *ab, const char *s)
{
    if (ab->n + 2 > ab->cap) {
        ab->cap = ab->cap == 0 ? 16 : ab->cap * 2;
        ab->v = xrealloc(ab->v, (size_t)ab->cap * sizeof(*ab->v));
    }
    ab->v[ab->n++] = xstrdup(s);
    ab->v[ab->n] = NULL;
}

static void
ab_pushf(struct argv_builder *ab, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ab_push(ab, s);
    free(s);
}

static void
ab_free(struct argv_builder *ab)
{
    int i;

    for (i = 0; i < ab->n; i++)
        free(ab->v[i]);
    free(ab->v);
    ab->v = NULL;
    ab->n = ab->cap = 0;
}

static void
ab_finish(struct argv_builder *ab, const char *program, struct jail_cmd *out)
{
    if (ab->v == NULL) {
        ab->v = xcalloc(1, sizeof(*ab->v));
    }
    out->program = xstrdup(program);
    out->argv = ab->v;
    out->argc = ab->n;
    ab->v = NULL;
    ab->n = ab->cap = 0;
}

/* tool is what goes in the jexec/jail slot: a path, or the keyword the
 * helper expects. */
static void
push_jail_form(struct argv_builder *ab, const struct jail_config *cfg,
               const char *tool, const char *binary, const char *const argv[])
{
    int i;

    ab_push(ab, tool);
    if (is_set(cfg->name)) {
        if (is_set(cfg->user)) {
            ab_push(ab, "-U");
            ab_push(ab, cfg->user);
        }
        ab_push(ab, cfg->name);
        ab_push(ab, binary);
    } else {
        ab_push(ab, "-c");
        if (is_set(cfg->user)) {
            ab_push(ab, "-U");
            ab_push(ab, cfg->user);
        }
        if (is_set(cfg->tag))
            ab_pushf(ab, "name=%s", cfg->tag);
        ab_pushf(ab, "path=%s", cfg->path);
        if (is_set(cfg->ip4))
            ab_pushf(ab, "ip4.addr=%s", cfg->ip4);
        ab_pushf(ab, "command=%s", binary);
    }
    for (i = 1; argv != NULL && argv[0] != NULL && argv[i] != NULL; i++)
        ab_push(ab, argv[i]);
}

int
jail_wrap(const struct jail_config *cfg, enum jail_priv priv,
          const struct jail_tools *tools, const char *binary,
          const char *const argv[], struct jail_cmd *out, char *err, size_t errlen)
{
    struct jail_tools defaults;
    struct argv_builder ab = {0};
    const char *tool, *program;
    int i;

    if (tools == NULL) {
        jail_tools_default(&defaults);
        tools = &defaults;
    }
    if (!jail_config_wanted(cfg)) {
        if (!is_set(binary)) {
            util_set_err(err, errlen, "command is empty");
            return -1;
        }
        for (i = 0; argv != NULL && argv[i] != NULL; i++)
            ab_push(&ab, argv[i]);
        if (ab.n == 0)
            ab_push(&ab, binary);
        ab_finish(&ab, binary, out);
        return 0;
    }
    if (check_config(cfg, err, errlen) < 0 ||
        check_binary(binary, err, errlen) < 0)
        return -1;
    tool = is_set(cfg->name) ? tools->jexec : tools->jail;
    switch (priv) {
    case JAIL_PRIV_MDO:
        program = tools->mdo;
        ab_push(&ab, tools->mdo);
        break;
    case JAIL_PRIV_HELPER:
        program = tools->helper;
        ab_push(&ab, tools->helper);
        tool = is_set(cfg->name) ? "jexec" : "jail";
        break;
    case JAIL_PRIV_NONE:
        program = tool;
        break;
    default:
        util_set_err(err, errlen, "invalid jail privilege mode");
        return -1;
    }
    if (!is_set(program) || program[0] != '/') {
        util_set_err(err, errlen, "jail tool path must be absolute");
        ab_free(&ab);
        return -1;
    }
    if (priv != JAIL_PRIV_HELPER && (!is_set(tool) || tool[0] != '/')) {
        util_set_err(err, errlen, "jail tool path must be absolute");
        ab_free(&ab);
        return -1;
    }
    push_jail_form(&ab, cfg, tool, binary, argv);
    ab_finish(&ab, program, out);
    return 0;
}

/* "key=value" with the given key: the value, or NULL. */
static const char *
value_of(const char *arg, const char *key)
{
    size_t n = strlen(key);

    if (strncmp(arg, key, n) == 0 && arg[n] == '=')
        return arg + n + 1;
    return NULL;
}

int
jail_check_helper_argv(int argc, const char *const argv[],
                       const struct jail_tools *tools, struct jail_cmd *out,
                       char *err, size_t errlen)
{
    struct jail_tools defaults;
    struct jail_config cfg = {0};
    struct jail_cmd cmd;
    const char *binary, *form;
    const char **rest = NULL;
    int i = 2, j, rc;

    if (tools == NULL) {
        jail_tools_default(&defaults);
        tools = &defaults;
    }
    if (argc < 2 || argv == NULL || argv[1] == NULL) {
        util_set_err(err, errlen, "usage: colibri-jail-helper jexec|jail ...");
        return -1;
    }
    form = argv[1];
    if (strcmp(form, "jexec") == 0) {
        if (i < argc && strcmp(argv[i], "-U") == 0) {
            if (i + 1 >= argc) {
                util_set_err(err, errlen, "jexec: -U needs a user");
                return -1;
            }
            cfg.user = argv[i + 1];
            i += 2;
        }
        if (i >= argc) {
            util_set_err(err, errlen, "jexec: missing jail name");
            return -1;
        }
        cfg.name = argv[i++];
        if (jail_check_name(cfg.name, err, errlen) < 0)
            return -1;
    } else if (strcmp(form, "jail") == 0 && i < argc &&
               strcmp(argv[i], "-r") == 0) {
        /* Removing a leftover ephemeral jail: only one the spawner
         * named, and nothing after the name. */
        if (argc != 4) {
            util_set_err(err, errlen,
                         "jail -r: expected exactly one jail name");
            return -1;
        }
        if (jail_check_tag(argv[3], err, errlen) < 0)
            return -1;
        return jail_remove_cmd(JAIL_PRIV_NONE, tools, argv[3], out, err,
                               errlen);
    } else if (strcmp(form, "jail") == 0) {
        if (i >= argc || strcmp(argv[i], "-c") != 0) {
            util_set_err(err, errlen, "jail: only 'jail -c' and 'jail -r' are "
                                 "allowed");
            return -1;
        }
        i++;
        if (i < argc && strcmp(argv[i], "-U") == 0) {
            if (i + 1 >= argc) {
                util_set_err(err, errlen, "jail: -U needs a user");
                return -1;
            }
            cfg.user = argv[i + 1];
            i += 2;
        }
        if (i < argc && value_of(argv[i], "name") != NULL) {
            cfg.tag = value_of(argv[i++], "name");
            if (jail_check_tag(cfg.tag, err, errlen) < 0)
                return -1;
        }
        if (i >= argc || value_of(argv[i], "path") == NULL) {
            util_set_err(err, errlen, "jail: expected path=...");
            return -1;
        }
        cfg.path = value_of(argv[i++], "path");
        if (jail_check_path(cfg.path, err, errlen) < 0)
            return -1;
        if (i < argc && value_of(argv[i], "ip4.addr") != NULL) {
            cfg.ip4 = value_of(argv[i++], "ip4.addr");
            if (jail_check_ip4(cfg.ip4, err, errlen) < 0)
                return -1;
        }
    } else {
        util_set_err(err, errlen, "refused: only the jexec and jail forms are "
                             "allowed");
        return -1;
    }
    if (cfg.user != NULL && jail_check_user(cfg.user, err, errlen) < 0)
        return -1;
    if (i >= argc) {
        util_set_err(err, errlen, "%s: missing command", form);
        return -1;
    }
    if (cfg.name != NULL) {
        binary = argv[i];
    } else {
        binary = value_of(argv[i], "command");
        if (binary == NULL) {
            util_set_err(err, errlen, "jail: expected command=... after the "
                                 "parameters");
            return -1;
        }
    }
    if (check_binary(binary, err, errlen) < 0)
        return -1;
    /* Rebuild through jail_wrap (mode none) so that what runs is, by
     * construction, a form jail_wrap produces. */
    rest = xcalloc((size_t)(argc - i) + 1, sizeof(*rest));
    for (j = i; j < argc; j++)
        rest[j - i] = argv[j];
    /* jail_wrap reads only argv[1..]; argv[0] just has to be there. */
    rc = jail_wrap(&cfg, JAIL_PRIV_NONE, tools, binary, rest, &cmd, err,
                   errlen);
    free(rest);
    if (rc < 0)
        return -1;
    *out = cmd;
    return 0;
}

int
jail_check_tag(const char *tag, char *err, size_t errlen)
{
    if (!is_set(tag) ||
        strncmp(tag, JAIL_TAG_PREFIX, strlen(JAIL_TAG_PREFIX)) != 0 ||
        tag[strlen(JAIL_TAG_PREFIX)] == '\0') {
        util_set_err(err, errlen, "jail tag must start with '%s'",
                     JAIL_TAG_PREFIX);
        return -1;
    }
    return jail_check_name(tag, err, errlen);
}

int
jail_probe_cmd(const struct jail_tools *tools, const char *tag,
               struct jail_cmd *out, char *err, size_t errlen)
{
    struct jail_tools defaults;
    struct argv_builder ab = {0};

    if (tools == NULL) {
        jail_tools_default(&defaults);
        tools = &defaults;
    }
    if (jail_check_tag(tag, err, errlen) < 0)
        return -1;
    if (!is_set(tools->jls) || tools->jls[0] != '/') {
        util_set_err(err, errlen, "jls path must be absolute");
        return -1;
    }
    ab_push(&ab, tools->jls);
    ab_push(&ab, "-j");
    ab_push(&ab, tag);
    ab_push(&ab, "jid");
    ab_finish(&ab, tools->jls, out);
    return 0;
}

int
jail_remove_cmd(enum jail_priv priv, const struct jail_tools *tools,
                const char *tag, struct jail_cmd *out, char *err,
                size_t errlen)
{
    struct jail_tools defaults;
    struct argv_builder ab = {0};
    const char *program;

    if (tools == NULL) {
        jail_tools_default(&defaults);
        tools = &defaults;
    }
    if (jail_check_tag(tag, err, errlen) < 0)
        return -1;
    switch (priv) {
    case JAIL_PRIV_MDO:
        program = tools->mdo;
        break;
    case JAIL_PRIV_HELPER:
        program = tools->helper;
        break;
    case JAIL_PRIV_NONE:
        program = tools->jail;
        break;
    default:
        util_set_err(err, errlen, "invalid jail privilege mode");
        return -1;
    }
    if (!is_set(program) || program[0] != '/' ||
        (priv != JAIL_PRIV_HELPER &&
         (!is_set(tools->jail) || tools->jail[0] != '/'))) {
        util_set_err(err, errlen, "jail tool path must be absolute");
        return -1;
    }
    if (priv != JAIL_PRIV_NONE)
        ab_push(&ab, program);
    ab_push(&ab, priv == JAIL_PRIV_HELPER ? "jail" : tools->jail);
    ab_push(&ab, "-r");
    ab_push(&ab, tag);
    ab_finish(&ab, program, out);
    return 0;
}

void
jail_cmd_free(struct jail_cmd *cmd)
{
    int i;

    if (cmd == NULL)
        return;
    for (i = 0; cmd->argv != NULL && cmd->argv[i] != NULL; i++)
        free(cmd->argv[i]);
    free(cmd->argv);
    free(cmd->program);
    cmd->argv = NULL;
    cmd->program = NULL;
    cmd->argc = 0;
}
