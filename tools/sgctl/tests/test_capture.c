/*
 * The capture-file reader and writers (protocol/CAPTURE.md), without
 * Redis: a file written and read back whole and byte by byte, and each
 * kind of damage refused with its offset and field. Tests name the SPEC
 * IDs they check.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "sg/error.h"

static const sgcap_field fields[] = {
    {(const uint8_t *)"data", 4, (const uint8_t *)"\x81\xa1" "a\x01", 4},
    {(const uint8_t *)"ts", 2, (const uint8_t *)"1.5", 3},
    {(const uint8_t *)"", 0, (const uint8_t *)"\0\xff", 2},
};

/* A file: header, two entries, end. Offsets of the records in *rec1/2. */
static void build(sg_buf *b, size_t *rec1, size_t *rec2, size_t *end)
{
    const char *streams[] = {"s", "t"};

    sg_buf_init(b, NULL);
    assert_int_equal(sgcap_write_header(b, "redis://h:1/0", 1700000000000,
                                        streams, 2, "0", "test"), 0);
    *rec1 = b->len;
    assert_int_equal(sgcap_write_entry(b, 1700000000001, "s", 1,
                                       "1700000000000-0", fields, 3), 0);
    *rec2 = b->len;
    assert_int_equal(sgcap_write_entry(b, 1700000000002, "t", 1, "5-18446744"
                                       "073709551615", fields, 1), 0);
    *end = b->len;
    assert_int_equal(sgcap_write_end(b, 1700000000003, 2), 0);
}

typedef struct result {
    int rc;             /* of the last next() or finish() */
    int records;
    sgcap_error err;
} result;

/* Feeds b[0..len) in chunks of `chunk` bytes; reads every record. */
static result read_all(const uint8_t *p, size_t len, size_t chunk)
{
    sgcap_reader r;
    sgcap_record rec;
    result res;
    size_t at = 0, n;
    int rc = 0;

    memset(&res, 0, sizeof res);
    sgcap_reader_init(&r, NULL, NULL);
    while (at < len) {
        n = len - at < chunk ? len - at : chunk;
        assert_int_equal(sgcap_reader_feed(&r, p + at, n, &res.err), 0);
        at += n;
        while ((rc = sgcap_reader_next(&r, &rec, &res.err)) == 1) {
            if (rec.type == SGCAP_ENTRY && res.records == 0) {
                assert_int_equal(rec.nfields, 3);
                assert_int_equal(rec.fields[2].name_len, 0);
                assert_memory_equal(rec.fields[2].value, "\0\xff", 2);
                assert_string_equal(rec.id, "1700000000000-0");
                assert_int_equal(rec.arrival_ms, 1700000000001);
            }
            if (rec.type == SGCAP_ENTRY && res.records == 1)
                assert_true(rec.id_seq == UINT64_MAX);
            res.records += rec.type == SGCAP_ENTRY;
        }
        if (rc < 0) {
            res.rc = rc;
            sgcap_reader_destroy(&r);
            return res;
        }
    }
    res.rc = sgcap_reader_finish(&r, &res.err);
    if (res.rc == 0) {
        assert_true(sgcap_reader_has_header(&r));
        assert_int_equal(r.header.start_ms, 1700000000000);
        assert_string_equal(r.header.source, "redis://h:1/0");
        assert_int_equal(r.header.nstreams, 2);
    }
    sgcap_reader_destroy(&r);
    return res;
}

/* SG-CAP-001, SG-CAP-008: written, then read whole and byte by byte. */
static void test_capture_round_trip(void **state)
{
    size_t a, b2, e, chunk;
    result res;
    sg_buf b;

    (void)state;
    build(&b, &a, &b2, &e);
    assert_memory_equal(b.data, "SGCAPTURE\n{\"format\":\"sg-capture\","
                        "\"version\":1,", 35);
    for (chunk = 1; chunk <= b.len; chunk = chunk * 3 + 1) {
        res = read_all(b.data, b.len, chunk);
        assert_int_equal(res.rc, 0);
        assert_int_equal(res.records, 2);
    }
    sg_buf_destroy(&b);
}

/* SG-CAP-006: a cut anywhere is truncated, naming where the cut part
   starts; a cut at a record boundary is a whole file without end. */
static void test_capture_truncated(void **state)
{
    size_t a, b2, e, cut;
    result res;
    sg_buf b;

    (void)state;
    build(&b, &a, &b2, &e);
    for (cut = 0; cut < b.len; cut++) {
        res = read_all(b.data, cut, 7);
        if (cut == a || cut == b2 || cut == e) {
            assert_int_equal(res.rc, 0);
            continue;
        }
        assert_int_equal(res.rc, SG_EDECODE);
        assert_int_equal(res.err.kind, SGCAP_ERR_TRUNCATED);
        assert_true(res.err.offset <= cut);
        assert_non_null(strstr(res.err.msg, "capture: offset "));
    }
    sg_buf_destroy(&b);
}

static result damaged(size_t at, uint8_t xor_with)
{
    size_t a, b2, e;
    result res;
    sg_buf b;

    build(&b, &a, &b2, &e);
    b.data[at] ^= xor_with;
    res = read_all(b.data, b.len, b.len);
    sg_buf_destroy(&b);
    return res;
}

