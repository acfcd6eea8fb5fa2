/*
 * colibri_probe.c - colibri-probe: sends N chat completions that share
 * one long prefix to a provider (DeepSeek by default) and reports, per
 * request, the prompt tokens the provider served from its cache (hit)
 * and the ones it did not (miss), the hit ratio and the cost; --record
 * files each result into the daemon's metering.
 *
 * The arithmetic lives in probe.c (unit-tested); this file is flags,
 * libcurl (TLS verification always on), retries and output.  Exit
 * statuses are documented in colibri-probe(1) and below.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>

#include "cli_client.h"
#include "config.h"
#include "ops.h"
#include "probe.h"
#include "util.h"

/* Exit statuses (colibri-probe(1)); scripts rely on them. */
enum probe_exit {
    PROBE_OK = 0,
    PROBE_ERROR = 1,            /* anything else */
    PROBE_USAGE = 2,            /* bad flags, no API key */
    PROBE_NETWORK = 3,          /* DNS, connect, timeout (after retries) */
    PROBE_TLS = 4,              /* TLS handshake or certificate */
    PROBE_AUTH = 5,             /* 401/403: the key was refused */
    PROBE_RATE_LIMITED = 6,     /* 429 after every retry */
    PROBE_BAD_ANSWER = 7,       /* malformed JSON, no usage fields */
    PROBE_HTTP = 8,             /* another HTTP error (5xx after retries) */
    PROBE_DAEMON = 9            /* --record, --prompt-kind: the daemon
                                 * refused or is away */
};

#define PROBE_ANSWER_CAP    (4 * 1024 * 1024)   /* one provider answer */
#define PROBE_HEADER_CAP    256                 /* Retry-After kept */
#define PROBE_MAX_REQUESTS  1000
#define PROBE_KEY_CAP       4096

struct probe_opts {
    const char *base_url;
    const char *api_key_file;
    const char *model;
    const char *provider;
    const char *prefix_file;
    const char *cacert;
    long prefix_bytes;
    long n;
    long max_tokens;
    long connect_timeout;       /* seconds */
    long timeout;               /* seconds, whole request */
    long retries;
    long retry_delay_ms;
    long retry_max_ms;
    struct probe_prices prices;
    int json;
    int record;
    const char *socket_path;
    const char *url;
    const char *token_file;
    const char *agent;
    const char *prompt_kind;    /* prefix from the daemon's prompt.assemble */
    long prompt_task;           /* 0: none */
};

/* One answer from the provider. */
struct answer {
    struct buf body;
    char retry_after[PROBE_HEADER_CAP];
    int too_large;
};

static void
usage(FILE *out)
{
    fprintf(out,
"usage: colibri-probe [--base-url URL] [--api-key-file FILE] [-n N]\n"
"                     [--model NAME] [--prefix-file FILE | --prefix-bytes N]\n"
"                     [--price-input USD --price-cache-hit USD\n"
"                      --price-output USD] [--json]\n"
"                     [--record [--socket PATH | --url URL\n"
"                      [--token-file FILE]] [--agent ID]]\n"
"Sends N chat completions sharing one prefix and reports the provider's\n"
"prompt-cache hits and misses per request (colibri-probe(1)).\n"
"  --base-url URL         provider API base\n"
"                         (default https://api.deepseek.com)\n"
"  --api-key-file FILE    API key (default: $DEEPSEEK_API_KEY)\n"
"  -n, --requests N       requests to send (default 3, at most %d)\n"
"  --model NAME           model (default deepseek-chat)\n"
"  --provider NAME        provider name recorded (default deepseek)\n"
"  --prefix-file FILE     the shared system message (default: built in)\n"
"  --prefix-bytes N       size of the built-in prefix (default 8192)\n"
"  --prompt-kind KIND     the prefix: regions 1+2 of the daemon's\n"
"                         prompt.assemble for agent kind KIND\n"
"  --prompt-task ID       ... with task ID as region 2\n"
"  --max-tokens N         completion tokens per request (default 8)\n"
"  --connect-timeout S    seconds to connect (default 10)\n"
"  --timeout S            seconds per request in all (default 120)\n"
"  --retries N            retries on 429, 5xx, transport errors (default 3)\n"
"  --retry-delay-ms MS    first backoff, doubled per retry (default 1000)\n"
"  --retry-max-ms MS      longest wait, caps Retry-After (default 30000)\n"
"  --cacert FILE          PEM bundle to verify the provider with\n"
"  --price-input USD      price per 1M prompt tokens missed by the cache\n"
"  --price-cache-hit USD  price per 1M prompt tokens served from cache\n"
"  --price-output USD     price per 1M completion tokens\n"
"  --json                 one JSON document instead of lines\n"
"  --record               file each result into the daemon's metering\n"
"  --socket PATH, --url URL, --token-file FILE   reach the daemon as\n"
"                         colibri(1) does\n"
"  --agent ID             agent the metering rows are filed under\n",
            PROBE_MAX_REQUESTS);
}

