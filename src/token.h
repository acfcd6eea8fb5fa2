/*
 * token.h - the API token: 256 random bits as 64 hex characters in a file
 * of mode 0600, created on first start.
 */
#ifndef COLIBRI_TOKEN_H
#define COLIBRI_TOKEN_H

#include <stddef.h>

#define TOKEN_HEX_LEN 64

/*
 * Reads the token at path, creating it when missing.  Refuses a file that
 * group or others may read, or that does not hold a token.  out gets
 * TOKEN_HEX_LEN + 1 bytes.  0, or -1 with the reason in err.
 */
int token_load_or_create(const char *path, char *out, char *err,
                         size_t errlen);

#endif