/* SG-CAP-005, SG-CAP-007, SG-CAP-008: damage is refused, naming the
   offset and the field. */
static void test_capture_damage_named(void **state)
{
    size_t a, b2, e;
    result res;
    sg_buf b;
    char text[512];

    (void)state;
    build(&b, &a, &b2, &e);

    res = damaged(0, 1);
    assert_int_equal(res.err.kind, SGCAP_ERR_VERSION);
    assert_string_equal(res.err.field, "magic");

    res = damaged(a + 20, 0x40);                /* inside the body */
    assert_int_equal(res.err.kind, SGCAP_ERR_CORRUPT);
    assert_string_equal(res.err.field, "crc");
    assert_int_equal(res.err.offset, a);

    res = damaged(b2, 0x20);                    /* type 'E' -> 'e' */
    assert_string_equal(res.err.field, "type");
    assert_int_equal(res.err.offset, b2);

    res = damaged(a + 1, 0x80);                 /* length > 16 MiB */
    assert_int_equal(res.err.kind, SGCAP_ERR_LIMIT);
    assert_string_equal(res.err.field, "length");

    /* Another version. */
    snprintf(text, sizeof text, "SGCAPTURE\n{\"format\":\"sg-capture\","
             "\"version\":2,\"source\":\"x\",\"start_ms\":0}\n");
    res = read_all((const uint8_t *)text, strlen(text), 64);
    assert_int_equal(res.err.kind, SGCAP_ERR_VERSION);
    assert_string_equal(res.err.field, "header.version");
    assert_non_null(strstr(res.err.msg, "offset 10"));

    /* A required member missing; unknown members are ignored. */
    snprintf(text, sizeof text, "SGCAPTURE\n{\"format\":\"sg-capture\","
             "\"version\":1,\"start_ms\":0}\n");
    res = read_all((const uint8_t *)text, strlen(text), 64);
    assert_string_equal(res.err.field, "header.source");
    snprintf(text, sizeof text, "SGCAPTURE\n{\"format\":\"sg-capture\","
             "\"version\":1,\"source\":\"redis://h:1/0\",\"start_ms\":"
             "1700000000000,\"streams\":[\"s\",\"t\"],\"new\":[1]}\n");
    res = read_all((const uint8_t *)text, strlen(text), 64);
    assert_int_equal(res.rc, 0);

    /* An end record whose count is wrong; bytes after the end. */
    {
        sg_buf c;
        sg_buf_init(&c, NULL);
        assert_int_equal(sg_buf_append(&c, b.data, e), 0);
        assert_int_equal(sgcap_write_end(&c, 1, 3), 0);
        res = read_all(c.data, c.len, c.len);
        assert_string_equal(res.err.field, "count");
        c.len = 0;
        assert_int_equal(sg_buf_append(&c, b.data, b.len), 0);
        assert_int_equal(sg_buf_append(&c, "E", 1), 0);
        res = read_all(c.data, c.len, c.len);
        assert_string_equal(res.err.field, "type");
        assert_int_equal(res.err.offset, b.len);
        sg_buf_destroy(&c);
    }
    sg_buf_destroy(&b);
}

/*
 * Bug: next() on a reader that was fed nothing did arithmetic on its NULL
 * buffer (UBSan: applying zero offset to null pointer). It asks for input.
 */
static void test_capture_next_before_any_input(void **state)
{
    sgcap_reader r;
    sgcap_record rec;
    sgcap_error err;

    (void)state;
    sgcap_reader_init(&r, NULL, NULL);
    assert_int_equal(sgcap_reader_next(&r, &rec, &err), 0);
    assert_int_equal(sgcap_reader_feed(&r, "", 0, &err), 0);
    assert_int_equal(sgcap_reader_next(&r, &rec, &err), 0);
    assert_int_equal(sgcap_reader_finish(&r, &err), SG_EDECODE);
    assert_int_equal(err.kind, SGCAP_ERR_TRUNCATED);
    assert_string_equal(err.field, "magic");
    sgcap_reader_destroy(&r);
}

/* The writers refuse what the format cannot hold. */
static void test_capture_writer_limits(void **state)
{
    char big[1100];
    sg_buf b;

    (void)state;
    memset(big, 's', sizeof big);
    sg_buf_init(&b, NULL);
    assert_int_equal(sgcap_write_entry(&b, 1, big, sizeof big, "1-1",
                                       fields, 1), SG_EINVAL);
    assert_int_equal(sgcap_write_entry(&b, 1, "s", 1, "1-x", fields, 1),
                     SG_EINVAL);
    assert_int_equal(sgcap_write_entry(&b, -1, "s", 1, "1-1", fields, 1),
                     SG_EINVAL);
    assert_int_equal(sgcap_write_entry(&b, 1, "s", 1, "1-1", fields, 1025),
                     SG_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(sgcap_crc32(0, "123456789", 9), 0xCBF43926u);
    sg_buf_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_round_trip),
        cmocka_unit_test(test_capture_truncated),
        cmocka_unit_test(test_capture_damage_named),
        cmocka_unit_test(test_capture_writer_limits),
        cmocka_unit_test(test_capture_next_before_any_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
