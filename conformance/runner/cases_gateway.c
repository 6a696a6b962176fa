/*
 * cases_gateway.c: cases for the gateway role (platform `http`).
 */
#define _POSIX_C_SOURCE 200809L

#include "cases.h"

static int g_basic(sgc_ctx *c)
{
    (void)c;
    return 0;
}

const sgc_case sgc_gateway_cases[] = {
    { "gateway.send.basic", "sends arrive once", "gateway", "SG-OUT-007",
      NULL, 1, 0, 0, g_basic },
};

const size_t sgc_gateway_ncases =
    sizeof sgc_gateway_cases / sizeof sgc_gateway_cases[0];
