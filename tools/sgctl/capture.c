/*
 * capture.c: the capture-file reader and writers (protocol/CAPTURE.md).
 *
 * Every length is checked against the limits and against the bytes the
 * record declares before anything is sized from it; a record's body is
 * only parsed once the whole record (CRC included) is buffered and its
 * CRC matches, so the parser never reads past the bytes it was given.
 */
#include "capture.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sg/error.h"

enum { ST_MAGIC, ST_HEADER, ST_RECORDS, ST_ENDED, ST_FAILED };

sgcap_limits sgcap_limits_default(void)
{
    sgcap_limits l;

    l.max_header_bytes = 65536;
    l.max_record_bytes = 16777216;
    l.max_fields = 1024;
    l.max_stream_bytes = 1024;
    return l;
}

const char *sgcap_err_name(sgcap_err_kind kind)
{
    switch (kind) {
    case SGCAP_OK: return "ok";
    case SGCAP_ERR_TRUNCATED: return "truncated";
    case SGCAP_ERR_CORRUPT: return "corrupt";
    case SGCAP_ERR_LIMIT: return "limit";
    case SGCAP_ERR_VERSION: return "version";
    case SGCAP_ERR_NOMEM: return "nomem";
    }
    return "unknown";
}

/* ---- CRC-32 ------------------------------------------------------------- */

