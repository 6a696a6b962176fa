/*
 * fuzz_capture: the capture-file reader of tools/sgctl (protocol/
 * CAPTURE.md), compiled in from its source.
 *
 * Input: a mode byte, then the bytes of a capture file. Mode bits 0-1 pick
 * how the bytes are fed: 0 all at once, 1 byte by byte, 2 in chunks of
 * (bits 4-7) + 1 bytes, 3 in two pieces split at the middle. Bit 2 picks
 * small limits (header 256 bytes, record 512, 4 fields, stream names of
 * 16 bytes) so short inputs reach every limit. Bit 3 refuses the
 * allocation numbered by bits 4-7.
 *
 * Checks: a record the reader returns encodes back, through the writers,
 * to exactly its bytes (round trip); its index counts the entry records
 * before it; a refusal names an offset inside the input, a kind and a
 * message, and the reader stays failed; SG_ENOMEM only after a refused
 * allocation; at the end, finish() reports a cut only when bytes are left
 * over; every allocation is given back.
 */
#include "harness.h"

#include "../tools/sgctl/capture.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

static void check_record(const sgcap_record *rec, uint64_t entries,
                         size_t size)
{
    sg_buf b;
    int rc;

    if (rec->raw_len < SGCAP_RECORD_OVERHEAD ||
        rec->offset + rec->raw_len > size)
        fuzz_fail("record at %llu of %zu bytes lies outside the input",
                  (unsigned long long)rec->offset, rec->raw_len);
    if (rec->index != entries)
        fuzz_fail("record index %llu, but %llu entries came before",
                  (unsigned long long)rec->index,
                  (unsigned long long)entries);
    sg_buf_init(&b, &fuzz_mem);
    if (rec->type == SGCAP_ENTRY)
        rc = sgcap_write_entry(&b, rec->arrival_ms, rec->stream,
                               rec->stream_len, rec->id, rec->fields,
                               rec->nfields);
    else if (rec->type == SGCAP_END)
        rc = sgcap_write_end(&b, rec->end_ms, rec->end_count);
    else
        fuzz_fail("record of type %d returned", rec->type);
    if (rc == SG_ENOMEM && fuzz_heap_state.refused) {
        sg_buf_destroy(&b);
        return;
    }
    if (rc != 0)
        fuzz_fail("a record the reader accepted does not write back: %d",
                  rc);
    if (b.len != rec->raw_len || memcmp(b.data, rec->raw, b.len) != 0)
        fuzz_fail("record at %llu writes back to other bytes (%zu, %zu)",
                  (unsigned long long)rec->offset, b.len, rec->raw_len);
    sg_buf_destroy(&b);
}

static void check_error(int rc, const sgcap_error *err, size_t size)
{
    if (rc == SG_ENOMEM) {
        if (!fuzz_heap_state.refused)
            fuzz_fail("SG_ENOMEM but no allocation was refused");
        return;
    }
    if (rc != SG_EDECODE)
        fuzz_fail("reader returned %d", rc);
    if (err->kind == SGCAP_OK || err->msg[0] == '\0' ||
        strstr(err->msg, "offset ") == NULL)
        fuzz_fail("a refusal without kind or offset: '%s'", err->msg);
    if (err->offset > size)
        fuzz_fail("refusal at offset %llu, past the %zu input bytes",
                  (unsigned long long)err->offset, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sgcap_limits small = {256, 512, 4, 16};
    sgcap_reader r;
    sgcap_record rec;
    sgcap_error err;
    uint8_t mode;
    size_t at = 0, chunk, n;
    uint64_t entries = 0;
    int rc = 0, failed = 0;

    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    fuzz_input_begin((mode & 8) ? (long)(mode >> 4) : -1);
    sgcap_reader_init(&r, (mode & 4) ? &small : NULL, &fuzz_mem);
    switch (mode & 3) {
    case 0: chunk = size; break;
    case 1: chunk = 1; break;
    case 2: chunk = (size_t)(mode >> 4) + 1; break;
    default: chunk = size / 2 + 1; break;
    }
    if (chunk == 0)
        chunk = 1;
    /* Asking before any input only asks for input. */
    if (sgcap_reader_next(&r, &rec, &err) != 0)
        fuzz_fail("next() before any input did not ask for input");
    while (!failed && at < size) {
        n = size - at < chunk ? size - at : chunk;
        if (sgcap_reader_feed(&r, data + at, n, &err) != 0) {
            if (!fuzz_heap_state.refused)
                fuzz_fail("feed failed without a refused allocation");
            failed = 1;
            break;
        }
        at += n;
        while ((rc = sgcap_reader_next(&r, &rec, &err)) == 1) {
            check_record(&rec, entries, size);
            if (rec.type == SGCAP_ENTRY)
                entries++;
        }
        if (rc < 0) {
            check_error(rc, &err, size);
            if (sgcap_reader_next(&r, &rec, &err) >= 0)
                fuzz_fail("a failed reader went on reading");
            failed = 1;
        }
    }
    if (!failed) {
        rc = sgcap_reader_finish(&r, &err);
        if (rc != 0) {
            check_error(rc, &err, size);
            if (err.kind != SGCAP_ERR_TRUNCATED)
                fuzz_fail("finish() failed with %s, not a cut",
                          sgcap_err_name(err.kind));
        } else if (!sgcap_reader_has_header(&r)) {
            fuzz_fail("finish() accepted an input without a header");
        }
    }
    sgcap_reader_destroy(&r);
    fuzz_input_end();
    return 0;
}
