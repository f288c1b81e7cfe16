/* libberth: the daemon's event stream (containerd.services.events.v1.Events/Subscribe) and the events as JSON the
 * way ctr prints them (Go's encoding/json of containerd's event structs: proto field names, empty values left out,
 * timestamps RFC 3339 in UTC, bytes base64, maps as objects). */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "client/client-internal.h"
#include "client/containers-internal.h"
#include "containerd/events/container.pb-c.h"
#include "containerd/events/content.pb-c.h"
#include "containerd/events/image.pb-c.h"
#include "containerd/events/namespace.pb-c.h"
#include "containerd/events/snapshot.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/services/events/v1/events.pb-c.h"

int berth_events(berth_client *c, const char *const *filters, berth_event_fn fn, void *userdata, berr **err) {
        size_t n = 0;
        while (filters && filters[n])
                n++;
        Containerd__Services__Events__V1__SubscribeRequest req =
                CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        req.filters = (char **) filters;
        req.n_filters = n;
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/containerd.services.events.v1.Events/Subscribe", 0, &s, err) < 0)
                return -1;
        int r = grpc_stream_send(s, &req.base, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        while (r >= 0) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len = 0;
                r = grpc_stream_recv(s, &msg, &len, err);
                if (r <= 0)
                        break;
                Containerd__Services__Events__V1__Envelope *e =
                        containerd__services__events__v1__envelope__unpack(NULL, len, msg);
                if (!e) {
                        r = berr_set(err, BERR_INTERNAL, 0, "events: undecodable Envelope");
                        break;
                }
                berth_event ev = {
                        .timestamp = client_timestamp_ns(e->timestamp),
                        .namespace_ = e->namespace_ ? e->namespace_ : "",
                        .topic = e->topic ? e->topic : "",
                        .type_url = e->event && e->event->type_url ? e->event->type_url : "",
                        .value = e->event ? e->event->value.data : NULL,
                        .len = e->event ? e->event->value.len : 0,
                };
                int stop = fn(&ev, userdata);
                containerd__services__events__v1__envelope__free_unpacked(e, NULL);
                if (stop)
                        break;
        }
        grpc_stream_free(s);
        return r < 0 ? -1 : 0;
}

static const ProtobufCMessageDescriptor *const known_events[] = {
        &containerd__events__container_create__descriptor,
        &containerd__events__container_update__descriptor,
        &containerd__events__container_delete__descriptor,
        &containerd__events__content_delete__descriptor,
        &containerd__services__images__v1__image_create__descriptor,
        &containerd__services__images__v1__image_update__descriptor,
        &containerd__services__images__v1__image_delete__descriptor,
        &containerd__events__namespace_create__descriptor,
        &containerd__events__namespace_update__descriptor,
        &containerd__events__namespace_delete__descriptor,
        &containerd__events__snapshot_prepare__descriptor,
        &containerd__events__snapshot_commit__descriptor,
        &containerd__events__snapshot_remove__descriptor,
        &containerd__events__task_create__descriptor,
        &containerd__events__task_start__descriptor,
        &containerd__events__task_delete__descriptor,
        &containerd__events__task_io__descriptor,
        &containerd__events__task_exit__descriptor,
        &containerd__events__task_oom__descriptor,
        &containerd__events__task_exec_added__descriptor,
        &containerd__events__task_exec_started__descriptor,
        &containerd__events__task_paused__descriptor,
        &containerd__events__task_resumed__descriptor,
        &containerd__events__task_checkpointed__descriptor,
};

static char *base64(const uint8_t *p, size_t n) {
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);
                *o++ = tab[v >> 18 & 63];
                *o++ = tab[v >> 12 & 63];
                *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? tab[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

/* Go's time.RFC3339Nano in UTC: fraction without trailing zeros. */
static char *rfc3339(const Google__Protobuf__Timestamp *ts) {
        if (!ts)
                return xstrdup("0001-01-01T00:00:00Z");
        time_t t = (time_t) ts->seconds;
        struct tm tm;
        char date[40], frac[16] = "";
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        if (ts->nanos > 0) {
                snprintf(frac, sizeof frac, ".%09d", ts->nanos);
                for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
                        frac[l - 1] = '\0';
        }
        return xasprintf("%s%sZ", date, frac);
}

static json_t *message_json(const ProtobufCMessage *m);

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Go marshals maps with sorted keys. Takes o over. */
static json_t *object_sorted(json_t *o) {
        size_t n = json_object_size(o), i = 0;
        _cleanup_free_ const char **keys = xcalloc(n + 1, sizeof *keys);
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v)
                keys[i++] = key;
        qsort(keys, n, sizeof *keys, cmp_str);
        json_t *r = json_object();
        for (i = 0; i < n; i++)
                json_object_set(r, keys[i], json_object_get(o, keys[i]));
        json_decref(o);
        return r;
}