uint32_t sgcap_crc32(uint32_t crc, const void *bytes, size_t n)
{
    static uint32_t table[256];
    static int ready;
    const uint8_t *p = bytes;
    uint32_t c;
    size_t i;
    int k;

    if (!ready) {
        for (i = 0; i < 256; i++) {
            c = (uint32_t)i;
            for (k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    crc = ~crc;
    for (i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- helpers ------------------------------------------------------------ */

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int fail(sgcap_error *err, sgcap_err_kind kind, uint64_t offset,
                const char *field, const char *fmt, ...)
{
    char detail[224];
    va_list ap;

    if (err == NULL)
        return kind == SGCAP_ERR_NOMEM ? SG_ENOMEM : SG_EDECODE;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    err->kind = kind;
    err->offset = offset;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    if (field != NULL && field[0] != '\0')
        snprintf(err->msg, sizeof err->msg, "capture: offset %llu: %s: %s",
                 (unsigned long long)offset, field, detail);
    else
        snprintf(err->msg, sizeof err->msg, "capture: offset %llu: %s",
                 (unsigned long long)offset, detail);
    return kind == SGCAP_ERR_NOMEM ? SG_ENOMEM : SG_EDECODE;
}

int sgcap_parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
    uint64_t part[2] = {0, 0};
    size_t i = 0, digits;
    int k;

    for (k = 0; k < 2; k++) {
        digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (part[k] > (UINT64_MAX - d) / 10)
                return -1;
            part[k] = part[k] * 10 + d;
            i++;
            digits++;
        }
        if (digits == 0)
            return -1;
        if (k == 0) {
            if (i >= len || s[i] != '-')
                return -1;
            i++;
        }
    }
    if (i != len)
        return -1;
    *ms = part[0];
    *seq = part[1];
    return 0;
}

/* ---- reader ------------------------------------------------------------- */

void sgcap_reader_init(sgcap_reader *r, const sgcap_limits *limits,
                       const sg_mem *mem)
{
    memset(r, 0, sizeof *r);
    r->lim = limits ? *limits : sgcap_limits_default();
    r->mem = mem ? mem : sg_mem_default();
    sg_buf_init(&r->buf, r->mem);
    r->state = ST_MAGIC;
}

void sgcap_reader_destroy(sgcap_reader *r)
{
    sg_buf_destroy(&r->buf);
    if (r->fields != NULL)
        r->mem->free(r->fields, r->mem->ud);
    r->fields = NULL;
    r->fields_cap = 0;
}

int sgcap_reader_has_header(const sgcap_reader *r)
{
    return r->header.version == SGCAP_VERSION;
}

int sgcap_reader_ended(const sgcap_reader *r)
{
    return r->state == ST_ENDED;
}

int sgcap_reader_feed(sgcap_reader *r, const void *bytes, size_t n,
                      sgcap_error *err)
{
    /* Drop what was consumed so the buffer holds at most one record. */
    if (r->pos > 0) {
        size_t left = r->buf.len - r->pos;
        if (left > 0)
            memmove(r->buf.data, r->buf.data + r->pos, left);
        r->buf.len = left;
        r->base += r->pos;
        r->pos = 0;
    }
    if (n == 0)
        return 0;
    if (sg_buf_append(&r->buf, bytes, n) != 0)
        return fail(err, SGCAP_ERR_NOMEM, r->base + r->buf.len, NULL,
                    "out of memory buffering %zu bytes", n);
    return 0;
}

static int set_str(char *dst, size_t cap, const cJSON *j)
{
    size_t n;

    if (!cJSON_IsString(j) || j->valuestring == NULL)
        return -1;
    n = strlen(j->valuestring);
    if (n >= cap)
        return -1;
    memcpy(dst, j->valuestring, n + 1);
    return 0;
}

static int integral(const cJSON *j, double lo, double hi)
{
    return cJSON_IsNumber(j) && j->valuedouble >= lo &&
           j->valuedouble <= hi && j->valuedouble == (double)(int64_t)
           j->valuedouble;
}

static int parse_header(sgcap_reader *r, const uint8_t *p, size_t len,
                        uint64_t off, sgcap_error *err)
{
    const char *end = NULL;
    cJSON *j, *m;
    sgcap_header *h = &r->header;
    int rc = 0;

    if (memchr(p, '\0', len) != NULL)
        return fail(err, SGCAP_ERR_CORRUPT, off, "header",
                    "the header line holds a NUL byte");
    j = cJSON_ParseWithLengthOpts((const char *)p, len, &end, 0);
    if (j == NULL || end != (const char *)p + len) {
        cJSON_Delete(j);
        return fail(err, SGCAP_ERR_CORRUPT, off, "header",
                    "the header line is not one JSON value");
    }
    memset(h, 0, sizeof *h);
    if (!cJSON_IsObject(j)) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header",
                  "the header is not a JSON object");
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!cJSON_IsString(m) || strcmp(m->valuestring, "sg-capture") != 0) {
        rc = fail(err, SGCAP_ERR_VERSION, off, "header.format",
                  "must be the string \"sg-capture\"");
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "version");
    if (!integral(m, -1e15, 1e15)) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.version",
                  "missing or not an integer");
        goto done;
    }
    if (m->valuedouble != SGCAP_VERSION) {
        rc = fail(err, SGCAP_ERR_VERSION, off, "header.version",
                  "version %.0f is not supported (this reader knows %d)",
                  m->valuedouble, SGCAP_VERSION);
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "start_ms");
    if (!integral(m, 0, 9007199254740991.0)) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.start_ms",
                  "missing or not an integer of 0 .. 2^53-1");
        goto done;
    }
    h->start_ms = (int64_t)m->valuedouble;
    if (set_str(h->source, sizeof h->source,
                cJSON_GetObjectItemCaseSensitive(j, "source")) != 0) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.source",
                  "missing, not a string or longer than %zu bytes",
                  sizeof h->source - 1);
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "from");
    if (m != NULL && set_str(h->from, sizeof h->from, m) != 0) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.from",
                  "not a string of at most %zu bytes", sizeof h->from - 1);
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "tool");
    if (m != NULL && set_str(h->tool, sizeof h->tool, m) != 0) {
        rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.tool",
                  "not a string of at most %zu bytes", sizeof h->tool - 1);
        goto done;
    }
    m = cJSON_GetObjectItemCaseSensitive(j, "streams");
    if (m != NULL) {
        if (!cJSON_IsArray(m)) {
            rc = fail(err, SGCAP_ERR_CORRUPT, off, "header.streams",
                      "not an array");
            goto done;
        }
        h->nstreams = (size_t)cJSON_GetArraySize(m);
    }
    h->version = SGCAP_VERSION;
