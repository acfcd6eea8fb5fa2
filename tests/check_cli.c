/*
 * check_cli.c - cli.c, cli_client.c, cli_format.c without a daemon:
 * commands resolved from the table, arguments typed by their specs,
 * HTTP targets built from the table, exit statuses, and the layouts.
 */
#include "autoconf.h"

#include <stdint.h>

#include "src/cli.h"
#include "src/cli_client.h"
#include "src/cli_events.h"
#include "src/cli_format.h"
#include "src/config.h"
#include "testutil.h"

/* Parses a command line given as one string of words split at spaces;
 * returns the arguments (borrowed from cmd) or NULL with err. */
static int
parse(struct cli_command *cmd, const char *line, char *err, size_t errlen)
{
    char *copy = xstrdup(line), *argv[32], *p, *save = NULL;
    int argc = 0, rc;

    for (p = strtok_r(copy, " ", &save); p != NULL && argc < 31;
         p = strtok_r(NULL, " ", &save))
        argv[argc++] = p;
    argv[argc] = NULL;
    rc = cli_parse(argc, argv, stdin, cmd, err, errlen);
    free(copy);
    return rc;
}

static void
expect(const char *line, const char *op, const char *args_json)
{
    struct cli_command cmd;
    char err[512];
    json_t *want = json_loads(args_json, 0, NULL);

    ck_assert_ptr_nonnull(want);
    ck_assert_msg(parse(&cmd, line, err, sizeof(err)) == 0, "%s: %s", line,
                  err);
    ck_assert_ptr_nonnull(cmd.op);
    ck_assert_str_eq(cmd.op->name, op);
    if (!json_equal(cmd.args, want)) {
        char *got = json_dumps(cmd.args, JSON_COMPACT | JSON_SORT_KEYS);

        ck_abort_msg("%s: args %s, not %s", line, got, args_json);
    }
    json_decref(want);
    cli_command_free(&cmd);
}

static void
refuse(const char *line, const char *fragment)
{
    struct cli_command cmd;
    char err[512];

    ck_assert_msg(parse(&cmd, line, err, sizeof(err)) < 0, "%s parsed",
                  line);
    ck_assert_msg(strstr(err, fragment) != NULL, "%s: '%s' lacks '%s'",
                  line, err, fragment);
    cli_command_free(&cmd);
}

START_TEST(commands_come_from_the_table)
{
    expect("task claim 5 --agent me --lease-seconds 60", "task.claim",
           "{\"id\":5,\"agent\":\"me\",\"lease_seconds\":60}");
    expect("task claim 5 --agent=me --lease_seconds=60", "task.claim",
           "{\"id\":5,\"agent\":\"me\",\"lease_seconds\":60}");
    expect("task claim-next --agent me", "task.claim_next",
           "{\"agent\":\"me\"}");
    expect("task claim_next --agent me", "task.claim_next",
           "{\"agent\":\"me\"}");
    expect("task.get 3", "task.get", "{\"id\":3}");
    expect("GetTask 3", "task.get", "{\"id\":3}");
    expect("task dep-remove 4 2", "task.dep_remove",
           "{\"id\":4,\"depends_on\":2}");
    expect("system health", "system.health", "{}");
    expect("task list --json", "task.list", "{}");
}
END_TEST

START_TEST(shorthands)
{
    expect("task add Hello --body text --priority 1", "task.create",
           "{\"title\":\"Hello\",\"body\":\"text\",\"priority\":1}");
    expect("task ls --status todo,done", "task.list",
           "{\"status\":\"todo,done\"}");
    expect("task show 7", "task.get", "{\"id\":7}");
    expect("task done 7 --agent a", "task.complete",
           "{\"id\":7,\"agent\":\"a\"}");
    expect("task dep add 3 1", "task.dep_add",
           "{\"id\":3,\"depends_on\":1}");
    expect("task dep rm 3 1", "task.dep_remove",
           "{\"id\":3,\"depends_on\":1}");
    /* Every shorthand names a noun.verb operation. */
    {
        size_t i;

        for (i = 0; i < cli_shorthand_count; i++)
            ck_assert_ptr_nonnull(strchr(cli_shorthands[i].op, '.'));
    }
}
END_TEST

