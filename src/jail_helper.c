/*
 * jail_helper.c - colibri-jail-helper, the small privileged helper for
 * COLIBRI_JAIL_PRIV_MODE=helper.
 *
 *   colibri-jail-helper jexec [-U user] NAME command args...
 *   colibri-jail-helper jail -c [-U user] path=P [ip4.addr=IP] \
 *                       command=command args...
 *
 * It accepts exactly the forms jail_wrap() produces in helper mode (the
 * gate is jail_check_helper_argv, unit-tested in tests/check_jail.c),
 * re-validating every field, and execv()s the absolute jexec or jail.
 * Anything else is refused with a message on stderr and status 126.
 *
 * Installed setuid root, executable only by the daemon's group (see
 * docs/internals/jail.md).  When it runs with privilege it trusts
 * nothing from its caller but the argv it validates: the tool paths are
 * the compiled-in ones and loader variables (LD_*) are dropped from the
 * environment, which is otherwise passed through (COLIBRI_* and the
 * provider keys the agent needs).  Without privilege (tests, or a host
 * where the daemon is root) COLIBRI_JEXEC and COLIBRI_JAIL may point it
 * at other tools.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/jail.h"

#define HELPER_REFUSED 126

extern char **environ;

static char **clean_environ(void);

/* environ without loader variables that would reach a root process. */
static char **
clean_environ(void)
{
    size_t n = 0, o = 0, i;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = calloc(n + 1, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (strncmp(environ[i], "LD_", 3) == 0 ||
            strncmp(environ[i], "DYLD_", 5) == 0)
            continue;
        env[o++] = environ[i];
    }
    env[o] = NULL;
    return env;
}

int
main(int argc, char **argv)
{
    struct jail_tools tools;
    struct jail_cmd cmd;
    char err[256];
    char **env;
    int privileged;

    jail_tools_default(&tools);
    privileged = getuid() != geteuid() || getgid() != getegid();
    if (!privileged) {
        const char *jexec = getenv("COLIBRI_JEXEC");
        const char *jail = getenv("COLIBRI_JAIL");

        if (jexec != NULL && jexec[0] != '\0')
            tools.jexec = jexec;
        if (jail != NULL && jail[0] != '\0')
            tools.jail = jail;
    }
    if (jail_check_helper_argv(argc, (const char *const *)argv, &tools,
                               &cmd, err, sizeof(err)) < 0) {
        fprintf(stderr, "colibri-jail-helper: refused: %s\n", err);
        return HELPER_REFUSED;
    }
    if (privileged && geteuid() == 0) {
        /* Become root through and through, so that the tool is not a
         * half-privileged process its caller could still signal or
         * trace. */
        if (setgid(0) < 0 || setuid(0) < 0) {
            fprintf(stderr, "colibri-jail-helper: setuid: %s\n",
                    strerror(errno));
            return HELPER_REFUSED;
        }
    }
    env = clean_environ();
    if (env == NULL) {
        fputs("colibri-jail-helper: out of memory\n", stderr);
        return HELPER_REFUSED;
    }
    execve(cmd.program, cmd.argv, env);
    fprintf(stderr, "colibri-jail-helper: %s: %s\n", cmd.program,
            strerror(errno));
    return 127;
}
