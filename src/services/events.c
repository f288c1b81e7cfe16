/* containerd.services.events.v1.Events on the daemon's exchange (events/exchange.h): Publish (namespace from the
 * header, stamped now), Forward (an envelope as given) and Subscribe (a stream of envelopes of every namespace,
 * narrowed by containerd filters). A subscriber's unsent envelopes are bounded: one that falls more than
 * EVENTS_SUBSCRIBER_MAX_PENDING behind (a client that stopped reading) is dropped with RESOURCE_EXHAUSTED instead of
 * holding ever more memory in the daemon. */
#include "basic/log.h"
#include "containerd/services/events/v1/events.pb-c.h"
#include "events/exchange.h"
#include "events/ttrpc-endpoint.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/common.h"
#include "services/services.h"

#define EVENTS_SUBSCRIBER_MAX_PENDING (1u << 20)

typedef struct subscriber {
        grpc_call *call; /* referenced while subscribed */
        event_sub *sub;
} subscriber;

static void events_publish(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Events__V1__PublishRequest *req = service_decode(
                call, &containerd__services__events__v1__publish_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                berr_wrap(&e, "failed publishing event");
                service_finish_error(call, e);
                return;
        }
        const Google__Protobuf__Any *any = req->event;
        if (event_publish_raw(ctx->events, ns, req->topic, any ? any->type_url : "", any ? any->value.data : NULL,
                              any ? any->value.len : 0, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        service_reply_empty(call);
}

static void events_forward(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Events__V1__ForwardRequest *req = service_decode(
                call, &containerd__services__events__v1__forward_request__descriptor, msg, len);
        if (!req)
                return;
        const Containerd__Services__Events__V1__Envelope *env = req->envelope;
        const Google__Protobuf__Any *any = env ? env->event : NULL;
        berr *e = NULL;
        if (event_forward(ctx->events, env ? event_envelope_timestamp_ns(env->timestamp) : 0,
                          env ? env->namespace_ : "", env ? env->topic : "", any ? any->type_url : "",
                          any ? any->value.data : NULL, any ? any->value.len : 0, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        service_reply_empty(call);
}

static void subscriber_end(subscriber *s) {
        grpc_call_set_state(s->call, NULL);
        event_unsubscribe(s->sub);
        grpc_call_unref(s->call);
        free(s);
}

static void on_event(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                     int64_t timestamp_ns, void *userdata) {
        subscriber *s = userdata;
        if (grpc_call_pending_bytes(s->call) > EVENTS_SUBSCRIBER_MAX_PENDING) {
                log_warn("dropping an events subscriber that stopped reading (%zu bytes unsent)",
                         grpc_call_pending_bytes(s->call));
                grpc_call_finish(s->call, BERR_RESOURCE_EXHAUSTED,
                                 "subscription error: subscriber too slow, events dropped");
                subscriber_end(s);
                return;
        }
        Google__Protobuf__Timestamp ts;
        service_timestamp_set(&ts, timestamp_ns);
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *) type_url;
        any.value.data = (uint8_t *) value;
        any.value.len = len;
        Containerd__Services__Events__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = (char *) ns;
        env.topic = (char *) topic;
        env.event = &any;
        grpc_call_send(s->call, &env.base);
}

static void on_exchange_closed(void *userdata) {
        subscriber *s = userdata;
        s->sub = NULL; /* the exchange frees it */
        grpc_call_finish(s->call, BERR_UNAVAILABLE, "subscription error: event exchange closed");
        subscriber_end(s);
}

static void events_subscribe(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Events__V1__SubscribeRequest *req = service_decode(
                call, &containerd__services__events__v1__subscribe_request__descriptor, msg, len);
        if (!req)
                return;
        subscriber *s = xcalloc(1, sizeof *s);
        s->call = call;
        berr *e = NULL;
        if (event_subscribe(ctx->events, (const char *const *) req->filters, req->n_filters, on_event, s, &s->sub,
                            &e) < 0) {
                free(s);
                berr_wrap(&e, "subscription error");
                service_finish_error(call, e);
                return;
        }
        event_sub_set_on_close(s->sub, on_exchange_closed);
        log_debug("events: subscriber added with %zu filter(s)", req->n_filters);
        grpc_call_ref(call);
        grpc_call_set_state(call, s);
}

static void events_subscribe_cancel(grpc_call *call, void *userdata) {
        subscriber *s = grpc_call_get_state(call);
        if (s)
                subscriber_end(s);
}

static const grpc_method events_methods[] = {
        { .path = "/containerd.services.events.v1.Events/Publish", .kind = GRPC_UNARY, .on_message = events_publish },
        { .path = "/containerd.services.events.v1.Events/Forward", .kind = GRPC_UNARY, .on_message = events_forward },
        { .path = "/containerd.services.events.v1.Events/Subscribe",
          .kind = GRPC_SERVER_STREAMING,
          .on_message = events_subscribe,
          .on_cancel = events_subscribe_cancel },
};

int events_service_register(service_context *ctx, berr **err) {
        return service_register(ctx, "events", events_methods, ELEMENTSOF(events_methods), NULL, err);
}