START_TEST(values_take_their_declared_types)
{
    /* Lists: repeats and commas; ints in lists parsed. */
    expect("task create --title t --labels a,b --labels c "
           "--depends-on 1,2 --depends-on 3", "task.create",
           "{\"title\":\"t\",\"labels\":[\"a\",\"b\",\"c\"],"
           "\"depends_on\":[1,2,3]}");
    /* Booleans: a flag, =value, a following true/false, --no-. */
    expect("task list --ready", "task.list", "{\"ready\":true}");
    expect("task list --ready=false", "task.list", "{\"ready\":false}");
    expect("task list --ready false", "task.list", "{\"ready\":false}");
    expect("task list --no-ready", "task.list", "{\"ready\":false}");
    /* Nullable: --no-NAME is null. */
    expect("task update 2 --version 3 --no-assignee", "task.update",
           "{\"id\":2,\"version\":3,\"assignee\":null}");
    /* Any JSON. */
    expect("task complete 2 --agent a --result {\"x\":[1,null]}",
           "task.complete",
           "{\"id\":2,\"agent\":\"a\",\"result\":{\"x\":[1,null]}}");
    expect("task complete 2 --agent a --result 5", "task.complete",
           "{\"id\":2,\"agent\":\"a\",\"result\":5}");
    /* --data merges with flags. */
    expect("task create --data {\"title\":\"x\"} --priority 0",
           "task.create", "{\"title\":\"x\",\"priority\":0}");
    /* Values are not validated here: the daemon does that. */
    expect("task create --title t --priority 99", "task.create",
           "{\"title\":\"t\",\"priority\":99}");
}
END_TEST

START_TEST(usage_errors)
{
    refuse("task frobnicate", "unknown command 'task frobnicate'");
    refuse("nosuch", "unknown command 'nosuch'");
    refuse("task claim x --agent a", "takes an integer");
    refuse("task claim 1 2 --agent a", "unexpected argument '2'");
    refuse("task claim 1 --agnt a", "has no option --agnt");
    refuse("task claim 1 --agent", "needs a value");
    refuse("task claim 1 --agent a --agent b", "given twice");
    refuse("task complete 1 --agent a --result done", "JSON text");
    refuse("task create --data [1]", "JSON object");
    refuse("task create --data {\"title\":\"x\"} --title y", "given twice");
    refuse("task create --no-title", "cannot be negated");
    refuse("task create --depends-on 1,x", "takes integers");
}
END_TEST

START_TEST(noun_alone_asks_for_help)
{
    struct cli_command cmd;
    char err[256];

    ck_assert_int_eq(parse(&cmd, "task --help", err, sizeof(err)), 0);
    ck_assert_ptr_null(cmd.op);
    ck_assert_str_eq(cmd.noun, "task");
    ck_assert_int_eq(cmd.help, 1);
    cli_command_free(&cmd);
    ck_assert_int_eq(parse(&cmd, "task claim --help", err, sizeof(err)), 0);
    ck_assert_str_eq(cmd.op->name, "task.claim");
    ck_assert_int_eq(cmd.help, 1);
    cli_command_free(&cmd);
}
END_TEST

static char *
target(const char *op_name, const char *args_json, char **body)
{
    json_t *args = json_loads(args_json, 0, NULL), *b = NULL;
    char *t = cli_http_target(ops_find(op_name), args, &b);

    *body = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(b);
    json_decref(args);
    return t;
}

START_TEST(http_targets_follow_the_table)
{
    char *t, *body;

    t = target("task.claim", "{\"id\":5,\"agent\":\"me\"}", &body);
    ck_assert_str_eq(t, "/api/v1/tasks/5/claim");
    ck_assert_str_eq(body, "{\"agent\":\"me\"}");
    free(t);
    free(body);
    t = target("task.list", "{\"status\":\"todo,done\",\"label\":\"a b\","
               "\"ready\":true,\"limit\":5}", &body);
    ck_assert_str_eq(t, "/api/v1/tasks?status=todo%2Cdone&label=a%20b&"
                     "ready=true&limit=5");
    ck_assert_ptr_null(body);
    free(t);
    t = target("task.delete", "{\"id\":2,\"version\":3}", &body);
    ck_assert_str_eq(t, "/api/v1/tasks/2?version=3");
    ck_assert_ptr_null(body);
    free(t);
    t = target("task.update", "{\"id\":2,\"version\":3,\"assignee\":null}",
               &body);
    ck_assert_str_eq(t, "/api/v1/tasks/2");
    ck_assert_str_eq(body, "{\"assignee\":null,\"version\":3}");
    free(t);
    free(body);
    t = target("task.dep_remove", "{\"id\":2,\"depends_on\":1}", &body);
    ck_assert_str_eq(t, "/api/v1/tasks/2/deps/1");
    free(t);
    free(body);
    t = target("task.create", "{}", &body);
    ck_assert_str_eq(body, "{}");
    free(t);
    free(body);
}
END_TEST

