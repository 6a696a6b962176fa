/*
 * json_scan.h: the two smallest steps of the worker's strict JSON scans
 * (the LLM answer's fast reading in llm_reply.c, the history records in
 * prompt.c), kept in one place. Both work on [p, e) and never read at e.
 */
#ifndef SGI_JSON_SCAN_H
#define SGI_JSON_SCAN_H

/* The first byte at or after p that is not JSON white space, or e. */
static inline const char *sgi_json_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The four hex digits at p as *out: 0, or -1 when they are not that. */
static inline int sgi_json_hex4(const char *p, const char *e, unsigned *out)
{
    unsigned v = 0;
    int i;

    if (e - p < 4)
        return -1;
    for (i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

#endif /* SGI_JSON_SCAN_H */
