/*
 * sg.h: the whole public interface of libsg: every header of sg/.
 * test_umbrella.c includes this header alone and uses something of each,
 * so that a header left out here fails the build.
 */
#ifndef SG_H
#define SG_H

#include "sg/error.h"
#include "sg/mem.h"
#include "sg/log.h"
#include "sg/random.h"
#include "sg/codec.h"
#include "sg/json.h"
#include "sg/config.h"
#include "sg/config_events.h"
#include "sg/conn.h"
#include "sg/bus.h"
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sg/outbound.h"
#include "sg/rpc.h"
#include "sg/tools.h"
#include "sg/lease.h"
#include "sg/supervisor.h"
#include "sg/sched.h"

#endif /* SG_H */