START_TEST(exit_statuses)
{
    ck_assert_int_eq(cli_exit_status(404, "task_not_found"), CLI_NOT_FOUND);
    ck_assert_int_eq(cli_exit_status(409, "claim_denied"), CLI_CONFLICT);
    ck_assert_int_eq(cli_exit_status(412, "version_conflict"),
                     CLI_CONFLICT);
    ck_assert_int_eq(cli_exit_status(428, "version_required"),
                     CLI_CONFLICT);
    ck_assert_int_eq(cli_exit_status(401, "unauthorized"), CLI_REFUSED);
    ck_assert_int_eq(cli_exit_status(403, "peer_refused"), CLI_REFUSED);
    ck_assert_int_eq(cli_exit_status(0, "unreachable"), CLI_UNREACHABLE);
    ck_assert_int_eq(cli_exit_status(400, "missing_argument"), CLI_USAGE);
    ck_assert_int_eq(cli_exit_status(500, "store_error"), CLI_ERROR);
    ck_assert_int_eq(cli_exit_status(0, "bad_answer"), CLI_ERROR);
}
END_TEST

static char *
render(const char *op_name, const char *json)
{
    json_t *doc = json_loads(json, JSON_DECODE_ANY, NULL);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(doc);
    cli_format_result(f, ops_find(op_name), doc);
    fclose(f);
    json_decref(doc);
    return text;
}

START_TEST(layouts)
{
    char *out;

    out = render("task.list", "{\"items\":[{\"id\":1,\"title\":\"Write "
                 "the parser\",\"status\":\"todo\",\"priority\":1,"
                 "\"assignee\":null,\"lease\":null},{\"id\":12,\"title\":"
                 "\"\xc3\xa9t\xc3\xa9\",\"status\":\"in_progress\","
                 "\"priority\":0,\"assignee\":\"pi-1\",\"lease\":{"
                 "\"holder\":\"pi-1\",\"expires_at\":\"T\"}}],"
                 "\"next\":\"12\"}");
    ck_assert_str_eq(out,
                     "ID  STATUS       PRI  TITLE             ASSIGNEE  "
                     "LEASE\n"
                     "1   todo         1    Write the parser  -         -\n"
                     "12  in_progress  0    \xc3\xa9t\xc3\xa9"
                     "               pi-1      T\n"
                     "2 tasks (more: --after 12)\n");
    free(out);
    out = render("task.list", "{\"items\":[],\"next\":null}");
    ck_assert_str_eq(out, "no tasks\n");
    free(out);
    out = render("task.get", "{\"id\":3,\"title\":\"x\",\"body\":\"a\\nb\","
                 "\"labels\":[\"p\",\"q\"],\"ready\":false,\"result\":"
                 "{\"k\":1}}");
    ck_assert_str_eq(out, "id:     3\ntitle:  x\nlabels: p, q\nready:  no\n"
                     "result: {\"k\":1}\nbody:\n  a\n  b\n");
    free(out);
    out = render("task.claim", "{\"outcome\":\"claimed\",\"task\":{\"id\":"
                 "3}}");
    ck_assert_str_eq(out, "outcome: claimed\nid: 3\n");
    free(out);
    out = render("system.metrics", "{\"text\":\"a 1\\nb 2\"}");
    ck_assert_str_eq(out, "a 1\nb 2\n");
    free(out);
    out = render("task.delete", "null");
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

START_TEST(help_is_generated)
{
    char *text = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&text, &len);

    cli_help_overview(f);
    fclose(f);
    /* Every operation has a line, with dashes for underscores. */
    for (i = 0; i < ops_count; i++) {
        char words[128], *p;
        const char *dot = strchr(ops_table[i].name, '.');

        snprintf(words, sizeof(words), "  %.*s %s",
                 (int)(dot - ops_table[i].name), ops_table[i].name,
                 dot + 1);
        for (p = words; *p != '\0'; p++)
            if (*p == '_')
                *p = '-';
        ck_assert_msg(strstr(text, words) != NULL, "no '%s' in help",
                      words);
    }
    free(text);
    text = NULL;
    f = open_memstream(&text, &len);
    ck_assert_int_eq(cli_help_noun(f, "task"), 0);
    ck_assert_int_eq(cli_help_noun(f, "nosuchnoun"), -1);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "colibri task claim ID --agent TEXT "
                                       "[--lease-seconds N]"));
    ck_assert_ptr_nonnull(strstr(text, "task add TITLE"));
    free(text);
}
END_TEST

