/*
 * fuzz_rpc_reply: the RPC client's reading of a reply list's text (SPEC
 * section 10, SG-RPC-011): the bounded JSON front end sg__json_parse(),
 * then sg_rpc_check_reply() and sg_rpc_reply_error() on what it accepts.
 *
 * Input: a mode byte, then the reply's text. Mode bits 0-2 pick the method
 * the reply answers (fetch_channel_history, should_skip_channel_heartbeat,
 * delete_egregore_webhook, execute_tool, an unknown one); bit 3 picks
 * small limits (64 bytes, depth 4) instead of the client's (4 MiB, depth
 * 32); bits 4-7 are the history limit.
 *
 * Checks: a rejected text leaves no tree and names one of the front end's
 * reasons (entry_too_large, invalid_json, too_deep) at path `reply`; a
 * checked reply fails only with SG_EINVALID, a reason and a path under
 * `reply`; an accepted tree printed back parses again and checks under the
 * same contract. (Not always to the same verdict: cJSON reads 1e400 as an
 * infinity and prints it as null.) cJSON allocates through its own hooks, not the capped
 * allocator; LeakSanitizer watches those.
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "../impl/libsg/json_text.h"
#include "sg/rpc.h"

static const char *const methods[] = {
    "fetch_channel_history", "should_skip_channel_heartbeat",
    "delete_egregore_webhook", "execute_tool", "no_such_method"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

static int check(const char *method, const cJSON *j, size_t limit)
{
    sg_error err;
    int rc = sg_rpc_check_reply(method, j, limit, &err);

    if (rc != 0 && rc != SG_EINVALID)
        fuzz_fail("sg_rpc_check_reply returned %d", rc);
    if (rc != 0 && (err.code != rc || err.reason == SG_REASON_NONE ||
                    strncmp(err.path, "reply", 5) != 0))
        fuzz_fail("check failed without reason or path: %d %s", err.reason,
                  err.path);
    if (rc == 0 && err.code != 0)
        fuzz_fail("check passed with an error set");
    (void)sg_rpc_reply_error(j);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *method;
    size_t max_bytes, limit, n;
    int depth, rc;
    cJSON *j = NULL, *k = NULL;
    char *text, *printed;
    sg_error err;

    if (size < 1)
        return 0;
    method = methods[(data[0] & 7) % 5];
    max_bytes = (data[0] & 8) ? 64 : 4194304;
    depth = (data[0] & 8) ? 4 : 32;
    limit = (size_t)(data[0] >> 4);
    n = size - 1;
    /* The parser wants the NUL that ends every hiredis reply. */
    text = malloc(n + 1);
    if (text == NULL)
        return 0;
    if (n > 0)
        memcpy(text, data + 1, n);
    text[n] = '\0';

    rc = sg__json_parse(text, n, max_bytes, depth, "reply", &j, &err);
    if (rc != 0) {
        if (j != NULL || rc != SG_EDECODE || err.code != rc ||
            strcmp(err.path, "reply") != 0 ||
            (err.reason != SG_REASON_ENTRY_TOO_LARGE &&
             err.reason != SG_REASON_INVALID_JSON &&
             err.reason != SG_REASON_TOO_DEEP))
            fuzz_fail("bad rejection: rc %d reason %d path %s", rc,
                      err.reason, err.path);
        free(text);
        return 0;
    }
    if (j == NULL)
        fuzz_fail("accepted without a tree");
    (void)check(method, j, limit);

    /* What cJSON prints of it reads back and gets the same verdict. */
    printed = cJSON_PrintUnformatted(j);
    if (printed != NULL) {
        if (sg__json_parse(printed, strlen(printed), (size_t)-1 / 2, depth,
                           "reply", &k, &err) != 0)
            fuzz_fail("printed reply does not parse: %s", err.msg);
        (void)check(method, k, limit);
        cJSON_Delete(k);
        cJSON_free(printed);
    }
    cJSON_Delete(j);
    free(text);
    return 0;
}
