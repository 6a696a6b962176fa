/*
 * fuzz_roundtrip: the codec's round-trip property (SG-ENV-005).
 *
 * The first byte chooses the kind (bits 0-1, sg_kind); the rest is the
 * `data` bytes. Whenever sg_envelope_decode_data() accepts them:
 *
 *   - the envelope encodes, the encoding decodes to an envelope
 *     sg_envelope_equal() to the first, and that one encodes to the same
 *     bytes again;
 *   - the envelope writes as JSON, the JSON reads back (an equal envelope
 *     when no opaque msgpack value is involved, see fuzz_roundtrip_json)
 *     and writes the same JSON text.
 *
 * Any difference aborts with a message on stderr: a round trip that merely
 * runs proves nothing.
 */
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    return fuzz_decode_data_input(fuzz_kind(data[0]), data + 1, size - 1,
                                  0, fuzz_roundtrip);
}