done:
    cJSON_Delete(j);
    return rc;
}

/* Makes room for n fields (n already checked against the limits). */
static int reserve_fields(sgcap_reader *r, size_t n)
{
    sgcap_field *f;

    if (n <= r->fields_cap)
        return 0;
    f = r->mem->realloc(r->fields, n * sizeof *f, r->mem->ud);
    if (f == NULL)
        return -1;
    r->fields = f;
    r->fields_cap = n;
    return 0;
}

static int parse_entry(sgcap_reader *r, const uint8_t *b, size_t len,
                       uint64_t off, sgcap_record *rec, sgcap_error *err)
{
    size_t at = 0, i, idlen, n, need;
    uint64_t nfields, x;
    char field[64];

#define LEFT (len - at)
    if (LEFT < 8 + 2)
        return fail(err, SGCAP_ERR_CORRUPT, off, "arrival_ms",
                    "body of %zu bytes is too short for an entry", len);
    x = get64(b);
    if (x > (uint64_t)INT64_MAX)
        return fail(err, SGCAP_ERR_CORRUPT, off, "arrival_ms",
                    "%llu is above 2^63-1", (unsigned long long)x);
    rec->arrival_ms = (int64_t)x;
    at = 8;
    n = (size_t)b[at] << 8 | b[at + 1];
    at += 2;
    if (n == 0 || n > r->lim.max_stream_bytes)
        return fail(err, n == 0 ? SGCAP_ERR_CORRUPT : SGCAP_ERR_LIMIT, off,
                    "stream", "length %zu is not within 1 .. %zu", n,
                    r->lim.max_stream_bytes);
    if (LEFT < n + 1)
        return fail(err, SGCAP_ERR_CORRUPT, off, "stream",
                    "length %zu runs past the record's body", n);
    rec->stream = (const char *)b + at;
    rec->stream_len = n;
    at += n;
    idlen = b[at++];
    if (idlen < 3 || idlen > SGCAP_ID_MAX)
        return fail(err, SGCAP_ERR_CORRUPT, off, "id",
                    "length %zu is not within 3 .. %d", idlen, SGCAP_ID_MAX);
    if (LEFT < idlen + 4)
        return fail(err, SGCAP_ERR_CORRUPT, off, "id",
                    "length %zu runs past the record's body", idlen);
    if (sgcap_parse_id((const char *)b + at, idlen, &rec->id_ms,
                       &rec->id_seq) != 0)
        return fail(err, SGCAP_ERR_CORRUPT, off, "id",
                    "not an entry ID of the form <ms>-<seq>");
    memcpy(rec->id, b + at, idlen);
    rec->id[idlen] = '\0';
    at += idlen;
    nfields = get32(b + at);
    at += 4;
    if (nfields > r->lim.max_fields)
        return fail(err, SGCAP_ERR_LIMIT, off, "nfields",
                    "%llu fields, more than the limit of %u",
                    (unsigned long long)nfields, r->lim.max_fields);
    /* Each field takes at least its two 4-byte lengths. */
    if (nfields > LEFT / 8)
        return fail(err, SGCAP_ERR_CORRUPT, off, "nfields",
                    "%llu fields cannot fit in the %zu bytes left",
                    (unsigned long long)nfields, LEFT);
    if (reserve_fields(r, (size_t)nfields) != 0)
        return fail(err, SGCAP_ERR_NOMEM, off, "nfields",
                    "out of memory for %llu fields",
                    (unsigned long long)nfields);
    for (i = 0; i < nfields; i++) {
        sgcap_field *f = &r->fields[i];

        snprintf(field, sizeof field, "fields[%zu].name", i);
        if (LEFT < 4)
            return fail(err, SGCAP_ERR_CORRUPT, off, field,
                        "length runs past the record's body");
        need = get32(b + at);
        at += 4;
        if (LEFT < need)
            return fail(err, SGCAP_ERR_CORRUPT, off, field,
                        "length %zu runs past the record's body", need);
        f->name = b + at;
        f->name_len = need;
        at += need;
        snprintf(field, sizeof field, "fields[%zu].value", i);
        if (LEFT < 4)
            return fail(err, SGCAP_ERR_CORRUPT, off, field,
                        "length runs past the record's body");
        need = get32(b + at);
        at += 4;
        if (LEFT < need)
            return fail(err, SGCAP_ERR_CORRUPT, off, field,
                        "length %zu runs past the record's body", need);
        f->value = b + at;
        f->value_len = need;
        at += need;
    }
    if (at != len)
        return fail(err, SGCAP_ERR_CORRUPT, off, "body",
                    "%zu bytes follow the last field", LEFT);
#undef LEFT
    rec->fields = r->fields;
    rec->nfields = (size_t)nfields;
    return 0;
}

