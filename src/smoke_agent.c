/*
 * smoke_agent.c - colibri-smoke-agent: a scripted fake agent that prints
 * pi-style JSONL (pi --mode json) on stdout, so tests and demos can run
 * the spawner and the glasspane without a model.
 *
 *   colibri-smoke-agent [--scenario NAME] [--delay-ms N] [--lines N]
 *                       [--ignore-term]
 *
 * Scenarios (what the glasspane should conclude):
 *   ok          one text answer, stopReason "stop"            -> done
 *   tool        a tool call, then an answer                   -> done
 *   error       the provider fails, no retry, exit 0 like pi  -> error
 *   retry-fail  fails, auto_retry_start twice, gives up       -> error
 *   slow        ok, with --delay-ms (default 200) per event   -> done
 *   crash       starts a turn, then exits 1 mid-run           -> error
 *   hang        starts a turn and never finishes              (working)
 *   block       asks a confirm dialog and waits forever       (blocked)
 *   fork        leaves a setsid() grandchild, then hangs      (working)
 *   orphan      leaves a setsid() grandchild (which hangs), then
 *               answers like ok and exits 0                   -> done
 *   chatty      exactly --lines N lines (default 1000, at least 6): a
 *               turn streamed as N-6 text deltas, --delay-ms apart;
 *               every line ends with "seq":K, K = 0..N-1, so a reader
 *               can tell a lost or reordered line               -> done
 *
 * COLIBRI_AGENT_ID and COLIBRI_TASK_ID, when set, are echoed in a
 * "colibri" object on the session and agent_start events (unknown fields
 * are ignored by the glasspane).  SIGTERM ends the run with status 143,
 * unless --ignore-term (for kill-escalation tests).  Every line is
 * flushed as it is written: stdout is a pipe to the supervisor.
 */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define USAGE_ZERO                                                      \
    "{\"input\":0,\"output\":0,\"cacheRead\":0,\"cacheWrite\":0,"       \
    "\"totalTokens\":0,\"cost\":{\"input\":0,\"output\":0,"             \
    "\"cacheRead\":0,\"cacheWrite\":0,\"total\":0}}"
#define USAGE_ANSWER                                                    \
    "{\"input\":120,\"output\":8,\"cacheRead\":96,\"cacheWrite\":24,"   \
    "\"totalTokens\":248,\"cost\":{\"input\":0.00012,\"output\":"       \
    "0.000016,\"cacheRead\":0.0000096,\"cacheWrite\":0.00003,"          \
    "\"total\":0.0001756}}"

static long delay_ms;

#define CHATTY_MIN_LINES 6      /* the fixed lines around the deltas */

static void emit(const char *line);
static void ids_member(char *ids, size_t len);
static void pause_ms(long ms);
static void json_string(const char *s, char *out, size_t outlen);
static void emit_start(void);
static void emit_user(const char *text);
static void emit_assistant(const char *text, const char *stop,
                           const char *error);
static void emit_end(const char *stop, const char *error);
static void on_term(int sig);
static void hang(void);
static void chatty(long lines);
static void usage(void);

static void
emit(const char *line)
{
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    pause_ms(delay_ms);
}

/* Sleeps ms milliseconds, resuming after signals that do not end us. */
static void
pause_ms(long ms)
{
    struct timespec ts, rem;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
        ts = rem;
}

