/* The compare-and-act Lua scripts of leases (lease_scripts.h). */
#include "lease_scripts.h"

#define CAS_EXPIRE                                                          \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"                       \
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"                    \
    "end\n"                                                                 \
    "return 0\n"

#define CAS_DELETE                                                          \
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"                       \
    "  return redis.call('DEL', KEYS[1])\n"                                 \
    "end\n"                                                                 \
    "return 0\n"

const sg_script sg__script_cas_expire = {
    "cas_expire", CAS_EXPIRE, sizeof CAS_EXPIRE - 1
};

const sg_script sg__script_cas_delete = {
    "cas_delete", CAS_DELETE, sizeof CAS_DELETE - 1
};

