/*
 * The umbrella header sg.h: this file includes it and nothing else of
 * libsg, and names one thing from each public header, so that a header
 * missing from the umbrella (or one that needs another included first)
 * fails to compile here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <sg.h>

static void test_umbrella_declares_every_header(void **state)
{
    /* One type or function of each header of sg/, in the umbrella's order. */
    size_t sizes[] = {
        sizeof(sg_error),                 /* error.h */
        sizeof(sg_mem),                   /* mem.h */
        sizeof(sg_log),                   /* log.h */
        sizeof(&sg_random_bytes),         /* random.h */
        sizeof(sg_str),                   /* codec.h */
        sizeof(&sg_envelope_to_json),     /* json.h */
        sizeof(sg_topology),              /* config.h */
        sizeof(sg_config_events_opts),    /* config_events.h */
        sizeof(sg_conn_opts),             /* conn.h */
        sizeof(sg_bus_opts),              /* bus.h */
        sizeof(sg_consumer_stats),        /* consumer.h */
        sizeof(sg_inbound_consumer_opts), /* inbound.h */
        sizeof(sg_platform_adapter),      /* outbound.h */
        sizeof(sg_rpc_opts),              /* rpc.h */
        sizeof(sg_tools_client_opts),     /* tools.h */
        sizeof(sg_lease_opts),            /* lease.h */
        sizeof(sg_task_def),              /* supervisor.h */
        sizeof(sg_sched_task),            /* sched.h */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        assert_true(sizes[i] > 0);
}

static void test_umbrella_sg_strerror_works(void **state)
{
    (void)state;
    assert_non_null(sg_strerror(SG_ENOMEM));
    assert_true(strlen(sg_strerror(SG_ENOMEM)) > 0);
    assert_string_equal(sg_err_name(SG_ENOMEM), "ENOMEM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_umbrella_declares_every_header),
        cmocka_unit_test(test_umbrella_sg_strerror_works),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