/* s as a JSON string literal (quoted) into out; truncated if too long. */
static void
json_string(const char *s, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen < 3)
        return;
    out[o++] = '"';
    for (; *s != '\0' && o + 8 < outlen; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* "colibri":{"agent_id":..,"task_id":..} from the environment. */
static void
ids_member(char *ids, size_t len)
{
    const char *agent = getenv("COLIBRI_AGENT_ID");
    const char *task = getenv("COLIBRI_TASK_ID");
    char a[256] = "null", t[256] = "null";

    if (agent != NULL)
        json_string(agent, a, sizeof(a));
    if (task != NULL)
        json_string(task, t, sizeof(t));
    snprintf(ids, len, "\"colibri\":{\"agent_id\":%s,\"task_id\":%s}", a,
             t);
}

/* The session header and agent_start, carrying the injected ids. */
static void
emit_start(void)
{
    char ids[600], line[1024];

    ids_member(ids, sizeof(ids));
    snprintf(line, sizeof(line),
             "{\"type\":\"session\",\"version\":3,\"id\":\"smoke-%ld\","
             "\"cwd\":\"/\",%s}", (long)getpid(), ids);
    emit(line);
    snprintf(line, sizeof(line), "{\"type\":\"agent_start\",%s}", ids);
    emit(line);
    emit("{\"type\":\"turn_start\"}");
}

static void
emit_user(const char *text)
{
    char line[512];

    snprintf(line, sizeof(line),
             "{\"type\":\"message_start\",\"message\":{\"role\":\"user\","
             "\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}}", text);
    emit(line);
    snprintf(line, sizeof(line),
             "{\"type\":\"message_end\",\"message\":{\"role\":\"user\","
             "\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}}", text);
    emit(line);
}

/* An assistant message: start, one text delta, end (with usage), then
 * turn_end.  error, when set, becomes errorMessage. */
static void
emit_assistant(const char *text, const char *stop, const char *error)
{
    char msg[1024], line[2048], err[300] = "";

    if (error != NULL)
        snprintf(err, sizeof(err), ",\"errorMessage\":\"%s\"", error);
    snprintf(msg, sizeof(msg),
             "{\"role\":\"assistant\",\"content\":[%s%s%s],"
             "\"api\":\"openai-completions\",\"provider\":\"smoke\","
             "\"model\":\"smoke-1\",\"usage\":%s,\"stopReason\":\"%s\"%s}",
             text != NULL ? "{\"type\":\"text\",\"text\":\"" : "",
             text != NULL ? text : "", text != NULL ? "\"}" : "",
             error != NULL ? USAGE_ZERO : USAGE_ANSWER, stop, err);
    snprintf(line, sizeof(line),
             "{\"type\":\"message_start\",\"message\":%s}", msg);
    emit(line);
    if (text != NULL) {
        snprintf(line, sizeof(line),
                 "{\"type\":\"message_update\",\"assistantMessageEvent\":"
                 "{\"type\":\"text_delta\",\"contentIndex\":0,"
                 "\"delta\":\"%s\"},\"message\":%s}", text, msg);
        emit(line);
    }
    snprintf(line, sizeof(line),
             "{\"type\":\"message_end\",\"message\":%s}", msg);
    emit(line);
    snprintf(line, sizeof(line),
             "{\"type\":\"turn_end\",\"message\":%s,\"toolResults\":[]}",
             msg);
    emit(line);
}

static void
emit_end(const char *stop, const char *error)
{
    char line[512], err[300] = "";

    if (error != NULL)
        snprintf(err, sizeof(err), ",\"errorMessage\":\"%s\"", error);
    snprintf(line, sizeof(line),
             "{\"type\":\"agent_end\",\"messages\":[{\"role\":\"assistant\","
             "\"content\":[],\"stopReason\":\"%s\"%s}]}", stop, err);
    emit(line);
}

static void
on_term(int sig)
{
    (void)sig;
    _exit(143);
}

static void
hang(void)
{
    for (;;)
        pause();
}

/*
 * The chatty scenario (benchmarks: many agents streaming at once): lines
 * lines in all, each tagged with its sequence number as its last field
 * (after "type", so the glasspane's fast path still sees the type first;
 * unknown fields are ignored).  Six fixed lines frame lines - 6 deltas.
 */
static void
chatty(long lines)
{
    char ids[600], line[1024];
    long seq = 0, i;

    ids_member(ids, sizeof(ids));
    snprintf(line, sizeof(line),
             "{\"type\":\"session\",\"version\":3,\"id\":\"smoke-%ld\","
             "\"cwd\":\"/\",%s,\"seq\":%ld}", (long)getpid(), ids, seq++);
    emit(line);
    snprintf(line, sizeof(line), "{\"type\":\"agent_start\",%s,\"seq\":%ld}",
             ids, seq++);
    emit(line);
    snprintf(line, sizeof(line), "{\"type\":\"turn_start\",\"seq\":%ld}",
             seq++);
    emit(line);
    for (i = 0; i < lines - CHATTY_MIN_LINES; i++) {
        snprintf(line, sizeof(line),
                 "{\"type\":\"message_update\",\"assistantMessageEvent\":"
                 "{\"type\":\"text_delta\",\"contentIndex\":0,\"delta\":"
                 "\"chunk %ld \"},\"seq\":%ld}", i, seq++);
        emit(line);
    }
    snprintf(line, sizeof(line),
             "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\","
             "\"content\":[{\"type\":\"text\",\"text\":\"chatty\"}],"
             "\"provider\":\"smoke\",\"model\":\"smoke-1\",\"usage\":%s,"
             "\"stopReason\":\"stop\"},\"seq\":%ld}", USAGE_ANSWER, seq++);
    emit(line);
    snprintf(line, sizeof(line),
             "{\"type\":\"turn_end\",\"message\":{\"role\":\"assistant\","
             "\"content\":[],\"stopReason\":\"stop\"},\"toolResults\":[],"
             "\"seq\":%ld}", seq++);
    emit(line);
    snprintf(line, sizeof(line),
             "{\"type\":\"agent_end\",\"messages\":[{\"role\":\"assistant\","
             "\"content\":[],\"stopReason\":\"stop\"}],\"seq\":%ld}", seq++);
    emit(line);
}

static void
usage(void)
{
    fputs("usage: colibri-smoke-agent [--scenario ok|tool|error|retry-fail|"
          "slow|crash|hang|block|fork|orphan|chatty] [--delay-ms N] "
          "[--lines N] [--ignore-term]\n", stderr);
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *scenario = "ok";
    int ignore_term = 0, i;
    long lines = 1000;
    struct sigaction sa;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
            scenario = argv[++i];
        } else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
            char *end;

            delay_ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || delay_ms < 0 || delay_ms > 600000)
                usage();
        } else if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc) {
            char *end;

            lines = strtol(argv[++i], &end, 10);
            if (*end != '\0' || lines < CHATTY_MIN_LINES || lines > 10000000)
                usage();
        } else if (strcmp(argv[i], "--ignore-term") == 0) {
            ignore_term = 1;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage();
        } else if (argv[i][0] == '-') {
            usage();
        }
        /* Other words are the prompt; the smoke agent ignores it. */
    }
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = ignore_term ? SIG_IGN : on_term;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (strcmp(scenario, "slow") == 0 && delay_ms == 0)
        delay_ms = 200;

    if (strcmp(scenario, "ok") == 0 || strcmp(scenario, "slow") == 0) {
        emit_start();
        emit_user("Say hello");
        emit_assistant("Hello from the smoke agent", "stop", NULL);
        emit_end("stop", NULL);
    } else if (strcmp(scenario, "tool") == 0) {
        emit_start();
        emit_user("List files");
        emit("{\"type\":\"tool_execution_start\",\"toolCallId\":\"t1\","
             "\"toolName\":\"bash\",\"args\":{\"command\":\"ls\"}}");
        emit("{\"type\":\"tool_execution_end\",\"toolCallId\":\"t1\","
             "\"toolName\":\"bash\",\"result\":{\"content\":[{\"type\":"
             "\"text\",\"text\":\"README.md\"}]},\"isError\":false}");
        emit("{\"type\":\"turn_start\"}");
        emit_assistant("There is a README.md", "stop", NULL);
        emit_end("stop", NULL);
    } else if (strcmp(scenario, "error") == 0) {
        emit_start();
        emit_user("Say hello");
        emit_assistant(NULL, "error", "503 Service unavailable (smoke)");
        emit_end("error", "503 Service unavailable (smoke)");
        /* pi settles a failed run with auto_retry_end when retries are
         * off too; say so, so the state is error without a timeout. */
        emit("{\"type\":\"auto_retry_end\",\"success\":false,\"attempt\":0,"
             "\"finalError\":\"503 Service unavailable (smoke)\"}");
    } else if (strcmp(scenario, "retry-fail") == 0) {
        int attempt;

        emit_start();
        emit_user("Say hello");
        for (attempt = 1; attempt <= 3; attempt++) {
            char line[256];

            if (attempt > 1) {
                emit("{\"type\":\"agent_start\"}");
                emit("{\"type\":\"turn_start\"}");
            }
            emit_assistant(NULL, "error", "503 Service unavailable (smoke)");
            emit_end("error", "503 Service unavailable (smoke)");
            if (attempt < 3) {
                snprintf(line, sizeof(line),
                         "{\"type\":\"auto_retry_start\",\"attempt\":%d,"
                         "\"maxAttempts\":2,\"delayMs\":10,\"errorMessage\":"
                         "\"503 Service unavailable (smoke)\"}", attempt);
                emit(line);
            }
        }
        emit("{\"type\":\"auto_retry_end\",\"success\":false,\"attempt\":2,"
             "\"finalError\":\"503 Service unavailable (smoke)\"}");
    } else if (strcmp(scenario, "crash") == 0) {
        emit_start();
        emit_user("Say hello");
        fputs("smoke agent: crashing mid-run\n", stderr);
        return 1;
    } else if (strcmp(scenario, "hang") == 0) {
        emit_start();
        emit_user("Say hello");
        hang();
    } else if (strcmp(scenario, "block") == 0) {
        emit_start();
        emit_user("Run a command");
        emit("{\"type\":\"extension_ui_request\",\"id\":\"smoke-confirm\","
             "\"method\":\"confirm\",\"title\":\"Allow bash command?\","
             "\"message\":\"echo gated\",\"timeout\":600000}");
        hang();
    } else if (strcmp(scenario, "chatty") == 0) {
        chatty(lines);
    } else if (strcmp(scenario, "fork") == 0 ||
               strcmp(scenario, "orphan") == 0) {
        pid_t pid = fork();

        if (pid == 0) {
            /* A grandchild that leaves the process group and session. */
            setsid();
            if (fork() == 0) {
                printf("{\"type\":\"smoke_grandchild\",\"pid\":%ld}\n",
                       (long)getpid());
                fflush(stdout);
                hang();
            }
            _exit(0);
        }
        emit_start();
        emit_user("Say hello");
        if (strcmp(scenario, "fork") == 0)
            hang();
        emit_assistant("Hello from the smoke agent", "stop", NULL);
        emit_end("stop", NULL);
    } else {
        fprintf(stderr, "colibri-smoke-agent: unknown scenario '%s'\n",
                scenario);
        usage();
    }
    return 0;
}
