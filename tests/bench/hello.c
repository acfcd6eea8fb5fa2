/*
 * hello.c - the benchmark's baseline: a bare libmicrohttpd server that
 * answers every request with one fixed JSON document the size of a task.
 *
 *     hello PORT THREADS [CONNECTION_MEMORY]
 *
 * It runs MHD exactly as colibrid does (http_daemon_flags(0), a thread
 * pool of THREADS, the connection limit colibrid gives API connections,
 * its connection timeout, a listening socket opened the same way) so
 * that colibrid's figures can be read as a fraction of what the HTTP
 * library alone delivers on this machine.
 * CONNECTION_MEMORY is MHD's per-connection memory pool (colibrid's
 * --http-memory; run.sh passes the value colibrid runs with): MHD clears
 * the pool for every request, so it must match for a fair comparison.
 * Without it, MHD's default (32 KB).
 * Like colibrid, the access handler is called once for the headers and
 * once more to answer (after any body), and a response is built per
 * request.  It serves until SIGTERM or SIGINT.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "src/http.h"
#include "src/limits.h"

/* A task document as colibrid renders it (274 bytes with the newline).
 * Not const: MHD's buffer parameter is not, and MHD_RESPMEM_PERSISTENT
 * promises MHD never writes to it. */
static char body[] =
    "{\"id\":1,\"title\":\"bench task\",\"body\":\"\",\"status\":\"todo\","
    "\"priority\":2,\"labels\":[],\"assignee\":null,\"depends_on\":[],"
    "\"ready\":true,\"lease\":null,\"attempt\":0,\"version\":1,"
    "\"result\":null,\"created_at\":\"2026-01-01T00:00:00.000Z\","
    "\"updated_at\":\"2026-01-01T00:00:00.000Z\",\"closed_at\":null}\n";

/* Marks a request whose headers have been seen. */
static int seen;

static enum MHD_Result
answer(void *cls, struct MHD_Connection *con, const char *url,
       const char *method, const char *version, const char *upload_data,
       size_t *upload_data_size, void **con_cls)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;      /* any body is read and dropped */
        return MHD_YES;
    }
    resp = MHD_create_response_from_buffer(sizeof(body) - 1, body,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "application/json");
    ret = MHD_queue_response(con, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int
parse_uint(const char *s, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Opened like colibrid's listener: SO_REUSEADDR, backlog 1024. */
static int
open_listener(int port, int *bound_port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

int
main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    sigset_t sigs;
    long port, threads, memory = 32 * 1024;
    int fd, bound = 0, sig;

    if (argc < 3 || argc > 4 || parse_uint(argv[1], 65535, &port) < 0 ||
        parse_uint(argv[2], 256, &threads) < 0 || threads < 1 ||
        (argc == 4 && (parse_uint(argv[3], 16 * 1024 * 1024, &memory) < 0 ||
                       memory < 1024))) {
        fprintf(stderr, "usage: hello PORT THREADS [CONNECTION_MEMORY]\n");
        return 2;
    }

    /* As in colibrid: signals are taken by this thread only. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    fd = open_listener((int)port, &bound);
    if (fd < 0) {
        fprintf(stderr, "hello: cannot listen on 127.0.0.1:%ld: %s\n", port,
                strerror(errno));
        return 1;
    }
    d = MHD_start_daemon(http_daemon_flags(0), 0, NULL, NULL, answer, NULL,
                         MHD_OPTION_LISTEN_SOCKET, fd,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
                         MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)LIMIT_HTTP_CONNECTIONS,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)memory,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
                         MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "hello: cannot start the HTTP server\n");
        close(fd);
        return 1;
    }
    fprintf(stderr, "listening on 127.0.0.1:%d\n", bound);

    while (sigwait(&sigs, &sig) != 0)
        ;
    MHD_stop_daemon(d);
    close(fd);
    return 0;
}