int sgcap_reader_next(sgcap_reader *r, sgcap_record *rec, sgcap_error *err)
{
    const uint8_t *p;
    size_t avail, blen, total;
    uint64_t off;
    uint32_t crc;
    uint8_t type;
    int rc;

    if (err != NULL) {
        err->kind = SGCAP_OK;
        err->offset = 0;
        err->field[0] = err->msg[0] = '\0';
    }
    /* Nothing fed yet: no buffer to point into. */
    if (r->buf.data == NULL && r->state != ST_FAILED)
        return 0;
    for (;;) {
        p = r->buf.data != NULL ? r->buf.data + r->pos : NULL;
        avail = r->buf.len - r->pos;
        off = r->base + r->pos;
        switch (r->state) {
        case ST_FAILED:
            return fail(err, SGCAP_ERR_CORRUPT, off, NULL,
                        "the reader failed before");
        case ST_MAGIC:
            if (avail < SGCAP_MAGIC_LEN) {
                if (memcmp(p, SGCAP_MAGIC, avail) != 0)
                    goto bad_magic;
                return 0;
            }
            if (memcmp(p, SGCAP_MAGIC, SGCAP_MAGIC_LEN) != 0)
                goto bad_magic;
            r->pos += SGCAP_MAGIC_LEN;
            r->state = ST_HEADER;
            continue;
        case ST_HEADER: {
            size_t look = avail < r->lim.max_header_bytes
                          ? avail : r->lim.max_header_bytes;
            const uint8_t *nl = memchr(p, '\n', look);
            if (nl == NULL) {
                if (avail >= r->lim.max_header_bytes) {
                    r->state = ST_FAILED;
                    return fail(err, SGCAP_ERR_LIMIT, off, "header",
                                "no newline within %zu bytes",
                                r->lim.max_header_bytes);
                }
                return 0;
            }
            rc = parse_header(r, p, (size_t)(nl - p), off, err);
            if (rc != 0) {
                r->state = ST_FAILED;
                return rc;
            }
            r->header_crc = sgcap_crc32(sgcap_crc32(0, SGCAP_MAGIC,
                                                    SGCAP_MAGIC_LEN),
                                        p, (size_t)(nl - p) + 1);
            r->pos += (size_t)(nl - p) + 1;
            r->state = ST_RECORDS;
            continue;
        }
        case ST_ENDED:
            if (avail > 0) {
                r->state = ST_FAILED;
                return fail(err, SGCAP_ERR_CORRUPT, off, "type",
                            "%zu bytes follow the end record", avail);
            }
            return 0;
        default:
            break;
        }
        /* ST_RECORDS */
        if (avail < 5)
            return 0;
        type = p[0];
        if (type != SGCAP_ENTRY && type != SGCAP_END) {
            r->state = ST_FAILED;
            return fail(err, SGCAP_ERR_CORRUPT, off, "type",
                        "unknown record type 0x%02x", type);
        }
        blen = get32(p + 1);
        if (blen > r->lim.max_record_bytes) {
            r->state = ST_FAILED;
            return fail(err, SGCAP_ERR_LIMIT, off, "length",
                        "body of %zu bytes exceeds the limit of %zu",
                        blen, r->lim.max_record_bytes);
        }
        total = blen + SGCAP_RECORD_OVERHEAD;
        if (avail < total)
            return 0;
        crc = sgcap_crc32(0, p, 5 + blen);
        if (crc != get32(p + 5 + blen)) {
            r->state = ST_FAILED;
            return fail(err, SGCAP_ERR_CORRUPT, off, "crc",
                        "CRC-32 0x%08x does not match the record's "
                        "0x%08x", crc, get32(p + 5 + blen));
        }
        memset(rec, 0, sizeof *rec);
        rec->type = type;
        rec->offset = off;
        rec->raw = p;
        rec->raw_len = total;
        rec->index = r->entries;
        if (type == SGCAP_END) {
            if (blen != 16) {
                r->state = ST_FAILED;
                return fail(err, SGCAP_ERR_CORRUPT, off, "length",
                            "an end record's body is 16 bytes, not %zu",
                            blen);
            }
            if (get64(p + 5) > (uint64_t)INT64_MAX) {
                r->state = ST_FAILED;
                return fail(err, SGCAP_ERR_CORRUPT, off, "end_ms",
                            "above 2^63-1");
            }
            rec->end_ms = (int64_t)get64(p + 5);
            rec->end_count = get64(p + 13);
            if (rec->end_count != r->entries) {
                r->state = ST_FAILED;
                return fail(err, SGCAP_ERR_CORRUPT, off, "count",
                            "the end record counts %llu entries, the file "
                            "holds %llu",
                            (unsigned long long)rec->end_count,
                            (unsigned long long)r->entries);
            }
            r->state = ST_ENDED;
        } else {
            rc = parse_entry(r, p + 5, blen, off, rec, err);
            if (rc != 0) {
                r->state = ST_FAILED;
                return rc;
            }
            r->entries++;
        }
        r->pos += total;
        return 1;
    }
bad_magic:
    r->state = ST_FAILED;
    return fail(err, SGCAP_ERR_VERSION, r->base + r->pos, "magic",
                "not a capture file (it must start with \"SGCAPTURE\\n\")");
}

