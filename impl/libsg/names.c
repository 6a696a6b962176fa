/*
 * names.c: the spec's names of envelope kinds and outbound types.
 */
#include <string.h>

#include "sg/codec.h"

static const char *const kind_names[] = {
    "inbound", "outbound", "tools_request", "tools_reply"
};

static const char *const type_names[] = {
    "message", "file", "buttons", "typing", "start_typing", "stop_typing",
    "reaction", "presence", "rpc_request"
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int
lookup(const char *const *names, size_t n, const char *name, size_t len)
{
    size_t i;

    if (name == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return (int)i;
    }
    return -1;
}

const char *
sg_kind_name(sg_kind kind)
{
    if ((unsigned)kind >= COUNT(kind_names))
        return NULL;
    return kind_names[kind];
}

int
sg_kind_from_name(const char *name, size_t len, sg_kind *kind)
{
    int i = lookup(kind_names, COUNT(kind_names), name, len);

    if (i < 0 || kind == NULL)
        return SG_EINVAL;
    *kind = (sg_kind)i;
    return 0;
}

const char *
sg_out_type_name(sg_out_type type)
{
    if ((unsigned)type >= COUNT(type_names))
        return NULL;
    return type_names[type];
}

int
sg_out_type_from_name(const char *name, size_t len, sg_out_type *type)
{
    int i = lookup(type_names, COUNT(type_names), name, len);

    if (i < 0 || type == NULL)
        return SG_EINVAL;
    *type = (sg_out_type)i;
    return 0;
}
