#include <string.h>

#include "basic/identifier.h"
#include "basic/log.h"
#include "basic/macro.h"
#include "events/exchange.h"
#include "events/fields.h"
#include "metadata/filters.h"

struct event_sub {
        event_exchange *x;
        event_sub *prev, *next;
        meta_filter *filter;
        event_fn cb;
        void *userdata;
        void (*on_close)(void *userdata);
        uint64_t since; /* events numbered after this one are delivered: none published before subscribing */
        bool dead;
};

struct event_exchange {
        ev_loop *loop;
        event_sub *head, *tail;
        size_t n_subs;
        uint64_t seq;
        unsigned depth; /* nested deliveries in progress: subscribers are unlinked only at depth 0 */
        bool has_dead;
};

/* One event being delivered, as filters see it. The event message is decoded once, on the first "event.*" lookup. */
typedef struct delivery {
        const char *ns, *topic, *type_url;
        const uint8_t *value;
        size_t len;
        bool decoded;
        ProtobufCMessage *msg;
} delivery;

int event_exchange_new(ev_loop *loop, event_exchange **ret, berr **err) {
        (void) err;
        event_exchange *x = xcalloc(1, sizeof *x);
        x->loop = loop;
        *ret = x;
        return 0;
}

static void sub_unlink_free(event_sub *s) {
        event_exchange *x = s->x;
        if (s->prev)
                s->prev->next = s->next;
        else
                x->head = s->next;
        if (s->next)
                s->next->prev = s->prev;
        else
                x->tail = s->prev;
        x->n_subs--;
        meta_filter_free(s->filter);
        free(s);
}

static void sweep(event_exchange *x) {
        x->has_dead = false;
        for (event_sub *s = x->head, *next; s; s = next) {
                next = s->next;
                if (s->dead)
                        sub_unlink_free(s);
        }
}

event_exchange *event_exchange_free(event_exchange *x) {
        if (!x)
                return NULL;
        /* on_close may unsubscribe (itself or others): mark first, call, then free everything. */
        x->depth++;
        for (event_sub *s = x->head; s; s = s->next) {
                if (s->dead || !s->on_close)
                        continue;
                void (*on_close)(void *) = s->on_close;
                s->on_close = NULL;
                on_close(s->userdata);
                s->dead = true;
        }
        while (x->head)
                sub_unlink_free(x->head);
        free(x);
        return NULL;
}

int event_validate_namespace(const char *ns, berr **err) {
        if (identifier_validate(ns ? ns : "", err) < 0)
                return berr_wrap(err, "event envelope has invalid namespace");
        return 0;
}

static int topic_error(berr **err, const char *topic, const char *what) {
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "envelope topic \"%s\": %s", topic, what);
}

int event_validate_topic(const char *topic, berr **err) {
        if (!topic || !*topic)
                return topic_error(err, "", "must not be empty");
        if (topic[0] != '/')
                return topic_error(err, topic, "must start with '/'");
        if (topic[1] == '\0')
                return topic_error(err, topic, "must have at least one component");
        const char *p = topic + 1;
        for (;;) {
                const char *slash = strchr(p, '/');
                _cleanup_free_ char *component = slash ? xstrndup(p, (size_t) (slash - p)) : xstrdup(p);
                berr *e = NULL;
                if (identifier_validate(component, &e) < 0) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                 "envelope topic \"%s\": failed validation on component \"%s\": %s", topic,
                                 component, e->msg);
                        berr_free(e);
                        return -1;
                }
                if (!slash)
                        return 0;
                p = slash + 1;
        }
}

static const char *lookup(const char *const *path, size_t n, void *obj) {
        delivery *d = obj;
        if (n == 0)
                return NULL;
        /* As containerd's Envelope.Field: timestamp is not filterable; empty values count as absent. */
        if (strcmp(path[0], "namespace") == 0)
                return d->ns && *d->ns ? d->ns : NULL;
        if (strcmp(path[0], "topic") == 0)
                return d->topic && *d->topic ? d->topic : NULL;
        if (strcmp(path[0], "event") != 0)
                return NULL;
        if (!d->decoded) {
                d->decoded = true;
                const ProtobufCMessageDescriptor *desc = event_type_descriptor(d->type_url);
                if (desc)
                        d->msg = protobuf_c_message_unpack(desc, NULL, d->len, d->value);
        }
        return event_message_field(d->msg, path + 1, n - 1);
}