static int
parse_long(const char *flag, const char *s, long min, long max, long *out)
{
    long long v;

    if (util_parse_ll(s, min, max, &v) < 0) {
        fprintf(stderr, "colibri-probe: %s takes an integer from %ld to "
                "%ld, not '%s'\n", flag, min, max, s);
        return -1;
    }
    *out = (long)v;
    return 0;
}

static int
parse_price(const char *flag, const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(*out >= 0) ||
        *out > 1e6) {
        fprintf(stderr, "colibri-probe: %s takes a price in USD per "
                "million tokens (a number >= 0), not '%s'\n", flag, s);
        return -1;
    }
    return 0;
}

enum {
    F_BASE_URL = 256, F_API_KEY_FILE, F_MODEL, F_PROVIDER, F_PREFIX_FILE,
    F_PREFIX_BYTES, F_MAX_TOKENS, F_CONNECT_TIMEOUT, F_TIMEOUT, F_RETRIES,
    F_RETRY_DELAY, F_RETRY_MAX, F_CACERT, F_PRICE_INPUT, F_PRICE_HIT,
    F_PRICE_OUTPUT, F_JSON, F_RECORD, F_SOCKET, F_URL, F_TOKEN_FILE,
    F_AGENT, F_PROMPT_KIND, F_PROMPT_TASK, F_VERSION
};

static const struct option long_options[] = {
    {"base-url", required_argument, NULL, F_BASE_URL},
    {"api-key-file", required_argument, NULL, F_API_KEY_FILE},
    {"requests", required_argument, NULL, 'n'},
    {"model", required_argument, NULL, F_MODEL},
    {"provider", required_argument, NULL, F_PROVIDER},
    {"prefix-file", required_argument, NULL, F_PREFIX_FILE},
    {"prefix-bytes", required_argument, NULL, F_PREFIX_BYTES},
    {"max-tokens", required_argument, NULL, F_MAX_TOKENS},
    {"connect-timeout", required_argument, NULL, F_CONNECT_TIMEOUT},
    {"timeout", required_argument, NULL, F_TIMEOUT},
    {"retries", required_argument, NULL, F_RETRIES},
    {"retry-delay-ms", required_argument, NULL, F_RETRY_DELAY},
    {"retry-max-ms", required_argument, NULL, F_RETRY_MAX},
    {"cacert", required_argument, NULL, F_CACERT},
    {"price-input", required_argument, NULL, F_PRICE_INPUT},
    {"price-cache-hit", required_argument, NULL, F_PRICE_HIT},
    {"price-output", required_argument, NULL, F_PRICE_OUTPUT},
    {"json", no_argument, NULL, F_JSON},
    {"record", no_argument, NULL, F_RECORD},
    {"socket", required_argument, NULL, F_SOCKET},
    {"url", required_argument, NULL, F_URL},
    {"token-file", required_argument, NULL, F_TOKEN_FILE},
    {"agent", required_argument, NULL, F_AGENT},
    {"prompt-kind", required_argument, NULL, F_PROMPT_KIND},
    {"prompt-task", required_argument, NULL, F_PROMPT_TASK},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, F_VERSION},
    {NULL, 0, NULL, 0}
};

