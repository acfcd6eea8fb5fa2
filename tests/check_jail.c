/*
 * check_jail.c - jail.c: jail_wrap's forms, privilege prefixes and
 * every validation refusal; the helper's argv gate.
 */
#include "autoconf.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "src/jail.h"

static const struct jail_tools tools = {
    "/t/mdo", "/t/jexec", "/t/jail", "/t/helper", "/t/jls",
};

static const char *const agent_argv[] = {
    "pi", "--mode", "json", "-p", "hello world", NULL,
};

/* Asserts cmd is program + exactly the given argv (NULL-terminated). */
static void
expect_cmd(const struct jail_cmd *cmd, const char *program, ...)
{
    va_list ap;
    const char *want;
    int i = 0;

    ck_assert_str_eq(cmd->program, program);
    va_start(ap, program);
    while ((want = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(cmd->argv[i] != NULL, "argv too short at %d", i);
        ck_assert_str_eq(cmd->argv[i], want);
        i++;
    }
    va_end(ap);
    ck_assert_msg(cmd->argv[i] == NULL, "argv too long: extra '%s'",
                  cmd->argv[i]);
    ck_assert_int_eq(cmd->argc, i);
}

/* Runs jail_wrap and asserts it refuses with a reason containing what. */
static void
expect_refused(const struct jail_config *cfg, enum jail_priv priv,
               const char *binary, const char *what)
{
    struct jail_cmd cmd = {0};
    char err[256] = "";

    ck_assert_int_eq(jail_wrap(cfg, priv, &tools, binary, agent_argv, &cmd,
                               err, sizeof(err)), -1);
    ck_assert_ptr_null(cmd.program);
    ck_assert_msg(strstr(err, what) != NULL, "reason '%s' lacks '%s'", err,
                  what);
}

START_TEST(no_jail_leaves_argv_unchanged)
{
    struct jail_config empty = {0};
    struct jail_config blank = {"", "", "", "", ""};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(NULL, JAIL_PRIV_MDO, &tools, "/usr/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/usr/bin/pi", "pi", "--mode", "json", "-p",
               "hello world", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&empty, JAIL_PRIV_HELPER, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "pi", "pi", "--mode", "json", "-p", "hello world",
               NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&blank, JAIL_PRIV_NONE, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "pi", "pi", "--mode", "json", "-p", "hello world",
               NULL);
    jail_cmd_free(&cmd);
    /* No argv at all: argv[0] is the binary. */
    ck_assert_int_eq(jail_wrap(NULL, JAIL_PRIV_NONE, &tools, "pi", NULL,
                               &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "pi", "pi", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(name_uses_jexec_without_l)
{
    struct jail_config cfg = {.name = "agents"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jexec", "/t/jexec", "agents", "pi", "--mode",
               "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(name_with_user)
{
    struct jail_config cfg = {.name = "agents", .user = "colibri"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jexec", "/t/jexec", "-U", "colibri", "agents",
               "pi", "--mode", "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(path_is_ephemeral_jail)
{
    struct jail_config cfg = {.path = "/jails/a1"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jail", "/t/jail", "-c", "path=/jails/a1",
               "command=/bin/pi", "--mode", "json", "-p", "hello world",
               NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(path_with_ip4_and_user)
{
    struct jail_config cfg = {.path = "/jails/a1", .ip4 = "192.0.2.10",
                              .user = "agent"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jail", "/t/jail", "-c", "-U", "agent",
               "path=/jails/a1", "ip4.addr=192.0.2.10", "command=/bin/pi",
               "--mode", "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(path_with_user_only)
{
    struct jail_config cfg = {.path = "/", .user = "agent"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jail", "/t/jail", "-c", "-U", "agent", "path=/",
               "command=/bin/pi", "--mode", "json", "-p", "hello world",
               NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(name_wins_over_path)
{
    struct jail_config cfg = {.name = "agents", .path = "/jails/a1",
                              .ip4 = "10.0.0.1"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jexec", "/t/jexec", "agents", "pi", "--mode",
               "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(priv_mdo_prefixes_mdo)
{
    struct jail_config name = {.name = "agents", .user = "u"};
    struct jail_config path = {.path = "/j", .ip4 = "10.1.2.3"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_MDO, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/mdo", "/t/mdo", "/t/jexec", "-U", "u", "agents",
               "pi", "--mode", "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&path, JAIL_PRIV_MDO, &tools, "/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/mdo", "/t/mdo", "/t/jail", "-c", "path=/j",
               "ip4.addr=10.1.2.3", "command=/pi", "--mode", "json", "-p",
               "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(priv_helper_prefixes_helper_and_keyword)
{
    struct jail_config name = {.name = "agents"};
    struct jail_config path = {.path = "/j", .user = "u"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_HELPER, &tools, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/helper", "/t/helper", "jexec", "agents", "pi",
               "--mode", "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&path, JAIL_PRIV_HELPER, &tools, "/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/helper", "/t/helper", "jail", "-c", "-U", "u",
               "path=/j", "command=/pi", "--mode", "json", "-p",
               "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(priv_none_and_default_tools)
{
    struct jail_config name = {.name = "agents"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_MDO, NULL, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, JAIL_DEFAULT_MDO, JAIL_DEFAULT_MDO, JAIL_DEFAULT_JEXEC,
               "agents", "pi", "--mode", "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_HELPER, NULL, "pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    ck_assert_str_eq(cmd.program, JAIL_DEFAULT_HELPER);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(relative_tools_refused)
{
    struct jail_tools rel = {"mdo", "jexec", "/t/jail", "helper", "/t/jls"};
    struct jail_config name = {.name = "agents"};
    struct jail_cmd cmd = {0};
    char err[256];

    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_MDO, &rel, "pi", agent_argv,
                               &cmd, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_NONE, &rel, "pi",
                               agent_argv, &cmd, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_wrap(&name, JAIL_PRIV_HELPER, &rel, "pi",
                               agent_argv, &cmd, err, sizeof(err)), -1);
    ck_assert_ptr_null(cmd.program);
}
END_TEST

START_TEST(priv_parse)
{
    enum jail_priv p = JAIL_PRIV_NONE;
    char err[256] = "";

    ck_assert_int_eq(jail_priv_parse(NULL, &p, err, sizeof(err)), 0);
    ck_assert_int_eq(p, JAIL_PRIV_MDO);
    p = JAIL_PRIV_NONE;
    ck_assert_int_eq(jail_priv_parse("", &p, err, sizeof(err)), 0);
    ck_assert_int_eq(p, JAIL_PRIV_MDO);
    ck_assert_int_eq(jail_priv_parse("mdo", &p, err, sizeof(err)), 0);
    ck_assert_int_eq(p, JAIL_PRIV_MDO);
    ck_assert_int_eq(jail_priv_parse("helper", &p, err, sizeof(err)), 0);
    ck_assert_int_eq(p, JAIL_PRIV_HELPER);
    ck_assert_int_eq(jail_priv_parse("none", &p, err, sizeof(err)), 0);
    ck_assert_int_eq(p, JAIL_PRIV_NONE);
    ck_assert_int_eq(jail_priv_parse("sudo", &p, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "COLIBRI_JAIL_PRIV_MODE"));
    ck_assert_int_eq(jail_priv_parse("MDO", &p, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_priv_parse("mdo ", &p, err, sizeof(err)), -1);
    ck_assert_str_eq(jail_priv_name(JAIL_PRIV_HELPER), "helper");
    ck_assert_str_eq(jail_priv_name(JAIL_PRIV_NONE), "none");
    ck_assert_str_eq(jail_priv_name(JAIL_PRIV_MDO), "mdo");
}
END_TEST

START_TEST(name_refusals)
{
    char err[256];
    char long_name[JAIL_NAME_MAX + 2];

    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(jail_check_name("agents", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_name("a.b_c-1", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_name("42", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_name(long_name + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_name(long_name, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name(NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("-l", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "'-'"));
    ck_assert_int_eq(jail_check_name("a b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a/b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a;b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a=b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a..b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name(".a", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a.", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("caf\xc3\xa9", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_name("a\nb", err, sizeof(err)), -1);
}
END_TEST

START_TEST(path_refusals)
{
    char err[256];
    char long_path[JAIL_PATH_MAX + 2];

    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    ck_assert_int_eq(jail_check_path("/", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_path("/jails/a1", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_path("/a/.hidden/b..c", err, sizeof(err)),
                     0);
    ck_assert_int_eq(jail_check_path(long_path + 1, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path(long_path, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path(NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("jails/a", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "absolute"));
    ck_assert_int_eq(jail_check_path("-/a", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/jails/../etc", err, sizeof(err)),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, ".."));
    ck_assert_int_eq(jail_check_path("/..", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/a/..", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/a/./b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/.", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("//a", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "empty"));
    ck_assert_int_eq(jail_check_path("/a//b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/a/", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/a\nb", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_path("/a\tb", err, sizeof(err)), -1);
}
END_TEST

START_TEST(ip4_refusals)
{
    char err[256];

    ck_assert_int_eq(jail_check_ip4("192.0.2.10", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_ip4("0.0.0.0", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_ip4("255.255.255.255", err, sizeof(err)),
                     0);
    ck_assert_int_eq(jail_check_ip4("", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4(NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("256.1.1.1", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3.4.5", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("10", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3.", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4(".1.2.3", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1..2.3", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3.4 ", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("0x7f.0.0.1", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3.0004", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("-1.2.3.4", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("::1", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_ip4("1.2.3.4/24", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "IPv4"));
}
END_TEST

START_TEST(user_refusals)
{
    char err[256];
    char long_user[JAIL_USER_MAX + 2];

    memset(long_user, 'u', sizeof(long_user) - 1);
    long_user[sizeof(long_user) - 1] = '\0';
    ck_assert_int_eq(jail_check_user("colibri", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_user("a.b_c-D9", err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_user(long_user + 1, err, sizeof(err)), 0);
    ck_assert_int_eq(jail_check_user(long_user, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user("", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user(NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user("-root", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "'-'"));
    ck_assert_int_eq(jail_check_user("ro ot", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user("root:0", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user("a/b", err, sizeof(err)), -1);
    ck_assert_int_eq(jail_check_user("a\nb", err, sizeof(err)), -1);
}
END_TEST

START_TEST(wrap_refuses_every_bad_field)
{
    struct jail_config c;

    c = (struct jail_config){.name = "-l"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "jail name");
    c = (struct jail_config){.name = "bad name"};
    expect_refused(&c, JAIL_PRIV_MDO, "pi", "jail name");
    c = (struct jail_config){.path = "relative"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "absolute");
    c = (struct jail_config){.path = "/a/../b"};
    expect_refused(&c, JAIL_PRIV_HELPER, "pi", "..");
    c = (struct jail_config){.path = "/a", .ip4 = "1.2.3"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "IPv4");
    c = (struct jail_config){.path = "/a", .user = "-u"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "jail user");
    c = (struct jail_config){.name = "j", .user = "x y"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "jail user");
    /* name wins, but a bad path next to it is still refused */
    c = (struct jail_config){.name = "j", .path = "/a/./b"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "'.'");
    c = (struct jail_config){.name = "j", .ip4 = "999.1.1.1"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "IPv4");
    /* ip4 or user alone would run unconfined: refused */
    c = (struct jail_config){.ip4 = "10.0.0.1"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "without a jail");
    c = (struct jail_config){.user = "u"};
    expect_refused(&c, JAIL_PRIV_NONE, "pi", "without a jail");
    /* the command itself */
    c = (struct jail_config){.name = "j"};
    expect_refused(&c, JAIL_PRIV_NONE, "-sh", "command");
    expect_refused(&c, JAIL_PRIV_NONE, "", "command");
    expect_refused(&c, JAIL_PRIV_NONE, NULL, "command");
    c = (struct jail_config){.path = "/j"};
    expect_refused(&c, JAIL_PRIV_NONE, "-x", "command");
    expect_refused(&c, JAIL_PRIV_NONE, "a\nb", "command");
    expect_refused(NULL, JAIL_PRIV_NONE, "", "command");
}
END_TEST

START_TEST(config_wanted)
{
    struct jail_config c = {0};

    ck_assert_int_eq(jail_config_wanted(NULL), 0);
    ck_assert_int_eq(jail_config_wanted(&c), 0);
    c.user = "";
    ck_assert_int_eq(jail_config_wanted(&c), 0);
    c.user = "u";
    ck_assert_int_eq(jail_config_wanted(&c), 1);
}
END_TEST

/* Helper gate: the argv of a helper-mode wrap, re-validated. */
static int
helper_check(const char *const argv[], struct jail_cmd *out, char *err,
             size_t errlen)
{
    int argc = 0;

    while (argv[argc] != NULL)
        argc++;
    return jail_check_helper_argv(argc, argv, &tools, out, err, errlen);
}

START_TEST(helper_accepts_what_wrap_produces)
{
    struct jail_config cfgs[] = {
        {.name = "agents"},
        {.name = "agents", .user = "u"},
        {.path = "/jails/a"},
        {.path = "/jails/a", .ip4 = "10.0.0.2"},
        {.path = "/jails/a", .ip4 = "10.0.0.2", .user = "u"},
        {.path = "/", .user = "u"},
        {.path = "/jails/a", .tag = "colibri-0a1b2c"},
        {.path = "/jails/a", .ip4 = "10.0.0.2", .user = "u",
         .tag = "colibri-0a1b2c"},
    };
    size_t k;

    for (k = 0; k < sizeof(cfgs) / sizeof(cfgs[0]); k++) {
        struct jail_cmd wrapped, direct, gate;
        char err[256] = "";
        int i;

        ck_assert_int_eq(jail_wrap(&cfgs[k], JAIL_PRIV_HELPER, &tools,
                                   "/bin/pi", agent_argv, &wrapped, err,
                                   sizeof(err)), 0);
        ck_assert_int_eq(jail_wrap(&cfgs[k], JAIL_PRIV_NONE, &tools,
                                   "/bin/pi", agent_argv, &direct, err,
                                   sizeof(err)), 0);
        ck_assert_msg(helper_check((const char *const *)wrapped.argv, &gate, err,
                                   sizeof(err)) == 0,
                      "case %zu refused: %s", k, err);
        ck_assert_str_eq(gate.program, direct.program);
        ck_assert_int_eq(gate.argc, direct.argc);
        for (i = 0; i < direct.argc; i++)
            ck_assert_str_eq(gate.argv[i], direct.argv[i]);
        ck_assert_ptr_null(gate.argv[gate.argc]);
        jail_cmd_free(&wrapped);
        jail_cmd_free(&direct);
        jail_cmd_free(&gate);
    }
}
END_TEST

/* Asserts the helper refuses argv with a reason containing what. */
static void
helper_refuses(const char *what, ...)
{
    const char *argv[32];
    struct jail_cmd cmd = {0};
    char err[256] = "";
    va_list ap;
    int argc = 0;
    const char *s;

    va_start(ap, what);
    while ((s = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = s;
    va_end(ap);
    argv[argc] = NULL;
    ck_assert_int_eq(jail_check_helper_argv(argc, argv, &tools, &cmd, err,
                                            sizeof(err)), -1);
    ck_assert_ptr_null(cmd.program);
    ck_assert_msg(strstr(err, what) != NULL, "reason '%s' lacks '%s'", err,
                  what);
}

START_TEST(helper_refuses_everything_else)
{
    helper_refuses("usage", "h", NULL);
    helper_refuses("only the jexec and jail", "h", "sh", "-c", "id", NULL);
    helper_refuses("only the jexec and jail", "h", "/usr/sbin/jexec", "j",
                   "sh", NULL);
    helper_refuses("only the jexec and jail", "h", "jls", NULL);
    helper_refuses("missing jail name", "h", "jexec", NULL);
    helper_refuses("missing command", "h", "jexec", "j", NULL);
    helper_refuses("jail name", "h", "jexec", "-l", "j", "sh", NULL);
    helper_refuses("jail name", "h", "jexec", "j k", "sh", NULL);
    helper_refuses("-U needs", "h", "jexec", "-U", NULL);
    helper_refuses("jail user", "h", "jexec", "-U", "-x", "j", "sh", NULL);
    helper_refuses("command", "h", "jexec", "j", "-sh", NULL);
    helper_refuses("tag must start", "h", "jail", "-r", "j", NULL);
    helper_refuses("tag must start", "h", "jail", "-r", "colibri-", NULL);
    helper_refuses("exactly one", "h", "jail", "-r", NULL);
    helper_refuses("exactly one", "h", "jail", "-r", "colibri-a", "x",
                   NULL);
    helper_refuses("jail name", "h", "jail", "-r", "colibri-a b", NULL);
    helper_refuses("only 'jail -c' and 'jail -r'", "h", "jail", "-m",
                   "colibri-a", NULL);
    helper_refuses("only 'jail -c'", "h", "jail", "path=/j",
                   "command=/bin/sh", NULL);
    helper_refuses("tag must start", "h", "jail", "-c", "name=x",
                   "path=/j", "command=/bin/sh", NULL);
    helper_refuses("expected command", "h", "jail", "-c", "path=/j",
                   "name=colibri-a", "command=/bin/sh", NULL);
    helper_refuses("expected path", "h", "jail", "-c", NULL);
    helper_refuses("absolute", "h", "jail", "-c", "path=j",
                   "command=/bin/sh", NULL);
    helper_refuses("..", "h", "jail", "-c", "path=/j/..",
                   "command=/bin/sh", NULL);
    helper_refuses("IPv4", "h", "jail", "-c", "path=/j", "ip4.addr=1.2",
                   "command=/bin/sh", NULL);
    helper_refuses("expected command", "h", "jail", "-c", "path=/j",
                   "ip6.addr=::1", "command=/bin/sh", NULL);
    helper_refuses("expected command", "h", "jail", "-c", "path=/j",
                   "persist", "command=/bin/sh", NULL);
    helper_refuses("expected command", "h", "jail", "-c", "path=/j",
                   "/bin/sh", NULL);
    helper_refuses("missing command", "h", "jail", "-c", "path=/j", NULL);
    helper_refuses("command", "h", "jail", "-c", "path=/j", "command=",
                   NULL);
    helper_refuses("command", "h", "jail", "-c", "path=/j", "command=-x",
                   NULL);
    helper_refuses("jail user", "h", "jail", "-c", "-U", "a b", "path=/j",
                   "command=/bin/sh", NULL);
}
END_TEST

START_TEST(path_with_tag_names_the_jail)
{
    struct jail_config cfg = {.path = "/j", .tag = "colibri-00ff"};
    struct jail_config user = {.path = "/j", .ip4 = "10.0.0.2", .user = "u",
                               .tag = "colibri-00ff"};
    struct jail_config named = {.name = "agents", .path = "/j",
                                .tag = "colibri-00ff"};
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_wrap(&cfg, JAIL_PRIV_NONE, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jail", "/t/jail", "-c", "name=colibri-00ff",
               "path=/j", "command=/bin/pi", "--mode", "json", "-p",
               "hello world", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_wrap(&user, JAIL_PRIV_MDO, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/mdo", "/t/mdo", "/t/jail", "-c", "-U", "u",
               "name=colibri-00ff", "path=/j", "ip4.addr=10.0.0.2",
               "command=/bin/pi", "--mode", "json", "-p", "hello world",
               NULL);
    jail_cmd_free(&cmd);
    /* The name form enters a persistent jail: the tag plays no part. */
    ck_assert_int_eq(jail_wrap(&named, JAIL_PRIV_NONE, &tools, "/bin/pi",
                               agent_argv, &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jexec", "/t/jexec", "agents", "/bin/pi", "--mode",
               "json", "-p", "hello world", NULL);
    jail_cmd_free(&cmd);
}
END_TEST

START_TEST(bad_tags_refused)
{
    static const char *const bad[] = {
        "x", "colibri-", "colibri", "colibri-a b", "colibri-a..b",
        "Colibri-a", "-colibri-a",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jail_config cfg = {.path = "/j", .tag = bad[i]};
        struct jail_cmd cmd = {0};
        char err[256] = "";

        expect_refused(&cfg, JAIL_PRIV_NONE, "/bin/pi", "jail");
        ck_assert_int_eq(jail_probe_cmd(&tools, bad[i], &cmd, err,
                                        sizeof(err)), -1);
        ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_MDO, &tools, bad[i], &cmd,
                                         err, sizeof(err)), -1);
        ck_assert_ptr_null(cmd.program);
    }
}
END_TEST

START_TEST(probe_and_remove_commands)
{
    struct jail_tools rel = tools;
    struct jail_cmd cmd;
    char err[256];

    ck_assert_int_eq(jail_probe_cmd(&tools, "colibri-ab", &cmd, err,
                                    sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jls", "/t/jls", "-j", "colibri-ab", "jid", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_probe_cmd(NULL, "colibri-ab", &cmd, err,
                                    sizeof(err)), 0);
    expect_cmd(&cmd, JAIL_DEFAULT_JLS, JAIL_DEFAULT_JLS, "-j", "colibri-ab",
               "jid", NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_MDO, &tools, "colibri-ab",
                                     &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/mdo", "/t/mdo", "/t/jail", "-r", "colibri-ab",
               NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_HELPER, &tools, "colibri-ab",
                                     &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/helper", "/t/helper", "jail", "-r", "colibri-ab",
               NULL);
    jail_cmd_free(&cmd);
    ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_NONE, &tools, "colibri-ab",
                                     &cmd, err, sizeof(err)), 0);
    expect_cmd(&cmd, "/t/jail", "/t/jail", "-r", "colibri-ab", NULL);
    jail_cmd_free(&cmd);
    /* What the helper mode produces, the helper's gate accepts, and it
     * runs the absolute jail -r. */
    {
        const char *argv[] = {"/t/helper", "jail", "-r", "colibri-ab", NULL};

        ck_assert_int_eq(jail_check_helper_argv(4, argv, &tools, &cmd, err,
                                                sizeof(err)), 0);
        expect_cmd(&cmd, "/t/jail", "/t/jail", "-r", "colibri-ab", NULL);
        jail_cmd_free(&cmd);
    }
    rel.jls = "jls";
    ck_assert_int_eq(jail_probe_cmd(&rel, "colibri-ab", &cmd, err,
                                    sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "absolute"));
    rel = tools;
    rel.jail = "jail";
    ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_MDO, &rel, "colibri-ab", &cmd,
                                     err, sizeof(err)), -1);
    ck_assert_int_eq(jail_remove_cmd(JAIL_PRIV_NONE, &rel, "colibri-ab",
                                     &cmd, err, sizeof(err)), -1);
}
END_TEST

START_TEST(cmd_free_accepts_null)
{
    struct jail_cmd empty = {0};

    jail_cmd_free(NULL);
    jail_cmd_free(&empty);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("jail");
    TCase *tc = tcase_create("jail");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, no_jail_leaves_argv_unchanged);
    tcase_add_test(tc, name_uses_jexec_without_l);
    tcase_add_test(tc, name_with_user);
    tcase_add_test(tc, path_is_ephemeral_jail);
    tcase_add_test(tc, path_with_ip4_and_user);
    tcase_add_test(tc, path_with_user_only);
    tcase_add_test(tc, name_wins_over_path);
    tcase_add_test(tc, priv_mdo_prefixes_mdo);
    tcase_add_test(tc, priv_helper_prefixes_helper_and_keyword);
    tcase_add_test(tc, priv_none_and_default_tools);
    tcase_add_test(tc, relative_tools_refused);
    tcase_add_test(tc, priv_parse);
    tcase_add_test(tc, name_refusals);
    tcase_add_test(tc, path_refusals);
    tcase_add_test(tc, ip4_refusals);
    tcase_add_test(tc, user_refusals);
    tcase_add_test(tc, wrap_refuses_every_bad_field);
    tcase_add_test(tc, config_wanted);
    tcase_add_test(tc, helper_accepts_what_wrap_produces);
    tcase_add_test(tc, helper_refuses_everything_else);
    tcase_add_test(tc, path_with_tag_names_the_jail);
    tcase_add_test(tc, bad_tags_refused);
    tcase_add_test(tc, probe_and_remove_commands);
    tcase_add_test(tc, cmd_free_accepts_null);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
