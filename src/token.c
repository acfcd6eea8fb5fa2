/*
 * token.c - creating and reading the API token file.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"
#include "util.h"

static int
read_token(const char *path, char *out, char *err, size_t errlen)
{
    struct stat st;
    char buf[TOKEN_HEX_LEN + 2];
    ssize_t n;
    int fd, i;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "token file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "token file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(err, errlen, "token file %s has mode %03o: it must not be "
                 "readable by group or others (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return -1;
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < TOKEN_HEX_LEN) {
        snprintf(err, errlen, "token file %s does not hold a token", path);
        return -1;
    }
    for (i = 0; i < TOKEN_HEX_LEN; i++) {
        if (!((buf[i] >= '0' && buf[i] <= '9') ||
              (buf[i] >= 'a' && buf[i] <= 'f'))) {
            snprintf(err, errlen, "token file %s does not hold a token",
                     path);
            return -1;
        }
    }
    memcpy(out, buf, TOKEN_HEX_LEN);
    out[TOKEN_HEX_LEN] = '\0';
    return 0;
}

int
token_load_or_create(const char *path, char *out, char *err, size_t errlen)
{
    unsigned char raw[TOKEN_HEX_LEN / 2];
    char line[TOKEN_HEX_LEN + 2];
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return read_token(path, out, err, errlen);
        snprintf(err, errlen, "cannot create token file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (util_random(raw, sizeof(raw)) < 0) {
        snprintf(err, errlen, "no randomness for the token");
        close(fd);
        unlink(path);
        return -1;
    }
    util_hex(raw, sizeof(raw), out);
    snprintf(line, sizeof(line), "%s\n", out);
    if (write(fd, line, TOKEN_HEX_LEN + 1) != TOKEN_HEX_LEN + 1 ||
        fsync(fd) < 0) {
        snprintf(err, errlen, "cannot write token file %s: %s", path,
                 strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}