/* 0, 1 (done: help, version) or -1 (usage error, message printed). */
static int
parse_options(int argc, char **argv, struct probe_opts *o)
{
    int c, prices = 0;

    o->base_url = "https://api.deepseek.com";
    o->model = "deepseek-chat";
    o->provider = "deepseek";
    o->prefix_bytes = 8192;
    o->n = 3;
    o->max_tokens = 8;
    o->connect_timeout = 10;
    o->timeout = 120;
    o->retries = 3;
    o->retry_delay_ms = 1000;
    o->retry_max_ms = 30000;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:h", long_options, NULL)) != -1) {
        int rc = 0;

        switch (c) {
        case F_BASE_URL: o->base_url = optarg; break;
        case F_API_KEY_FILE: o->api_key_file = optarg; break;
        case 'n':
            rc = parse_long("-n", optarg, 1, PROBE_MAX_REQUESTS, &o->n);
            break;
        case F_MODEL: o->model = optarg; break;
        case F_PROVIDER: o->provider = optarg; break;
        case F_PREFIX_FILE: o->prefix_file = optarg; break;
        case F_PREFIX_BYTES:
            rc = parse_long("--prefix-bytes", optarg, 512, 1024 * 1024,
                            &o->prefix_bytes);
            break;
        case F_MAX_TOKENS:
            rc = parse_long("--max-tokens", optarg, 1, 8192,
                            &o->max_tokens);
            break;
        case F_CONNECT_TIMEOUT:
            rc = parse_long("--connect-timeout", optarg, 1, 600,
                            &o->connect_timeout);
            break;
        case F_TIMEOUT:
            rc = parse_long("--timeout", optarg, 1, 3600, &o->timeout);
            break;
        case F_RETRIES:
            rc = parse_long("--retries", optarg, 0, 10, &o->retries);
            break;
        case F_RETRY_DELAY:
            rc = parse_long("--retry-delay-ms", optarg, 1, 600000,
                            &o->retry_delay_ms);
            break;
        case F_RETRY_MAX:
            rc = parse_long("--retry-max-ms", optarg, 1, 3600000,
                            &o->retry_max_ms);
            break;
        case F_CACERT: o->cacert = optarg; break;
        case F_PRICE_INPUT:
            rc = parse_price("--price-input", optarg, &o->prices.input);
            prices |= 1;
            break;
        case F_PRICE_HIT:
            rc = parse_price("--price-cache-hit", optarg,
                             &o->prices.cache_hit);
            prices |= 2;
            break;
        case F_PRICE_OUTPUT:
            rc = parse_price("--price-output", optarg, &o->prices.output);
            prices |= 4;
            break;
        case F_JSON: o->json = 1; break;
        case F_RECORD: o->record = 1; break;
        case F_SOCKET: o->socket_path = optarg; break;
        case F_URL: o->url = optarg; break;
        case F_TOKEN_FILE: o->token_file = optarg; break;
        case F_AGENT: o->agent = optarg; break;
        case F_PROMPT_KIND: o->prompt_kind = optarg; break;
        case F_PROMPT_TASK:
            rc = parse_long("--prompt-task", optarg, 1, LONG_MAX,
                            &o->prompt_task);
            break;
        case 'h':
            usage(stdout);
            return 1;
        case F_VERSION:
            printf("colibri-probe %s\n", PACKAGE_VERSION);
            return 1;
        case ':':
            fprintf(stderr, "colibri-probe: %s needs a value\n",
                    argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "colibri-probe: unknown option '%s'\n",
                    argv[optind - 1]);
            usage(stderr);
            return -1;
        }
        if (rc < 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "colibri-probe: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (prices != 0 && prices != 7) {
        fprintf(stderr, "colibri-probe: give all three of --price-input, "
                "--price-cache-hit and --price-output, or none\n");
        return -1;
    }
    o->prices.have = prices == 7;
    if (strncmp(o->base_url, "http://", 7) != 0 &&
        strncmp(o->base_url, "https://", 8) != 0) {
        fprintf(stderr, "colibri-probe: --base-url must start with "
                "http:// or https://\n");
        return -1;
    }
    if (o->socket_path != NULL && o->url != NULL) {
        fprintf(stderr, "colibri-probe: give --socket or --url, not "
                "both\n");
        return -1;
    }
    if (o->prompt_kind != NULL && o->prefix_file != NULL) {
        fprintf(stderr, "colibri-probe: give --prefix-file or "
                "--prompt-kind, not both\n");
        return -1;
    }
    if (o->prompt_task != 0 && o->prompt_kind == NULL) {
        fprintf(stderr, "colibri-probe: --prompt-task needs "
                "--prompt-kind\n");
        return -1;
    }
    if (o->agent != NULL && !ops_is_slug(o->agent)) {
        fprintf(stderr, "colibri-probe: --agent takes an agent id "
                "([A-Za-z0-9][A-Za-z0-9._-]*)\n");
        return -1;
    }
    return 0;
}

