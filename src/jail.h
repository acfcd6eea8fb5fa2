/*
 * jail.h - the FreeBSD jail wrapper: turns "run this binary with these
 * arguments" into "run it inside this jail", as a pure function.
 *
 * jail_wrap() does no I/O, reads no environment and has no globals: the
 * caller passes the jail request, the privilege mode and the absolute
 * paths of the tools, and gets back a new (program, argv) pair or a
 * refusal with a human reason.  Every field of the request is validated
 * before anything could run.  jail_check_helper_argv() is the other half:
 * it is what colibri-jail-helper runs on its own argv to accept exactly
 * the forms jail_wrap() produces in helper mode, and nothing else.
 *
 * The rules and the reasons behind them are in docs/internals/jail.md.
 */
#ifndef COLIBRI_JAIL_H
#define COLIBRI_JAIL_H

#include <stddef.h>

/* Absolute FreeBSD defaults of the tools; each is configurable
 * (--mdo-path, --jexec-path, --jail-path, --jail-helper-path). */
#define JAIL_DEFAULT_MDO    "/usr/bin/mdo"
#define JAIL_DEFAULT_JEXEC  "/usr/sbin/jexec"
#define JAIL_DEFAULT_JAIL   "/usr/sbin/jail"
#define JAIL_DEFAULT_HELPER "/usr/local/libexec/colibri-jail-helper"
#define JAIL_DEFAULT_JLS    "/usr/sbin/jls"

/* Every ephemeral jail the spawner creates is named with this prefix
 * (then the agent and a run number), and the helper removes no other. */
#define JAIL_TAG_PREFIX "colibri-"

/* Field caps (characters). */
#define JAIL_NAME_MAX  64
#define JAIL_USER_MAX  32
#define JAIL_PATH_MAX  1024

/* What a spawn asks for; every member is borrowed and NULL or "" means
 * unset.  name enters a persistent jail (jexec) and wins over path; path
 * creates an ephemeral jail (jail -c) rooted there; ip4 only applies to
 * the path form; user runs the command as that user of the jail. */
struct jail_config {
    const char *name;
    const char *path;
    const char *ip4;
    const char *user;
    const char *tag;            /* name=TAG for the path form, so the jail
                                 * can be found and removed afterwards;
                                 * must start with JAIL_TAG_PREFIX.  Not
                                 * part of a request: the spawner sets it */
};

/* How the unprivileged daemon gets the privilege jexec/jail need:
 * prefix mdo(1), prefix colibri-jail-helper, or nothing (already root). */
enum jail_priv { JAIL_PRIV_MDO, JAIL_PRIV_HELPER, JAIL_PRIV_NONE };

/* Absolute paths of the tools; borrowed. */
struct jail_tools {
    const char *mdo;
    const char *jexec;
    const char *jail;
    const char *helper;
    const char *jls;            /* only to look for leftover jails */
};

/* A program and its NULL-terminated argv; both new (jail_cmd_free). */
struct jail_cmd {
    char *program;
    char **argv;
    int argc;
};

/* Fills tools with the JAIL_DEFAULT_* paths. */
void jail_tools_default(struct jail_tools *tools);

/* Parses a privilege mode ("mdo", "helper", "none"); NULL or "" is the
 * default, mdo.  0, or -1 with a reason in err. */
int jail_priv_parse(const char *s, enum jail_priv *out, char *err,
                    size_t errlen);
const char *jail_priv_name(enum jail_priv priv);

/* True when cfg asks for a jail at all (any field set). */
int jail_config_wanted(const struct jail_config *cfg);

/* Field validators: 0 when acceptable, -1 with a reason in err. */
int jail_check_name(const char *name, char *err, size_t errlen);
int jail_check_path(const char *path, char *err, size_t errlen);
int jail_check_ip4(const char *ip4, char *err, size_t errlen);
int jail_check_user(const char *user, char *err, size_t errlen);
/* A tag: a valid jail name that starts with JAIL_TAG_PREFIX. */
int jail_check_tag(const char *tag, char *err, size_t errlen);

/*
 * Wraps binary + argv (argv[0] is the program's name, NULL-terminated;
 * the arguments are argv[1..]) for cfg.  cfg may be NULL (no jail).
 *   no field set   program = binary, argv copied unchanged
 *   name           [prefix] jexec [-U user] NAME binary args...
 *   path           [prefix] jail -c [-U user] [name=TAG] path=P
 *                           [ip4.addr=IP] command=binary args...
 * prefix is "mdo" (mdo path), "helper" (helper path, then the keyword
 * "jexec" or "jail" instead of a tool path; the helper uses its own
 * paths), or nothing.  tools may be NULL (the defaults).  0 with *out
 * filled (new), or -1 with a reason in err and *out untouched.
 */
int jail_wrap(const struct jail_config *cfg, enum jail_priv priv,
              const struct jail_tools *tools, const char *binary,
              const char *const argv[], struct jail_cmd *out, char *err,
              size_t errlen);

/*
 * colibri-jail-helper's gate.  argv is the helper's own argv (argv[0] is
 * the helper), which must be exactly a helper-mode jail_wrap() output:
 *   helper jexec [-U user] NAME binary args...
 *   helper jail -c [-U user] [name=TAG] path=P [ip4.addr=IP]
 *          command=binary args...
 *   helper jail -r TAG          (only a jail named by the spawner)
 * Every field is re-validated.  0 with *out = the absolute tool from
 * tools and its argv (new), or -1 with a reason in err.
 */
int jail_check_helper_argv(int argc, const char *const argv[],
                           const struct jail_tools *tools,
                           struct jail_cmd *out, char *err, size_t errlen);

/*
 * After an ephemeral jail's command exited, the spawner makes sure the
 * jail is gone.  jail_probe_cmd: "jls -j TAG jid" (no privilege needed;
 * exit status 0 while the jail exists).  jail_remove_cmd: "[prefix] jail
 * -r TAG" through the privilege mode, as jail_wrap would run jail.
 * 0 with *out filled (new), or -1 with a reason in err.
 */
int jail_probe_cmd(const struct jail_tools *tools, const char *tag,
                   struct jail_cmd *out, char *err, size_t errlen);
int jail_remove_cmd(enum jail_priv priv, const struct jail_tools *tools,
                    const char *tag, struct jail_cmd *out, char *err,
                    size_t errlen);

/* Frees what jail_wrap/jail_check_helper_argv filled in; NULL-safe. */
void jail_cmd_free(struct jail_cmd *cmd);

#endif
