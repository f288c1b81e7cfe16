/* berthd's event exchange, as containerd's events/exchange: every event is an envelope {timestamp, namespace, topic,
 * event (google.protobuf.Any: type_url + value)} delivered to every subscriber whose filters match it. Publishers are
 * the daemon's services (event_publish), clients through Events/Publish and Events/Forward, and the shims through the
 * ttrpc endpoint <address>.ttrpc (event_forward). Subscribers are gRPC Events/Subscribe streams (each with a bounded
 * queue: a subscriber that does not keep up is dropped with an error instead of growing memory) and in-process
 * callbacks (task and restart monitors). Everything runs on the loop thread; delivery to in-process subscribers is
 * synchronous, inside the publishing call.
 *
 * Filters are containerd's filter strings (metadata/filters.h), OR'ed, over the envelope fields "topic", "namespace"
 * and "event.<field>[.<field>...]" (fields of the decoded event message by their proto names, when berthd knows the
 * message type; scalar values as text). As in containerd, a value containing '/' must be quoted:
 * topic=="/tasks/exit" (an unquoted / starts a /regex/ quote). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "basic/event.h"

typedef struct event_exchange event_exchange;
typedef struct event_sub event_sub;

int event_exchange_new(ev_loop *loop, event_exchange **ret, berr **err);
/* Drops every subscriber (gRPC streams are finished with UNAVAILABLE; in-process ones just stop: their event_sub
 * pointers are invalid afterwards, so unsubscribe first or use event_sub_set_on_close). Returns NULL. */
event_exchange *event_exchange_free(event_exchange *x);

/* Publishes a message: type_url = the message descriptor's full name (e.g. "containerd.events.ContainerCreate"),
 * timestamp = now. Validates the namespace (identifier) and topic ("/" then identifier components) as containerd;
 * failures are BERR_INVALID_ARGUMENT. A NULL exchange is accepted and does nothing (returns 0), so services can
 * publish unconditionally. */
int event_publish(event_exchange *x, const char *ns, const char *topic, const ProtobufCMessage *event, berr **err);

/* Forwards an envelope as received (keeps its timestamp, which must be non-zero); used by Events/Forward and the
 * shims' ttrpc Forward. Same validation as event_publish. NULL exchange: no-op. */
int event_forward(event_exchange *x, int64_t timestamp_ns, const char *ns, const char *topic, const char *type_url,
                  const uint8_t *value, size_t len, berr **err);

/* value/len is the packed event message (Any.value); type_url as the publisher gave it (berthd publishes bare full
 * names like containerd does: "containerd.events.TaskExit"). Everything is only valid during the call. */
typedef void (*event_fn)(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                         int64_t timestamp_ns, void *userdata);

/* Publishes an already packed event (Any.type_url + Any.value) stamped with the current time: Events/Publish. */
int event_publish_raw(event_exchange *x, const char *ns, const char *topic, const char *type_url,
                      const uint8_t *value, size_t len, berr **err);

/* In-process subscriber with containerd filter strings (n may be 0: everything). Delivery is synchronous on the
 * loop thread, in publishing order. A callback may publish (nested delivery happens inline) and may unsubscribe
 * itself or others. Errors: BERR_INVALID_ARGUMENT for a filter that does not parse. */
int event_subscribe(event_exchange *x, const char *const *filters, size_t n, event_fn cb, void *userdata,
                    event_sub **ret, berr **err);
/* NULL is fine. */
void event_unsubscribe(event_sub *s);
/* Called (once) if the exchange is freed while s is still subscribed; s is gone after it returns. */
void event_sub_set_on_close(event_sub *s, void (*on_close)(void *userdata));
size_t event_exchange_subscriber_count(const event_exchange *x);

/* Validation helpers (containerd's validateTopic / namespace identifier check); BERR_INVALID_ARGUMENT. */
int event_validate_topic(const char *topic, berr **err);
int event_validate_namespace(const char *ns, berr **err);