int sgcap_reader_finish(sgcap_reader *r, sgcap_error *err)
{
    size_t avail = r->buf.len - r->pos;
    uint64_t off = r->base + r->pos;

    if (r->state == ST_FAILED)
        return fail(err, SGCAP_ERR_CORRUPT, off, NULL,
                    "the reader failed before");
    if (r->state == ST_MAGIC || r->state == ST_HEADER)
        return fail(err, SGCAP_ERR_TRUNCATED, off,
                    r->state == ST_MAGIC ? "magic" : "header",
                    "the file ends before its header is complete");
    if (avail > 0)
        return fail(err, SGCAP_ERR_TRUNCATED, off, "record",
                    "the last record is cut short: %zu bytes of it present",
                    avail);
    return 0;
}

/* ---- writers ------------------------------------------------------------ */

int sgcap_write_header(sg_buf *out, const char *source, int64_t start_ms,
                       const char *const *streams, size_t nstreams,
                       const char *from, const char *tool)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *arr;
    char *text = NULL;
    size_t i, len, old = out->len;
    int rc = SG_ENOMEM;

    if (j == NULL)
        return SG_ENOMEM;
    if (cJSON_AddStringToObject(j, "format", "sg-capture") == NULL ||
        cJSON_AddNumberToObject(j, "version", SGCAP_VERSION) == NULL ||
        cJSON_AddStringToObject(j, "source", source ? source : "") == NULL ||
        cJSON_AddNumberToObject(j, "start_ms", (double)start_ms) == NULL)
        goto done;
    arr = cJSON_AddArrayToObject(j, "streams");
    if (arr == NULL)
        goto done;
    for (i = 0; i < nstreams; i++) {
        cJSON *s = cJSON_CreateString(streams[i]);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            goto done;
        }
    }
    if ((from != NULL &&
         cJSON_AddStringToObject(j, "from", from) == NULL) ||
        (tool != NULL && cJSON_AddStringToObject(j, "tool", tool) == NULL))
        goto done;
    text = cJSON_PrintUnformatted(j);
    if (text == NULL)
        goto done;
    len = strlen(text);
    rc = SG_EINVAL;
    if (len + 1 > sgcap_limits_default().max_header_bytes)
        goto done;
    rc = SG_ENOMEM;
    if (sg_buf_append(out, SGCAP_MAGIC, SGCAP_MAGIC_LEN) != 0 ||
        sg_buf_append(out, text, len) != 0 ||
        sg_buf_append(out, "\n", 1) != 0) {
        out->len = old;
        goto done;
    }
    rc = 0;