static void deliver(event_exchange *x, int64_t timestamp_ns, const char *ns, const char *topic, const char *type_url,
                    const uint8_t *value, size_t len) {
        uint64_t seq = ++x->seq;
        if (!value) /* an empty event: callbacks get a valid pointer all the same */
                value = (const uint8_t *) "";
        delivery d = { .ns = ns, .topic = topic, .type_url = type_url ? type_url : "", .value = value, .len = len };
        log_debug("event %s %s %s", ns, topic, d.type_url);
        x->depth++;
        /* Subscribers added during delivery sit after the current one and are skipped by their sequence number;
         * ones removed are only marked, so every next pointer stays valid. */
        for (event_sub *s = x->head; s; s = s->next) {
                if (s->dead || s->since >= seq)
                        continue;
                if (!meta_filter_match(s->filter, lookup, &d))
                        continue;
                s->cb(ns, topic, d.type_url, value, len, timestamp_ns, s->userdata);
        }
        x->depth--;
        if (x->depth == 0 && x->has_dead)
                sweep(x);
        if (d.msg)
                protobuf_c_message_free_unpacked(d.msg, NULL);
}

static int validate(const char *ns, const char *topic, berr **err) {
        if (event_validate_namespace(ns, err) < 0 || event_validate_topic(topic, err) < 0)
                return -1;
        return 0;
}

int event_forward(event_exchange *x, int64_t timestamp_ns, const char *ns, const char *topic, const char *type_url,
                  const uint8_t *value, size_t len, berr **err) {
        if (!x)
                return 0;
        if (validate(ns, topic, err) < 0)
                return -1;
        if (timestamp_ns == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "timestamp must be set on forwarded event");
        deliver(x, timestamp_ns, ns, topic, type_url, value, len);
        return 0;
}

int event_publish_raw(event_exchange *x, const char *ns, const char *topic, const char *type_url,
                      const uint8_t *value, size_t len, berr **err) {
        if (!x)
                return 0;
        if (validate(ns, topic, err) < 0)
                return -1;
        deliver(x, now_realtime_nsec(), ns, topic, type_url, value, len);
        return 0;
}

int event_publish(event_exchange *x, const char *ns, const char *topic, const ProtobufCMessage *event, berr **err) {
        if (!x)
                return 0;
        berr *e = NULL;
        if (validate(ns, topic, &e) < 0) {
                log_error("cannot publish event %s: %s", topic ? topic : "(null)", e->msg);
                if (err)
                        *err = e;
                else
                        berr_free(e);
                return -1;
        }
        size_t len = protobuf_c_message_get_packed_size(event);
        _cleanup_free_ uint8_t *buf = xmalloc(len ? len : 1);
        protobuf_c_message_pack(event, buf);
        deliver(x, now_realtime_nsec(), ns, topic, event->descriptor->name, buf, len);
        return 0;
}

int event_subscribe(event_exchange *x, const char *const *filters, size_t n, event_fn cb, void *userdata,
                    event_sub **ret, berr **err) {
        meta_filter *f = NULL;
        if (meta_filter_parse(filters, n, &f, err) < 0)
                return berr_wrap(err, "failed parsing subscription filters");
        event_sub *s = xcalloc(1, sizeof *s);
        *s = (event_sub) { .x = x, .filter = f, .cb = cb, .userdata = userdata, .since = x->seq, .prev = x->tail };
        if (x->tail)
                x->tail->next = s;
        else
                x->head = s;
        x->tail = s;
        x->n_subs++;
        *ret = s;
        return 0;
}

void event_unsubscribe(event_sub *s) {
        if (!s || s->dead)
                return;
        event_exchange *x = s->x;
        s->dead = true;
        s->on_close = NULL;
        if (x->depth > 0)
                x->has_dead = true;
        else
                sub_unlink_free(s);
}

void event_sub_set_on_close(event_sub *s, void (*on_close)(void *userdata)) {
        s->on_close = on_close;
}

size_t event_exchange_subscriber_count(const event_exchange *x) {
        size_t n = 0;
        for (const event_sub *s = x ? x->head : NULL; s; s = s->next)
                n += !s->dead;
        return n;
}
