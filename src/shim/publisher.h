/* Task events to the daemon: containerd.services.events.ttrpc.v1.Events/Forward on TTRPC_ADDRESS
 * (shared/protocol/shim-v2.md §4). Events are sent one at a time, in the order published, so the ordering contract
 * (create < start < exit < delete; exec-added < exec-started < exit) holds on the wire. A failed send is retried after
 * 1 s × attempt and dropped after 5 attempts; a closed connection is redialed once before counting as a failure. */
#pragma once

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/event.h"

typedef struct publisher publisher;

/* address may be NULL or empty: events are then logged and dropped. */
publisher *publisher_new(ev_loop *loop, const char *address, const char *ns);
publisher *publisher_free(publisher *p);

/* Queues an event: topic like "/tasks/exit", type_url like "containerd.events.TaskExit". Stamped with the current time. */
void publisher_publish(publisher *p, const char *topic, const char *type_url, const ProtobufCMessage *event);

/* Connects now (when not connected yet) so that the first event does not wait for it; failures are left to the
 * first publish, which retries as usual. */
void publisher_connect(publisher *p);

/* True when nothing is queued or in flight. */
bool publisher_idle(const publisher *p);
