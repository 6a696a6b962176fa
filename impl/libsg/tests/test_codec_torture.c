/*
 * test_codec_torture.c: every allocation the codec makes fails in turn,
 * and each failure must come back as SG_ENOMEM (or a success that needed
 * no more memory) with nothing leaked and nothing half-made.
 */
#include "mp_build.h"

typedef struct torture {
    long fail_at;               /* allocation number that fails, 1-based */
    long count;                 /* allocations so far */
    long live;                  /* blocks not yet freed */
    int refused;
} torture;

static void *
t_malloc(size_t n, void *ud)
{
    torture *t = ud;
    void *p;

    if (++t->count == t->fail_at) {
        t->refused = 1;
        return NULL;
    }
    p = malloc(n);
    if (p != NULL)
        t->live++;
    return p;
}

static void *
t_realloc(void *old, size_t n, void *ud)
{
    torture *t = ud;
    void *p;

    if (++t->count == t->fail_at) {
        t->refused = 1;
        return NULL;
    }
    p = realloc(old, n);
    if (p != NULL && old == NULL)
        t->live++;
    return p;
}

static void
t_free(void *p, void *ud)
{
    torture *t = ud;

    if (p != NULL)
        t->live--;
    free(p);
}

typedef int (*op_fn)(const sg_mem *mem, const mb *input);

/* Runs op with allocation 1, 2, ... failing until it succeeds. */
static void
torture_op(const char *name, op_fn op, const mb *input)
{
    torture t;
    sg_mem mem = { t_malloc, t_realloc, t_free, &t };
    long n;

    for (n = 1; n < 10000; n++) {
        int rc;

        memset(&t, 0, sizeof(t));
        t.fail_at = n;
        rc = op(&mem, input);
        if (t.live != 0)
            fail_msg("%s: %ld blocks leaked when allocation %ld failed",
                     name, t.live, n);
        if (!t.refused) {
            assert_int_equal(rc, 0);
            assert_true(n > 1);     /* something was allocated */
            return;
        }
        if (rc != SG_ENOMEM && rc != 0)
            fail_msg("%s: allocation %ld failed, got %s", name, n,
                     sg_err_name(rc));
    }
    fail_msg("%s never succeeded", name);
}

static int
op_decode(const sg_mem *mem, const mb *input, sg_kind kind)
{
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    sg_decode_opts_init(&opts);
    opts.mem = mem;
    rc = sg_envelope_decode_data(kind, input->b, input->len, &opts, &env,
                                 &err);
    if (rc != 0) {
        assert_null(env);
        assert_int_equal(err.code, rc);
    }
    sg_envelope_free(env);
    return rc;
}

static int
op_decode_inbound(const sg_mem *mem, const mb *input)
{
    return op_decode(mem, input, SG_KIND_INBOUND);
}

static int
op_decode_outbound(const sg_mem *mem, const mb *input)
{
    return op_decode(mem, input, SG_KIND_OUTBOUND);
}

/* Decode with the default allocator, then encode and write JSON through
   the failing one, then read that JSON back through it. */
static int
op_encode_json(const sg_mem *mem, const mb *input)
{
    sg_envelope *env = NULL, *back = NULL;
    sg_decode_opts opts;
    sg_error err;
    sg_buf buf;
    int rc;

    assert_int_equal(sg_envelope_decode_data(SG_KIND_INBOUND, input->b,
                                             input->len, NULL, &env, &err),
                     0);
    sg_buf_init(&buf, mem);
    rc = sg_envelope_encode(env, &buf, &err);
    if (rc == 0) {
        sg_buf_reset(&buf);
        rc = sg_envelope_to_json(env, &buf, &err);
    }
    if (rc == 0) {
        sg_decode_opts_init(&opts);
        opts.mem = mem;
        rc = sg_envelope_from_json(SG_KIND_INBOUND, (const char *)buf.data,
                                   buf.len, &opts, &back, &err);
        if (rc == 0)
            assert_true(sg_envelope_equal(env, back));
    }
    if (rc != 0)
        assert_int_equal(buf.len == 0 || rc == SG_ENOMEM, 1);
    sg_envelope_free(back);
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
    return rc;
}

/* An inbound envelope that needs the arena to grow (a large base64
   attachment), many unknown keys (a duplicate-key hash table) and a
   large map (pairs noted on the heap). */
static void
big_inbound(mb *m)
{
    char key[16], b64[1400];
    int i;

    /* 1396 characters of "QUFB" ("AAA"): 1047 bytes, twice. */
    for (i = 0; i < 1396; i++)
        b64[i] = "QUFB"[i % 4];
    b64[1396] = '\0';
    mb_map(m, 3 + 40);
    mb_kv(m, "platform", "p");
    mb_kv(m, "channel_id", "c");
    mb_str(m, "attachments");
    mb_arr(m, 2);
    mb_map(m, 1);
    mb_kv(m, "data", b64);
    mb_map(m, 1);
    mb_kv(m, "data", b64);
    for (i = 0; i < 40; i++) {
        assert_true(snprintf(key, sizeof(key), "extra%d", i)
                    < (int)sizeof(key));
        mb_str(m, key);
        mb_map(m, 12);
        for (int j = 0; j < 12; j++) {
            assert_true(snprintf(key, sizeof(key), "k%d", j)
                        < (int)sizeof(key));
            mb_kv(m, key, "v");
        }
    }
}

/* SG-LIMIT-006: no allocation failure leaks or crashes, in any path. */
static void
test_envelope_decode_survives_every_allocation_failure(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    big_inbound(&m);
    torture_op("decode inbound", op_decode_inbound, &m);
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "buttons");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "text", "t");
    mb_str(&m, "buttons");
    mb_arr(&m, 1);
    mb_map(&m, 10);
    mb_kv(&m, "label", "L");
    for (int j = 0; j < 9; j++) {
        char key[8];

        assert_true(snprintf(key, sizeof(key), "k%d", j) < (int)sizeof(key));
        mb_kv(&m, key, "v");
    }
    torture_op("decode outbound", op_decode_outbound, &m);
    mb_free(&m);
}

/* SG-FRAME-012: the same for encoding and the JSON bridge. */
static void
test_envelope_encode_and_json_survive_every_allocation_failure(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    big_inbound(&m);
    torture_op("encode and JSON", op_encode_json, &m);
    mb_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_envelope_decode_survives_every_allocation_failure),
        cmocka_unit_test(
            test_envelope_encode_and_json_survive_every_allocation_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
