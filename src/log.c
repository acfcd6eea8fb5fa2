/*
 * log.c - one line per message: "<time> <level> <message>" on stderr, or
 * syslog(3) when daemonized.  Each line is written with a single write so
 * lines from different threads never interleave.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static int log_syslog;
static int log_debug_on;

static void vlog(int pri, const char *level, const char *errstr,
                 const char *fmt, va_list ap);

void
log_init(const char *ident, int use_syslog, int debug)
{
    log_syslog = use_syslog;
    log_debug_on = debug;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_debug(int debug)
{
    log_debug_on = debug;
}

static void
vlog(int pri, const char *level, const char *errstr, const char *fmt,
     va_list ap)
{
    char msg[2048];
    char line[2200];
    char when[UTIL_TIME_LEN];
    int n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_syslog) {
        if (errstr)
            syslog(pri, "%s: %s", msg, errstr);
        else
            syslog(pri, "%s", msg);
        return;
    }
    util_format_time(util_now_ms(), when);
    if (errstr)
        n = snprintf(line, sizeof(line), "%s %s %s: %s\n", when, level, msg,
                     errstr);
    else
        n = snprintf(line, sizeof(line), "%s %s %s\n", when, level, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to complain */
    }
}

void
log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_INFO, "info", NULL, fmt, ap);
    va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
    va_list ap;

    if (!log_debug_on)
        return;
    va_start(ap, fmt);
    vlog(LOG_DEBUG, "debug", NULL, fmt, ap);
    va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
    va_list ap;
    char err[256];
    int saved = errno;

    snprintf(err, sizeof(err), "%s", strerror(saved));
    va_start(ap, fmt);
    vlog(LOG_WARNING, "warn", err, fmt, ap);
    va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_WARNING, "warn", NULL, fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;
    char err[256];
    int saved = errno;

    snprintf(err, sizeof(err), "%s", strerror(saved));
    va_start(ap, fmt);
    vlog(LOG_CRIT, "fatal", err, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_CRIT, "fatal", NULL, fmt, ap);
    va_end(ap);
    exit(1);
}
