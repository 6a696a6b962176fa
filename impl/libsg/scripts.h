/*
 * The Lua scripts of the stream runtime (scripts.c), and the result codes
 * they return. Each script is atomic: Redis runs it to the end before any
 * other command, so every check it makes still holds when it acts.
 */
#ifndef SG_SCRIPTS_H
#define SG_SCRIPTS_H

#include "sg/conn.h"

/* Per-operation result codes of sg__step. */
enum {
    SG__R_OK = 0,          /* B: go ahead; others: done as asked */
    SG__R_BUSY = 1,        /* B: the lock holds another token */
    SG__R_NOT_OWNER = 2,   /* not pending, or pending at another consumer */
    SG__R_ALREADY_SENT = 3, /* outbound: completion marker set; acked */
    SG__R_DUPLICATE = 4,   /* outbound: claim held by another entry; acked */
    SG__R_UNKNOWN_SEND = 5, /* outbound: claim held by this entry; DLQ+ack */
    SG__R_LOST = 6,        /* settle: the lock no longer holds our token */
    SG__R_RETRY = 7,       /* settle F: failure recorded, left pending */
    SG__R_DEAD = 8,        /* settle F/D: dead-lettered and acked */
    SG__R_REQUEUED = 9,    /* settle Q: copied to the stream end, acked */
    SG__R_BEFORE = 10      /* settle resend: an earlier send did it */
};

/* Flags of one sg__step operation (ARGV, decimal). */
enum {
    SG__F_LOCK = 1,        /* a lock key follows in KEYS */
    SG__F_KEY2 = 2,        /* a second key follows in KEYS */
    SG__F_RELEASE = 4,     /* release the lock when the entry ends here */
    SG__F_RESEND = 8,      /* resent after a lost reply */
    SG__F_KEY3 = 16,       /* B: the claim key follows in KEYS */
    SG__F_ORDER = 32,      /* the entry's order queue follows in KEYS */
    SG__F_WRITE = 64,      /* A: the stream to write entries to follows */
    SG__F_LIST = 128       /* A: and the list to append to */
};

/*
 * The scripts; caller storage, nothing to free. The
 * bodies of the longer scripts are assembled into the struct itself.
 */
typedef struct sg__scripts {
    sg_script step;
    sg_script renew;
    sg_script autoclaim;
    sg_script read;        /* the inbound read with order queues */
    sg_script hand_keep;   /* hand-over key and hand list upkeep */
    char step_body[10240];
    char autoclaim_body[4096];
    char read_body[4096];
} sg__scripts;

void sg__scripts_init(sg__scripts *s);

#endif /* SG_SCRIPTS_H */