static bool is_map_entry(const ProtobufCMessageDescriptor *d) {
        size_t l = strlen(d->short_name);
        return d->n_fields == 2 && l > 5 && strcmp(d->short_name + l - 5, "Entry") == 0 &&
               strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

/* One value at p (a field's storage, or an element of a repeated field); NULL for Go's "empty" (omitted). */
static json_t *value_json(const ProtobufCFieldDescriptor *f, const void *p, bool keep_empty) {
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_ENUM: {
                int32_t v = *(const int32_t *) p;
                return v || keep_empty ? json_integer(v) : NULL;
        }
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32: {
                uint32_t v = *(const uint32_t *) p;
                return v || keep_empty ? json_integer(v) : NULL;
        }
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64: {
                int64_t v = *(const int64_t *) p;
                return v || keep_empty ? json_integer(v) : NULL;
        }
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64: {
                uint64_t v = *(const uint64_t *) p;
                return v || keep_empty ? json_integer((json_int_t) v) : NULL;
        }
        case PROTOBUF_C_TYPE_FLOAT: {
                float v = *(const float *) p;
                return v != 0 || keep_empty ? json_real(v) : NULL;
        }
        case PROTOBUF_C_TYPE_DOUBLE: {
                double v = *(const double *) p;
                return v != 0 || keep_empty ? json_real(v) : NULL;
        }
        case PROTOBUF_C_TYPE_BOOL: {
                protobuf_c_boolean v = *(const protobuf_c_boolean *) p;
                return v || keep_empty ? json_boolean(v) : NULL;
        }
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *) p;
                return (s && *s) || keep_empty ? json_string(s ? s : "") : NULL;
        }
        case PROTOBUF_C_TYPE_BYTES: {
                const ProtobufCBinaryData *b = p;
                if (b->len == 0 && !keep_empty)
                        return NULL;
                _cleanup_free_ char *s = base64(b->data, b->len);
                return json_string(s);
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = *(ProtobufCMessage *const *) p;
                if (f->descriptor == &google__protobuf__timestamp__descriptor) {
                        /* containerd's event times are Go time.Time values: always present. */
                        _cleanup_free_ char *s = rfc3339((const Google__Protobuf__Timestamp *) sub);
                        return json_string(s);
                }
                if (!sub)
                        return keep_empty ? json_null() : NULL;
                return message_json(sub);
        }
        }
        return NULL;
}

static json_t *message_json(const ProtobufCMessage *m) {
        const ProtobufCMessageDescriptor *d = m->descriptor;
        json_t *o = json_object();
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const uint8_t *base = (const uint8_t *) m;
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *) (base + f->quantifier_offset);
                        if (n == 0)
                                continue;
                        const uint8_t *arr = *(uint8_t *const *) (base + f->offset);
                        size_t size = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING
                                              ? sizeof(void *)
                                      : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
                                      : f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64 ||
                                                      f->type == PROTOBUF_C_TYPE_SINT64 ||
                                                      f->type == PROTOBUF_C_TYPE_FIXED64 ||
                                                      f->type == PROTOBUF_C_TYPE_SFIXED64 ||
                                                      f->type == PROTOBUF_C_TYPE_DOUBLE
                                              ? 8
                                      : f->type == PROTOBUF_C_TYPE_BOOL ? sizeof(protobuf_c_boolean)
                                                                        : 4;
                        if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
                                json_t *map = json_object();
                                for (size_t k = 0; k < n; k++) {
                                        const ProtobufCMessage *e = ((ProtobufCMessage *const *) arr)[k];
                                        const ProtobufCMessageDescriptor *ed = e->descriptor;
                                        const char *key = *(char *const *) ((const uint8_t *) e +
                                                                            ed->fields[0].offset);
                                        json_t *v = value_json(&ed->fields[1],
                                                               (const uint8_t *) e + ed->fields[1].offset, true);
                                        json_object_set_new(map, key ? key : "", v ? v : json_null());
                                }
                                json_object_set_new(o, f->name, object_sorted(map));
                                continue;
                        }
                        json_t *a = json_array();
                        for (size_t k = 0; k < n; k++) {
                                json_t *v = value_json(f, arr + k * size, true);
                                json_array_append_new(a, v ? v : json_null());
                        }
                        json_object_set_new(o, f->name, a);
                        continue;
                }
                if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
                    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
                    !*(const protobuf_c_boolean *) (base + f->quantifier_offset))
                        continue;
                json_t *v = value_json(f, base + f->offset, false);
                if (v)
                        json_object_set_new(o, f->name, v);
        }
        return o;
}

char *berth_event_json(const berth_event *ev) {
        const ProtobufCMessageDescriptor *d = NULL;
        const char *type = ev->type_url ? ev->type_url : "";
        /* "types.googleapis.com/containerd.events.TaskExit" and the bare name both occur. */
        const char *slash = strrchr(type, '/');
        if (slash)
                type = slash + 1;
        for (size_t i = 0; i < ELEMENTSOF(known_events) && !d; i++)
                if (strcmp(known_events[i]->name, type) == 0)
                        d = known_events[i];
        if (!d)
                return xstrdup("{}");
        ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, ev->len, ev->value);
        if (!m)
                return xstrdup("{}");
        json_t *o = message_json(m);
        protobuf_c_message_free_unpacked(m, NULL);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return s ? s : xstrdup("{}");
}
