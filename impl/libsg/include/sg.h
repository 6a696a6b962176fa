/*
 * sg.h: the whole public interface of libsg.
 */
#ifndef SG_H
#define SG_H

#include "sg/error.h"
#include "sg/mem.h"
#include "sg/codec.h"
#include "sg/json.h"

#endif /* SG_H */
