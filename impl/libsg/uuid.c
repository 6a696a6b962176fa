/* Version 4 UUIDs from the kernel's random source (uuid.h). */
#include "uuid.h"

#include "sg/random.h"

int sg__uuid4(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    int rc, i, o = 0;

    rc = sg_random_bytes(b, sizeof b);
    if (rc != 0)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* variant 10 */
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
    return 0;
}