/* The API key (new), or NULL with the reason printed. */
static char *
read_api_key(const struct probe_opts *o)
{
    const char *env = getenv("DEEPSEEK_API_KEY");
    char *key;

    if (o->api_key_file != NULL) {
        key = util_read_secret(o->api_key_file, PROBE_KEY_CAP);
        if (key == NULL) {
            fprintf(stderr, "colibri-probe: cannot read the API key file "
                    "%s: %s (missing_key)\n", o->api_key_file,
                    strerror(errno));
            return NULL;
        }
        if (*key == '\0') {
            fprintf(stderr, "colibri-probe: the API key file %s is empty "
                    "(missing_key)\n", o->api_key_file);
            free(key);
            return NULL;
        }
        return key;
    }
    if (env != NULL && *env != '\0')
        return xstrdup(env);
    fprintf(stderr, "colibri-probe: no API key: set DEEPSEEK_API_KEY or "
            "give --api-key-file FILE (missing_key)\n");
    return NULL;
}

static size_t
on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;

    if (buf_append(&a->body, data, size * n) < 0) {
        a->too_large = 1;
        return 0;
    }
    return size * n;
}

static size_t
on_header(char *data, size_t size, size_t n, void *ctx)
{
    struct answer *a = ctx;
    size_t len = size * n, name = sizeof("Retry-After:") - 1, i = 0;

    if (len > name && !strncasecmp(data, "Retry-After:", name)) {
        data += name;
        len -= name;
        while (len > 0 && (*data == ' ' || *data == '\t')) {
            data++;
            len--;
        }
        while (len > 0 && (data[len - 1] == '\r' || data[len - 1] == '\n'))
            len--;
        if (len >= sizeof(a->retry_after))
            len = sizeof(a->retry_after) - 1;
        for (i = 0; i < len; i++)
            a->retry_after[i] = data[i];
        a->retry_after[len] = '\0';
    }
    return size * n;
}

static int
is_tls_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return 1;
    default:
        return 0;
    }
}

