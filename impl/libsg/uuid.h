/*
 * uuid.h: random (version 4) UUIDs in their usual text form, for RPC reply
 * keys (SG-RPC-009) and tools request ids (SG-TOOLS-003).
 */
#ifndef SG_UUID_H
#define SG_UUID_H

/* Length of the text form, without the NUL. */
#define SG__UUID_LEN 36

/*
 * Writes a fresh UUID such as "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b" and a
 * NUL to out (SG__UUID_LEN + 1 bytes): 122 random bits from sg/random.h,
 * with the version and variant bits of RFC 9562. 0 or SG_EIO.
 */
int sg__uuid4(char *out);

#endif /* SG_UUID_H */