START_TEST(default_socket_is_the_daemons)
{
    char *path;

    /* From a build tree, as colibrid computes it (src/config.c). */
    setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
    path = config_default_socket_path("./colibri", "./var");
    ck_assert_str_eq(path, "/run/user/4242/colibri/colibri.sock");
    free(path);
    setenv("XDG_RUNTIME_DIR", "relative", 1);
    path = config_default_socket_path("./colibri", "./var");
    ck_assert_str_eq(path, "./var/colibri.sock");
    free(path);
    unsetenv("XDG_RUNTIME_DIR");
    path = config_default_socket_path("/no/such/dir/colibri", "/d");
    ck_assert_str_eq(path, "/d/colibri.sock");
    free(path);
    path = config_default_data_dir("./colibri");
    ck_assert_str_eq(path, "./var");
    free(path);
}
END_TEST

/* colibri ingest sizes its socket batches by the escaped length of the
 * lines; colibri events prints one line per event. */
START_TEST(stream_helpers)
{
    static const char *const samples[] = {
        "plain", "{\"type\":\"x\",\"t\":\"a\\\\b\"}", "tab\there\r",
        "\x01\x1f ctl", "caf\xc3\xa9 \xe2\x80\xa8 /slash/", ""
    };
    json_t *ev;
    char *line;
    size_t i;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        json_t *str = json_string(samples[i]);
        char *dump = json_dumps(str, JSON_ENCODE_ANY);

        ck_assert_ptr_nonnull(dump);
        ck_assert_uint_eq(cli_json_escaped_len(samples[i],
                                               strlen(samples[i])) + 2,
                          strlen(dump));
        free(dump);
        json_decref(str);
    }

    ev = json_loads("{\"id\":4,\"time\":\"2026-01-02T03:04:05.006Z\","
                    "\"type\":\"agent.state\",\"subject\":\"agent:pi-1\","
                    "\"agent\":\"pi-1\",\"data\":{\"agent\":\"pi-1\","
                    "\"from\":\"working\",\"to\":\"done\",\"reason\":"
                    "\"stop\",\"substate\":null}}", 0, NULL);
    line = cli_event_human(ev);
    ck_assert_str_eq(line, "2026-01-02T03:04:05.006Z  agent.state      "
                           "agent:pi-1     pi-1           working -> done "
                           "(stop)");
    free(line);
    json_decref(ev);
    ev = json_loads("{\"id\":5,\"time\":\"T\",\"type\":\"task.deleted\","
                    "\"subject\":\"task:9\",\"agent\":null,\"data\":"
                    "{\"id\":9}}", 0, NULL);
    line = cli_event_human(ev);
    ck_assert_str_eq(line, "T  task.deleted     task:9         -              "
                           "{\"id\":9}");
    free(line);
    json_decref(ev);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, commands_come_from_the_table);
    tcase_add_test(tc, shorthands);
    tcase_add_test(tc, values_take_their_declared_types);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, noun_alone_asks_for_help);
    tcase_add_test(tc, http_targets_follow_the_table);
    tcase_add_test(tc, exit_statuses);
    tcase_add_test(tc, layouts);
    tcase_add_test(tc, help_is_generated);
    tcase_add_test(tc, default_socket_is_the_daemons);
    tcase_add_test(tc, stream_helpers);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
