/* berthd's ttrpc endpoint for shims: containerd.services.events.ttrpc.v1.Events/Forward on "<address>.ttrpc"
 * (containerd's convention; the runtime hands this path to shims as TTRPC_ADDRESS). Every forwarded envelope goes to
 * event_forward with its own timestamp and namespace. The socket is mode 0600; the ttrpc server also checks the
 * peer's uid/gid (SO_PEERCRED) like containerd's. */
#pragma once

#include "basic/error.h"
#include "basic/event.h"
#include "events/exchange.h"

typedef struct events_ttrpc events_ttrpc;

/* Binds path (replacing a stale socket file; anything else there is an error) and serves it on loop. */
int events_ttrpc_listen(ev_loop *loop, event_exchange *x, const char *path, events_ttrpc **ret, berr **err);
/* Stops serving and removes the socket file if it is still the one bound here. Returns NULL. */
events_ttrpc *events_ttrpc_free(events_ttrpc *t);

/* Nanoseconds since the epoch of a forwarded envelope's timestamp; 0 (which forwarding rejects) when it is missing
 * or Go's zero time, as containerd's validateEnvelope sees both. */
struct Google__Protobuf__Timestamp;
int64_t event_envelope_timestamp_ns(const struct Google__Protobuf__Timestamp *ts);
