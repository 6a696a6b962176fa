/* Random bytes and hex identifiers from the kernel (sg/random.h). */
#define _POSIX_C_SOURCE 200809L

#include "sg/random.h"

#include "sg/error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

static int from_urandom(unsigned char *p, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return SG_EIO;
    while (n > 0) {
        ssize_t got = read(fd, p, n);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            close(fd);
            return SG_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    close(fd);
    return 0;
}

int sg_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return from_urandom(p, n);
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int sg_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t done = 0;

    while (done < nbytes) {
        size_t chunk = nbytes - done < sizeof raw ? nbytes - done : sizeof raw;
        size_t i;
        int rc = sg_random_bytes(raw, chunk);

        if (rc != 0)
            return rc;
        for (i = 0; i < chunk; i++) {
            out[2 * (done + i)] = hex[raw[i] >> 4];
            out[2 * (done + i) + 1] = hex[raw[i] & 15];
        }
        done += chunk;
    }
    out[2 * nbytes] = '\0';
    return 0;
}
