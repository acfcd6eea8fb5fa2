/*
 * log.h - logging to stderr, or to syslog once the daemon has detached.
 *
 * log_warn appends strerror(errno); log_warnx does not.  fatal/fatalx log
 * and exit(1): for start-up and broken invariants only, never for a bad
 * request.
 */
#ifndef COLIBRI_LOG_H
#define COLIBRI_LOG_H

void log_init(const char *ident, int use_syslog, int debug);
void log_set_debug(int debug);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
