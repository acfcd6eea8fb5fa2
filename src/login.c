/*
 * login.c - one-time codes and sessions in two small fixed tables.  See
 * login.h.
 *
 * The tables are bounded (LIMIT_LOGIN_CODES, LIMIT_LOGIN_SESSIONS): when
 * full, the entry that expires first gives way, so a flood of logins
 * cannot grow memory.  Every comparison with a secret is constant-time.
 */
#include "autoconf.h"

#include "login.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "util.h"

struct entry {
    char key[LOGIN_SECRET_HEX + 1];     /* code or session id; "" = free */
    char csrf[LOGIN_SECRET_HEX + 1];    /* sessions only */
    int64_t expires_ms;
};

struct login {
    pthread_mutex_t lock;
    struct entry codes[LIMIT_LOGIN_CODES];
    struct entry sessions[LIMIT_LOGIN_SESSIONS];
};

static int random_hex(char *out);
static struct entry *find(struct entry *t, size_t n, const char *key,
                          int64_t now_ms);
static struct entry *slot(struct entry *t, size_t n, int64_t now_ms);

struct login *
login_new(void)
{
    struct login *l = xcalloc(1, sizeof(*l));

    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void
login_free(struct login *l)
{
    if (l == NULL)
        return;
    pthread_mutex_destroy(&l->lock);
    explicit_bzero(l, sizeof(*l));
    free(l);
}

static int
random_hex(char *out)
{
    unsigned char raw[LOGIN_SECRET_HEX / 2];

    if (util_random(raw, sizeof(raw)) < 0)
        return -1;
    util_hex(raw, sizeof(raw), out);
    explicit_bzero(raw, sizeof(raw));
    return 0;
}

/* The live entry whose key equals key; expired entries are cleared on
 * the way.  Every slot is compared, so timing says nothing of where. */
static struct entry *
find(struct entry *t, size_t n, const char *key, int64_t now_ms)
{
    struct entry *hit = NULL;
    size_t i, klen = strlen(key);

    if (klen != LOGIN_SECRET_HEX)
        return NULL;
    for (i = 0; i < n; i++) {
        if (t[i].key[0] != '\0' && t[i].expires_ms <= now_ms)
            explicit_bzero(&t[i], sizeof(t[i]));
        if (t[i].key[0] != '\0' &&
            util_equal_ct(t[i].key, LOGIN_SECRET_HEX, key, klen))
            hit = &t[i];
    }
    return hit;
}

/* A free slot, else the one that expires first. */
static struct entry *
slot(struct entry *t, size_t n, int64_t now_ms)
{
    struct entry *best = &t[0];
    size_t i;

    for (i = 0; i < n; i++) {
        if (t[i].key[0] == '\0' || t[i].expires_ms <= now_ms)
            return &t[i];
        if (t[i].expires_ms < best->expires_ms)
            best = &t[i];
    }
    return best;
}

int
login_mint_code(struct login *l, int64_t now_ms, char *out)
{
    struct entry *e;

    if (random_hex(out) < 0)
        return -1;
    pthread_mutex_lock(&l->lock);
    e = slot(l->codes, LIMIT_LOGIN_CODES, now_ms);
    memset(e, 0, sizeof(*e));
    memcpy(e->key, out, LOGIN_SECRET_HEX + 1);
    e->expires_ms = now_ms + LOGIN_CODE_TTL_MS;
    pthread_mutex_unlock(&l->lock);
    return 0;
}

int
login_redeem(struct login *l, const char *code, int64_t now_ms, char *sid,
             char *csrf)
{
    char new_sid[LOGIN_SECRET_HEX + 1], new_csrf[LOGIN_SECRET_HEX + 1];
    struct entry *e;
    int rc = -1;

    if (random_hex(new_sid) < 0 || random_hex(new_csrf) < 0)
        return -1;
    pthread_mutex_lock(&l->lock);
    e = find(l->codes, LIMIT_LOGIN_CODES, code, now_ms);
    if (e != NULL) {
        explicit_bzero(e, sizeof(*e));          /* once only */
        e = slot(l->sessions, LIMIT_LOGIN_SESSIONS, now_ms);
        memset(e, 0, sizeof(*e));
        memcpy(e->key, new_sid, sizeof(new_sid));
        memcpy(e->csrf, new_csrf, sizeof(new_csrf));
        e->expires_ms = now_ms + LOGIN_SESSION_TTL_MS;
        memcpy(sid, new_sid, sizeof(new_sid));
        memcpy(csrf, new_csrf, sizeof(new_csrf));
        rc = 0;
    }
    pthread_mutex_unlock(&l->lock);
    explicit_bzero(new_sid, sizeof(new_sid));
    explicit_bzero(new_csrf, sizeof(new_csrf));
    return rc;
}

int
login_check(struct login *l, const char *sid, int64_t now_ms, char *csrf)
{
    struct entry *e;
    int rc = -1;

    if (sid == NULL)
        return -1;
    pthread_mutex_lock(&l->lock);
    e = find(l->sessions, LIMIT_LOGIN_SESSIONS, sid, now_ms);
    if (e != NULL) {
        e->expires_ms = now_ms + LOGIN_SESSION_TTL_MS;
        memcpy(csrf, e->csrf, LOGIN_SECRET_HEX + 1);
        rc = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}
