/*
 * login.h - the dashboard's way in: one-time login codes and the browser
 * sessions they are exchanged for.
 *
 * colibrid prints a login URL with a fresh code at start; opening it
 * trades the code (once, within LOGIN_CODE_TTL) for a session: a random
 * id kept in an HttpOnly cookie and a CSRF value the page reads and sends
 * back on every write.  Sessions live in memory only (a restart logs
 * everybody out) and expire after LOGIN_SESSION_TTL without use.
 * Thread-safe: HTTP workers call it concurrently.  Opaque; no HTTP here.
 */
#ifndef COLIBRI_LOGIN_H
#define COLIBRI_LOGIN_H

#include <stddef.h>
#include <stdint.h>

#define LOGIN_SECRET_HEX 64             /* 256 bits, hex */
#define LOGIN_CODE_TTL_MS (10 * 60 * 1000)
#define LOGIN_SESSION_TTL_MS (12 * 3600 * 1000LL)

struct login;

/* New store, or NULL. */
struct login *login_new(void);
void login_free(struct login *l);

/* Mints a one-time code valid for LOGIN_CODE_TTL_MS from now_ms; out
 * gets LOGIN_SECRET_HEX + 1 bytes.  0, or -1 when no randomness. */
int login_mint_code(struct login *l, int64_t now_ms, char *out);

/*
 * Redeems code: 0 and a new session (sid and csrf, each
 * LOGIN_SECRET_HEX + 1 bytes), or -1 when the code is unknown, used or
 * expired.  A code works once, whatever the outcome after that.
 */
int login_redeem(struct login *l, const char *code, int64_t now_ms,
                 char *sid, char *csrf);

/* 0 and the session's csrf value (LOGIN_SECRET_HEX + 1 bytes) when sid
 * is a live session (its expiry slides forward), else -1. */
int login_check(struct login *l, const char *sid, int64_t now_ms,
                char *csrf);

#endif
