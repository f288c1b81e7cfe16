#include <string.h>

#include "basic/log.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "shim/publisher.h"
#include "ttrpc/ttrpc.h"

#define FORWARD_TIMEOUT_NS (5LL * 1000 * 1000 * 1000)
#define MAX_ATTEMPTS 5
#define QUEUE_MAX 2048

typedef struct pending_event {
        struct pending_event *next;
        char *topic;
        char *type_url;
        uint8_t *value;
        size_t value_len;
        int64_t timestamp_ns;
        unsigned attempts;
} pending_event;

struct publisher {
        ev_loop *loop;
        char *address;
        char *ns;
        ttrpc_client *client;
        pending_event *head, *tail;
        size_t queued;
        bool in_flight;
        ev_source *retry_timer;
        bool redialed; /* the current event already got its immediate resend on a fresh connection */
};

static void pump(publisher *p);

static void event_free(pending_event *e) {
        free(e->topic);
        free(e->type_url);
        free(e->value);
        free(e);
}

static pending_event *pop_head(publisher *p) {
        pending_event *e = p->head;
        p->head = e->next;
        if (!p->head)
                p->tail = NULL;
        p->queued--;
        return e;
}

publisher *publisher_new(ev_loop *loop, const char *address, const char *ns) {
        publisher *p = xcalloc(1, sizeof *p);
        p->loop = loop;
        p->address = address && address[0] ? xstrdup(address) : NULL;
        p->ns = xstrdup(ns);
        return p;
}

publisher *publisher_free(publisher *p) {
        if (!p)
                return NULL;
        while (p->head)
                event_free(pop_head(p));
        if (p->retry_timer)
                ev_source_free(p->retry_timer);
        /* Freeing the client fails an in-flight call; its callback sees p->client == NULL via the flag below. */
        ttrpc_client *c = TAKE_PTR(p->client);
        p->in_flight = false;
        if (c)
                ttrpc_client_free(c);
        free(p->address);
        free(p->ns);
        free(p);
        return NULL;
}

bool publisher_idle(const publisher *p) {
        return !p->head && !p->in_flight;
}

void publisher_publish(publisher *p, const char *topic, const char *type_url, const ProtobufCMessage *event) {
        if (!p->address) {
                log_debug("no TTRPC_ADDRESS: dropping event %s", topic);
                return;
        }
        if (p->queued >= QUEUE_MAX) {
                log_warn("event queue full: dropping event %s", topic);
                return;
        }
        pending_event *e = xcalloc(1, sizeof *e);
        e->topic = xstrdup(topic);
        e->type_url = xstrdup(type_url);
        e->value_len = protobuf_c_message_get_packed_size(event);
        e->value = xmalloc(e->value_len);
        protobuf_c_message_pack(event, e->value);
        e->timestamp_ns = now_realtime_nsec();
        if (p->tail)
                p->tail->next = e;
        else
                p->head = e;
        p->tail = e;
        p->queued++;
        pump(p);
}

static int on_retry_timer(ev_source *s, void *userdata) {
        publisher *p = userdata;
        ev_source_free(p->retry_timer);
        p->retry_timer = NULL;
        pump(p);
        return 0;
}

static void on_client_close(ttrpc_client *c, void *userdata) {
        (void) c;
        (void) userdata;
        /* Nothing to do here: a closed client is noticed and replaced at the next send. */
}

static void send_failed(publisher *p, const char *why) {
        pending_event *e = p->head;
        uint64_t delay = 0;
        e->attempts++;
        if (e->attempts >= MAX_ATTEMPTS) {
                log_error("dropping event %s after %u attempts: %s", e->topic, e->attempts, why);
                event_free(pop_head(p));
        } else {
                log_warn("forwarding event %s failed (attempt %u): %s", e->topic, e->attempts, why);
                delay = (uint64_t) e->attempts * 1000000;
        }
        /* Always continue from a timer, never from inside a client callback: the next send may replace the client. */
        if (!p->retry_timer)
                ev_add_timer(p->loop, &p->retry_timer, delay ? delay : 1, on_retry_timer, p);
}

static void on_forward_reply(berr_code code, const char *msg, const uint8_t *payload, size_t len, void *userdata) {
        publisher *p = userdata;
        if (!p->in_flight)
                return; /* the publisher is being freed */
        p->in_flight = false;
        if (code == BERR_OK) {
                p->redialed = false;
                event_free(pop_head(p));
                pump(p);
                return;
        }
        /* A closed connection (the daemon restarted) is replaced by ensure_client() at the next send. Like Go's
         * publisher, redial and resend at once the first time, without waiting out a back-off: the new daemon is
         * most likely up, and exits should reach it promptly. */
        if (code == BERR_UNAVAILABLE && !p->redialed && p->client && ttrpc_client_closed(p->client)) {
                p->redialed = true;
                if (!p->retry_timer)
                        ev_add_timer(p->loop, &p->retry_timer, 1, on_retry_timer, p);
                return;
        }
        send_failed(p, msg ? msg : berr_code_name(code));
}

static int ensure_client(publisher *p, berr **err) {
        if (p->client && !ttrpc_client_closed(p->client))
                return 0;
        if (p->client)
                p->client = ttrpc_client_free(p->client);
        if (ttrpc_client_connect(p->loop, p->address, &p->client, err) < 0)
                return -1;
        ttrpc_client_set_on_close(p->client, on_client_close, p);
        return 0;
}

void publisher_connect(publisher *p) {
        if (!p || !p->address || !p->address[0])
                return;
        berr *err = NULL;
        if (ensure_client(p, &err) < 0) {
                log_debug("publisher: early connect to %s: %s", p->address, err->msg);
                berr_free(err);
        }
}

static void pump(publisher *p) {
        if (p->in_flight || p->retry_timer || !p->head)
                return;
        pending_event *e = p->head;
        _cleanup_berr_ berr *err = NULL;
        if (ensure_client(p, &err) < 0) {
                send_failed(p, err->msg);
                return;
        }
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = e->timestamp_ns / 1000000000;
        ts.nanos = (int32_t) (e->timestamp_ns % 1000000000);
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = e->type_url;
        any.value.data = e->value;
        any.value.len = e->value_len;
        Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = p->ns;
        env.topic = e->topic;
        env.event = &any;
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
                CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
        req.envelope = &env;
        const ttrpc_kv md[] = { { "containerd-namespace-ttrpc", p->ns } };
        p->in_flight = true;
        if (ttrpc_client_call(p->client, "containerd.services.events.ttrpc.v1.Events", "Forward",
                              &req.base, md, ELEMENTSOF(md), FORWARD_TIMEOUT_NS, on_forward_reply, p, &err) < 0) {
                p->in_flight = false;
                send_failed(p, err ? err->msg : "send failed");
        }
}
