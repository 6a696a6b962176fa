/*
 * capture.h: reading and writing capture files (protocol/CAPTURE.md).
 *
 * A capture file is a magic line, a JSON header line, then length-prefixed
 * records, each closed by a CRC-32: entry records (one stream entry with
 * its stream, ID, fields and arrival time) and at most one end record.
 * Files are written append-only, so a file cut short by a crash is still
 * readable up to its last complete record, and the cut is detected.
 *
 * The reader is fed bytes and never does I/O itself (hiredis' reader has
 * this shape), so sgctl reads files with it and the fuzz harness feeds it
 * whole, byte by byte or in pieces:
 *
 *     sgcap_reader r;
 *     sgcap_record rec;
 *     sgcap_error err;
 *     sgcap_reader_init(&r, NULL, NULL);
 *     while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
 *         sgcap_reader_feed(&r, buf, n, &err);
 *         while ((rc = sgcap_reader_next(&r, &rec, &err)) == 1)
 *             use(&rec);          // valid until the next feed or next
 *         if (rc < 0) fail(err.msg);
 *     }
 *     if (sgcap_reader_finish(&r, &err) != 0) fail(err.msg);  // truncated
 *     sgcap_reader_destroy(&r);
 *
 * The writers append one encoded piece to an sg_buf; the caller writes it
 * out. Nothing here talks to Redis.
 */
#ifndef SGCTL_CAPTURE_H
#define SGCTL_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sg/mem.h"

/* The first bytes of every capture file. */
#define SGCAP_MAGIC "SGCAPTURE\n"
#define SGCAP_MAGIC_LEN 10
/* The only format version this code reads and writes. */
#define SGCAP_VERSION 1

/* Record types. */
#define SGCAP_ENTRY 'E'
#define SGCAP_END 'Z'

/* Bytes around a record's body: type, length, CRC-32. */
#define SGCAP_RECORD_OVERHEAD 9

/* Longest entry ID: two 20-digit numbers and a dash. */
#define SGCAP_ID_MAX 41

/* The limits of CAPTURE.md ("Limits"); sgcap_limits_default() gives them. */
typedef struct sgcap_limits {
    size_t max_header_bytes;    /* 65536, the newline included */
    size_t max_record_bytes;    /* 16777216: a record's body */
    uint32_t max_fields;        /* 1024 field/value pairs per entry */
    size_t max_stream_bytes;    /* 1024 */
} sgcap_limits;

sgcap_limits sgcap_limits_default(void);

/* What went wrong, for an error naming the offset and the field. */
typedef enum sgcap_err_kind {
    SGCAP_OK = 0,
    SGCAP_ERR_TRUNCATED,        /* the input ends inside the header or a
                                   record */
    SGCAP_ERR_CORRUPT,          /* bytes that break the format */
    SGCAP_ERR_LIMIT,            /* a size or count over its limit */
    SGCAP_ERR_VERSION,          /* a header of another format or version */
    SGCAP_ERR_NOMEM
} sgcap_err_kind;

typedef struct sgcap_error {
    sgcap_err_kind kind;
    uint64_t offset;            /* where the failing header or record
                                   starts in the file */
    char field[64];             /* e.g. "fields[3].value", "crc",
                                   "header.version"; "" when none */
    char msg[320];              /* a sentence naming offset and field */
} sgcap_error;

/* Returns the name of an error kind ("truncated", ...). */
const char *sgcap_err_name(sgcap_err_kind kind);

/* The header line, as read. Strings are NUL-terminated copies. */
typedef struct sgcap_header {
    int version;
    int64_t start_ms;
    char source[512];
    char from[64];              /* "" when absent */
    char tool[64];              /* "" when absent */
    size_t nstreams;            /* the "streams" array, informational */
} sgcap_header;

/* One field of an entry: binary-safe name and value. */
typedef struct sgcap_field {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} sgcap_field;