done:
    cJSON_free(text);
    cJSON_Delete(j);
    return rc;
}

/* Appends type, a length placeholder and returns the record's start. */
static int begin_record(sg_buf *out, uint8_t type, size_t body)
{
    uint8_t head[5];

    head[0] = type;
    put32(head + 1, (uint32_t)body);
    return sg_buf_append(out, head, sizeof head);
}

static int end_record(sg_buf *out, size_t start)
{
    uint8_t crc[4];

    put32(crc, sgcap_crc32(0, out->data + start, out->len - start));
    return sg_buf_append(out, crc, sizeof crc);
}

int sgcap_write_entry(sg_buf *out, int64_t arrival_ms, const char *stream,
                      size_t stream_len, const char *id,
                      const sgcap_field *fields, size_t nfields)
{
    sgcap_limits lim = sgcap_limits_default();
    size_t idlen = strlen(id), body, i, start = out->len;
    uint64_t ms, seq;
    uint8_t tmp[8];

    if (arrival_ms < 0 || stream_len == 0 ||
        stream_len > lim.max_stream_bytes || idlen > SGCAP_ID_MAX ||
        sgcap_parse_id(id, idlen, &ms, &seq) != 0 ||
        nfields > lim.max_fields)
        return SG_EINVAL;
    body = 8 + 2 + stream_len + 1 + idlen + 4;
    for (i = 0; i < nfields; i++) {
        if (fields[i].name_len > lim.max_record_bytes ||
            fields[i].value_len > lim.max_record_bytes)
            return SG_EINVAL;
        body += 8 + fields[i].name_len + fields[i].value_len;
        if (body > lim.max_record_bytes)
            return SG_EINVAL;
    }
    if (sg_buf_reserve(out, body + SGCAP_RECORD_OVERHEAD) != 0)
        return SG_ENOMEM;
    /* Room is reserved, so the appends below cannot fail. */
    begin_record(out, SGCAP_ENTRY, body);
    put64(tmp, (uint64_t)arrival_ms);
    sg_buf_append(out, tmp, 8);
    tmp[0] = (uint8_t)(stream_len >> 8);
    tmp[1] = (uint8_t)stream_len;
    sg_buf_append(out, tmp, 2);
    sg_buf_append(out, stream, stream_len);
    tmp[0] = (uint8_t)idlen;
    sg_buf_append(out, tmp, 1);
    sg_buf_append(out, id, idlen);
    put32(tmp, (uint32_t)nfields);
    sg_buf_append(out, tmp, 4);
    for (i = 0; i < nfields; i++) {
        put32(tmp, (uint32_t)fields[i].name_len);
        sg_buf_append(out, tmp, 4);
        if (fields[i].name_len > 0)
            sg_buf_append(out, fields[i].name, fields[i].name_len);
        put32(tmp, (uint32_t)fields[i].value_len);
        sg_buf_append(out, tmp, 4);
        if (fields[i].value_len > 0)
            sg_buf_append(out, fields[i].value, fields[i].value_len);
    }
    end_record(out, start);
    return 0;
}

int sgcap_write_end(sg_buf *out, int64_t end_ms, uint64_t count)
{
    size_t start = out->len;
    uint8_t tmp[16];

    if (sg_buf_reserve(out, 16 + SGCAP_RECORD_OVERHEAD) != 0)
        return SG_ENOMEM;
    begin_record(out, SGCAP_END, 16);
    put64(tmp, (uint64_t)(end_ms < 0 ? 0 : end_ms));
    put64(tmp + 8, count);
    sg_buf_append(out, tmp, 16);
    end_record(out, start);
    return 0;
}