/* A transport error that may go away by itself. */
static int
is_transient(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
           cc == CURLE_SEND_ERROR || cc == CURLE_PARTIAL_FILE;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* A short, printable excerpt of an error body for a message. */
static void
excerpt(const struct buf *b, char *out, size_t outlen)
{
    size_t i, j = 0;

    for (i = 0; b->data != NULL && i < b->len && j + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)b->data[i];

        out[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    out[j] = '\0';
}

/*
 * Sends request i with retries.  On success fills u and returns
 * PROBE_OK; otherwise prints one line naming the failure and returns its
 * exit status.  *attempts says how many requests went out.
 */
static int
send_one(const struct probe_opts *o, CURL *curl, const char *url,
         struct curl_slist *headers, const char *payload,
         struct probe_usage *u, int *attempts)
{
    struct answer a;
    char curl_err[CURL_ERROR_SIZE], text[200];
    long status = 0, delay;
    CURLcode cc;
    char *why = NULL;
    int attempt, rc = PROBE_ERROR, prc;

    buf_init(&a.body, PROBE_ANSWER_CAP);
    for (attempt = 0;; attempt++) {
        buf_reset(&a.body);
        a.retry_after[0] = '\0';
        a.too_large = 0;
        curl_err[0] = '\0';
        status = 0;
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        cc = curl_easy_perform(curl);
        *attempts = attempt + 1;
        if (cc == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status <= 299)
            break;
        if (attempt < o->retries &&
            ((cc == CURLE_OK && probe_status_retryable(status)) ||
             (cc != CURLE_OK && is_transient(cc) && !a.too_large))) {
            delay = probe_retry_delay_ms(attempt, a.retry_after[0]
                                         ? a.retry_after : NULL,
                                         o->retry_delay_ms,
                                         o->retry_max_ms);
            if (!o->json)
                fprintf(stderr, "colibri-probe: %s%ld; retry %d of %ld "
                        "in %ld ms\n", cc == CURLE_OK ? "HTTP " :
                        "transport error ", cc == CURLE_OK ? status :
                        (long)cc, attempt + 1, o->retries, delay);
            sleep_ms(delay);
            continue;
        }
        if (cc != CURLE_OK) {
            const char *msg = curl_err[0] ? curl_err
                                          : curl_easy_strerror(cc);

            if (a.too_large) {
                fprintf(stderr, "colibri-probe: the answer is larger than "
                        "%d bytes (bad_answer)\n", PROBE_ANSWER_CAP);
                rc = PROBE_BAD_ANSWER;
            } else if (is_tls_error(cc)) {
                fprintf(stderr, "colibri-probe: TLS failure talking to "
                        "%s: %s (tls_error)\n", o->base_url, msg);
                rc = PROBE_TLS;
            } else {
                fprintf(stderr, "colibri-probe: cannot reach %s: %s%s "
                        "(network_error)\n", o->base_url, msg,
                        attempt > 0 ? ", after retries" : "");
                rc = PROBE_NETWORK;
            }
            goto out;
        }
        excerpt(&a.body, text, sizeof(text));
        if (status == 401 || status == 403) {
            fprintf(stderr, "colibri-probe: the provider refused the API "
                    "key: HTTP %ld%s%s (unauthorized)\n", status,
                    text[0] ? ": " : "", text);
            rc = PROBE_AUTH;
        } else if (status == 429) {
            fprintf(stderr, "colibri-probe: rate limited: HTTP 429 after "
                    "%d attempts%s%s (rate_limited)\n", attempt + 1,
                    text[0] ? ": " : "", text);
            rc = PROBE_RATE_LIMITED;
        } else {
            fprintf(stderr, "colibri-probe: the provider answered HTTP "
                    "%ld%s%s%s (http_error)\n", status,
                    attempt > 0 ? " after retries" : "",
                    text[0] ? ": " : "", text);
            rc = PROBE_HTTP;
        }
        goto out;
    }
    prc = probe_parse_usage(a.body.data, a.body.len, u, &why);
    if (prc == PROBE_USAGE_BAD_JSON) {
        fprintf(stderr, "colibri-probe: malformed answer from %s: %s "
                "(bad_answer)\n", o->base_url, why);
        rc = PROBE_BAD_ANSWER;
    } else if (prc == PROBE_USAGE_MISSING) {
        fprintf(stderr, "colibri-probe: answer without usable usage "
                "fields from %s: %s (missing_usage)\n", o->base_url, why);
        rc = PROBE_BAD_ANSWER;
    } else {
        rc = PROBE_OK;
    }
out:
    free(why);
    buf_free(&a.body);
    return rc;
}

/* --- the daemon: --record, --prompt-kind ------------------------------ */

/* Files one result; the stored row (new) in *row.  0 or -1 (printed). */
static int
record_one(struct cli_link *r, const struct probe_opts *o,
           const struct probe_usage *u, json_t **row)
{
    const struct op *op = ops_find("metering.record");
    struct cli_error err;
    json_t *args;
    int rc;

    if (op == NULL) {
        fprintf(stderr, "colibri-probe: this build has no metering.record "
                "operation (record_failed)\n");
        return -1;
    }
    args = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
                     "source", "probe", "provider", o->provider,
                     "model", o->model,
                     "input_tokens", (json_int_t)u->miss,
                     "output_tokens", (json_int_t)u->output,
                     "cache_read_tokens", (json_int_t)u->hit,
                     "cache_write_tokens", (json_int_t)0);
    if (o->prices.have)
        json_object_set_new(args, "cost",
                            json_real(probe_cost(&o->prices, u)));
    if (o->agent != NULL)
        json_object_set_new(args, "agent", json_string(o->agent));
    rc = cli_call(&r->ep, op, args, row, &err);
    json_decref(args);
    if (rc < 0)
        fprintf(stderr, "colibri-probe: cannot record the result in the "
                "daemon's metering: %s (%s) (record_failed)\n", err.detail,
                err.code);
    return rc;
}

/*
 * The prefix from the daemon: the system message (regions 1 and 2) that
 * prompt.assemble builds for an agent kind (and task), so the probe
 * measures the very bytes agents send.  0, or -1 (printed).
 */
static int
fetch_prefix(struct cli_link *r, const struct probe_opts *o,
             char **prefix, char **sha)
{
    const struct op *op = ops_find("prompt.assemble");
    struct cli_error err;
    json_t *args, *answer = NULL;
    const char *text;
    int rc = -1;

    if (op == NULL) {
        fprintf(stderr, "colibri-probe: this build has no prompt.assemble "
                "operation (daemon_error)\n");
        return -1;
    }
    args = json_pack("{s:s}", "kind", o->prompt_kind);
    if (o->prompt_task > 0)
        json_object_set_new(args, "task", json_integer(o->prompt_task));
    if (cli_call(&r->ep, op, args, &answer, &err) < 0) {
        fprintf(stderr, "colibri-probe: cannot assemble the prompt of kind "
                "%s: %s (%s) (daemon_error)\n", o->prompt_kind, err.detail,
                err.code);
        goto out;
    }
    text = json_string_value(json_object_get(json_array_get(
        json_object_get(answer, "messages"), 0), "content"));
    if (text == NULL || *text == '\0') {
        fprintf(stderr, "colibri-probe: prompt.assemble answered no system "
                "message (daemon_error)\n");
        goto out;
    }
    *prefix = xstrdup(text);
    text = json_string_value(json_object_get(answer, "prefix_sha256"));
    *sha = text ? xstrdup(text) : NULL;
    rc = 0;
out:
    json_decref(args);
    json_decref(answer);
    return rc;
}

/* --- output ----------------------------------------------------------- */

static json_t *
usage_json(const struct probe_opts *o, int i, const struct probe_usage *u,
           int attempts)
{
    json_t *v = json_pack("{s:i, s:I, s:I, s:I, s:I, s:f, s:i}",
                          "request", i, "prompt_tokens",
                          (json_int_t)u->prompt, "hit_tokens",
                          (json_int_t)u->hit, "miss_tokens",
                          (json_int_t)u->miss, "output_tokens",
                          (json_int_t)u->output, "hit_ratio",
                          probe_hit_ratio(u->hit, u->miss), "attempts",
                          attempts);

    json_object_set_new(v, "cost", o->prices.have
                        ? json_real(probe_cost(&o->prices, u))
                        : json_null());
    return v;
}

static void
print_line(const struct probe_opts *o, int i, const struct probe_usage *u)
{
    printf("request %d/%ld: hit %lld miss %lld output %lld hit_ratio "
           "%.4f", i, o->n, (long long)u->hit, (long long)u->miss,
           (long long)u->output, probe_hit_ratio(u->hit, u->miss));
    if (o->prices.have)
        printf(" cost %.8f USD", probe_cost(&o->prices, u));
    printf("\n");
    fflush(stdout);
}

static json_t *
totals_json(const struct probe_opts *o, const struct probe_totals *t)
{
    json_t *v = json_pack("{s:i, s:I, s:I, s:I, s:f}", "requests",
                          t->requests, "hit_tokens", (json_int_t)t->hit,
                          "miss_tokens", (json_int_t)t->miss,
                          "output_tokens", (json_int_t)t->output,
                          "hit_ratio", probe_hit_ratio(t->hit, t->miss));

    if (o->prices.have) {
        json_object_set_new(v, "cost", json_real(t->cost));
        json_object_set_new(v, "uncached_cost",
                            json_real(t->uncached_cost));
        json_object_set_new(v, "saving",
                            json_real(t->uncached_cost - t->cost));
    } else {
        json_object_set_new(v, "cost", json_null());
        json_object_set_new(v, "uncached_cost", json_null());
        json_object_set_new(v, "saving", json_null());
    }
    return v;
}

static void
print_totals(const struct probe_opts *o, const struct probe_totals *t)
{
    printf("total: %d requests, hit %lld miss %lld output %lld hit_ratio "
           "%.4f", t->requests, (long long)t->hit, (long long)t->miss,
           (long long)t->output, probe_hit_ratio(t->hit, t->miss));
    if (o->prices.have)
        printf(" cost %.8f USD uncached %.8f USD saving %.8f USD",
               t->cost, t->uncached_cost, t->uncached_cost - t->cost);
    printf("\n");
}

int
main(int argc, char **argv)
{
    struct probe_opts o;
    struct probe_totals totals;
    struct cli_link rec;
    struct curl_slist *headers = NULL;
    json_t *doc = NULL, *items = NULL;
    char *key = NULL, *prefix = NULL, *url = NULL, *auth = NULL;
    char *prefix_sha = NULL;
    size_t baselen;
    CURL *curl = NULL;
    int rc, i, have_rec = 0;

    memset(&o, 0, sizeof(o));
    memset(&totals, 0, sizeof(totals));
    rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? PROBE_OK : PROBE_USAGE;
    key = read_api_key(&o);
    if (key == NULL)
        return PROBE_USAGE;
    if (o.prefix_file != NULL || o.prompt_kind != NULL) {
        /* Read below. */
    } else {
        prefix = probe_default_prefix((size_t)o.prefix_bytes);
    }
    if (o.prefix_file != NULL) {
        prefix = util_read_file(o.prefix_file, 1024 * 1024);
        if (prefix == NULL || *prefix == '\0') {
            fprintf(stderr, "colibri-probe: cannot read the prefix file "
                    "%s: %s\n", o.prefix_file,
                    prefix == NULL ? strerror(errno) : "it is empty");
            rc = PROBE_USAGE;
            goto out;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "colibri-probe: cannot initialise libcurl\n");
        rc = PROBE_ERROR;
        goto out;
    }
    if (o.record || o.prompt_kind != NULL) {
        /* The daemon as colibri(1) finds it (--cacert is the
         * provider's: the daemon's is COLIBRI_CACERT). */
        if (cli_link_open(&rec, argv[0], o.url, o.socket_path, o.token_file,
                          NULL, "colibri-probe", "daemon_error") < 0) {
            cli_link_close(&rec);
            rc = PROBE_DAEMON;
            goto out_curl;
        }
        have_rec = 1;
    }
    if (o.prompt_kind != NULL &&
        fetch_prefix(&rec, &o, &prefix, &prefix_sha) < 0) {
        rc = PROBE_DAEMON;
        goto out_curl;
    }
    baselen = strlen(o.base_url);
    while (baselen > 0 && o.base_url[baselen - 1] == '/')
        baselen--;
    url = xasprintf("%.*s/chat/completions", (int)baselen, o.base_url);
    curl = curl_easy_init();
    if (curl == NULL) {
        fprintf(stderr, "colibri-probe: cannot initialise libcurl\n");
        rc = PROBE_ERROR;
        goto out_curl;
    }
    /* TLS verification is on and stays on: there is no flag to turn it
     * off; --cacert names a private CA instead. */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o.cacert != NULL)
        curl_easy_setopt(curl, CURLOPT_CAINFO, o.cacert);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, o.connect_timeout);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, o.timeout);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "colibri-probe/"
                     PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    auth = xasprintf("Authorization: Bearer %s", key);
    headers = curl_slist_append(headers, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    items = json_array();

    for (i = 1; i <= o.n; i++) {
        struct probe_usage u;
        json_t *body = probe_request_body(o.model, prefix, i, (int)o.n,
                                          (int)o.max_tokens), *row = NULL,
               *line;
        char *payload = json_dumps(body, JSON_COMPACT);
        int attempts = 0;

        json_decref(body);
        rc = send_one(&o, curl, url, headers, payload, &u, &attempts);
        free(payload);
        if (rc != PROBE_OK)
            break;
        probe_totals_add(&totals, &o.prices, &u);
        line = usage_json(&o, i, &u, attempts);
        if (o.record) {
            if (record_one(&rec, &o, &u, &row) < 0) {
                json_decref(line);
                rc = PROBE_DAEMON;
                break;
            }
            json_object_set_new(line, "recorded",
                                json_is_object(row)
                                    ? json_incref(json_object_get(row, "id"))
                                    : json_true());
            json_decref(row);
        }
        if (!o.json)
            print_line(&o, i, &u);
        json_array_append_new(items, line);
    }
    if (o.json) {
        doc = json_pack("{s:s, s:s, s:O, s:o}", "base_url", o.base_url,
                        "model", o.model, "requests", items, "total",
                        totals_json(&o, &totals));
        if (prefix_sha != NULL)
            json_object_set_new(doc, "prefix_sha256",
                                json_string(prefix_sha));
        if (rc != PROBE_OK)
            json_object_set_new(doc, "exit_status", json_integer(rc));
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (totals.requests > 0) {
        print_totals(&o, &totals);
    }
    if (fflush(stdout) != 0 && rc == PROBE_OK)
        rc = PROBE_ERROR;

out_curl:
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    curl_global_cleanup();
out:
    if (have_rec)
        cli_link_close(&rec);
    if (auth != NULL)
        explicit_bzero(auth, strlen(auth));
    free(auth);
    if (key != NULL)
        explicit_bzero(key, strlen(key));
    free(key);
    free(prefix);
    free(prefix_sha);
    free(url);
    json_decref(items);
    json_decref(doc);
    return rc;
}