/* One record. Pointers are borrowed from the reader (or the caller). */
typedef struct sgcap_record {
    int type;                   /* SGCAP_ENTRY or SGCAP_END */
    uint64_t offset;            /* of the record in the file */
    uint64_t index;             /* entry records before this one */
    const uint8_t *raw;         /* the record's bytes, CRC included */
    size_t raw_len;
    /* SGCAP_ENTRY */
    int64_t arrival_ms;
    const char *stream;         /* not NUL-terminated */
    size_t stream_len;
    char id[SGCAP_ID_MAX + 1];
    uint64_t id_ms;
    uint64_t id_seq;
    const sgcap_field *fields;
    size_t nfields;
    /* SGCAP_END */
    int64_t end_ms;
    uint64_t end_count;
} sgcap_record;

typedef struct sgcap_reader {
    sgcap_limits lim;
    const sg_mem *mem;
    sg_buf buf;                 /* bytes fed and not yet consumed */
    size_t pos;                 /* consumed bytes of buf */
    uint64_t base;              /* file offset of buf.data[0] */
    int state;                  /* 0 magic, 1 header, 2 records, 3 ended,
                                   4 failed */
    sgcap_header header;
    uint32_t header_crc;        /* CRC-32 of the magic and header line */
    uint64_t entries;           /* entry records read */
    sgcap_field *fields;        /* room for one record's fields */
    size_t fields_cap;
} sgcap_reader;

/* limits and mem may be NULL (defaults). Cannot fail. */
void sgcap_reader_init(sgcap_reader *r, const sgcap_limits *limits,
                       const sg_mem *mem);
void sgcap_reader_destroy(sgcap_reader *r);

/*
 * Appends n input bytes. 0, or SG_ENOMEM (err says so). Bytes already
 * returned by sgcap_reader_next() are dropped here, which invalidates the
 * last record.
 */
int sgcap_reader_feed(sgcap_reader *r, const void *bytes, size_t n,
                      sgcap_error *err);

/*
 * The next record: 1 and *rec (valid until the next call of feed or next),
 * 0 when more input is needed, or a negative SG_E... code (SG_EDECODE,
 * SG_ENOMEM) with err filled; the reader is then failed for good. The
 * header is read on the way; r->header is valid once
 * sgcap_reader_has_header() says so.
 */
int sgcap_reader_next(sgcap_reader *r, sgcap_record *rec, sgcap_error *err);

int sgcap_reader_has_header(const sgcap_reader *r);

/* 1 once the end record was read. */
int sgcap_reader_ended(const sgcap_reader *r);

/*
 * The input is over: 0 when it stopped at a record boundary after the
 * header (with or without an end record), else SG_EDECODE with kind
 * SGCAP_ERR_TRUNCATED (the cut header or record named by its offset).
 */
int sgcap_reader_finish(sgcap_reader *r, sgcap_error *err);

/* ---- writing ------------------------------------------------------------ */

/*
 * Appends the magic line and the header line: {"format":"sg-capture",
 * "version":1,"source":...,"start_ms":...,"streams":[...],"from":...,
 * "tool":...}. from and tool may be NULL. 0, SG_EINVAL (a header over the
 * limit) or SG_ENOMEM.
 */
int sgcap_write_header(sg_buf *out, const char *source, int64_t start_ms,
                       const char *const *streams, size_t nstreams,
                       const char *from, const char *tool);

/*
 * Appends one entry record. The ID must be "<ms>-<seq>" in decimal; the
 * stream 1 .. max_stream_bytes bytes; the record within the default
 * limits. 0, SG_EINVAL or SG_ENOMEM; out is unchanged on failure.
 */
int sgcap_write_entry(sg_buf *out, int64_t arrival_ms, const char *stream,
                      size_t stream_len, const char *id,
                      const sgcap_field *fields, size_t nfields);

/* Appends the end record. 0 or SG_ENOMEM. */
int sgcap_write_end(sg_buf *out, int64_t end_ms, uint64_t count);

/* CRC-32 (ISO-HDLC, as zlib's crc32()), continued from crc (start at 0). */
uint32_t sgcap_crc32(uint32_t crc, const void *bytes, size_t n);

/* Parses "<ms>-<seq>": 0 and both parts, or -1. */
int sgcap_parse_id(const char *s, size_t len, uint64_t *ms, uint64_t *seq);

#endif /* SGCTL_CAPTURE_H */
