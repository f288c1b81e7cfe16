#include <string.h>

#include "basic/identifier.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/common.h"

const char *service_namespace(grpc_call *call, berr **err) {
        const char *ns = grpc_call_metadata(call, SERVICE_NAMESPACE_HEADER);
        if (!ns || !*ns) {
                berr_set(err, BERR_FAILED_PRECONDITION, 0, "namespace is required");
                return NULL;
        }
        if (identifier_validate(ns, err) < 0) {
                berr_wrap(err, "namespace validation");
                return NULL;
        }
        return ns;
}

const char *service_namespace_or_finish(grpc_call *call) {
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns)
                service_finish_error(call, e);
        return ns;
}

void service_reply_empty(grpc_call *call) {
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

void *service_decode(grpc_call *call, const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len) {
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, msg);
        if (!m)
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "grpc: error unmarshalling request: invalid %s",
                                 desc->name);
        return m;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

char *service_error_message(const berr *e) {
        const char *msg = e->msg ? e->msg : "";
        const char *cls = berr_code_class(e->code);
        if (!cls || strcmp(msg, cls) == 0)
                return xstrdup(msg);
        _cleanup_free_ char *suffix = xasprintf(": %s", cls);
        if (ends_with(msg, suffix))
                return xstrdup(msg);
        return *msg ? xasprintf("%s%s", msg, suffix) : xstrdup(cls);
}

void service_finish_error(grpc_call *call, berr *e) {
        _cleanup_free_ char *msg = service_error_message(e);
        grpc_call_finish(call, e->code == BERR_OK ? BERR_UNKNOWN : e->code, "%s", msg);
        berr_free(e);
}

void service_timestamp_set(Google__Protobuf__Timestamp *ts, int64_t ns) {
        google__protobuf__timestamp__init(ts);
        int64_t sec = ns / 1000000000, rem = ns % 1000000000;
        if (rem < 0) { /* Timestamp nanos are always non-negative */
                sec--;
                rem += 1000000000;
        }
        ts->seconds = sec;
        ts->nanos = (int32_t) rem;
}

int64_t service_timestamp_ns(const Google__Protobuf__Timestamp *ts) {
        if (!ts)
                return 0;
        return ts->seconds * 1000000000 + ts->nanos;
}

void *service_map_from_labels(const meta_labels *l, const ProtobufCMessageDescriptor *entry_desc, size_t *ret_n) {
        *ret_n = 0;
        if (!l || l->n == 0)
                return NULL;
        size_t entry_size = entry_desc->sizeof_message;
        /* Pointer array first, entries after it, aligned for the entry struct. */
        size_t head = (l->n * sizeof(void *) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
        uint8_t *block = xcalloc(1, head + l->n * entry_size);
        void **ptrs = (void **) block;
        for (size_t i = 0; i < l->n; i++) {
                service_map_entry *e = (service_map_entry *) (block + head + i * entry_size);
                protobuf_c_message_init(entry_desc, e);
                e->key = l->v[i].key;
                e->value = l->v[i].value;
                ptrs[i] = e;
        }
        *ret_n = l->n;
        return block;
}

void service_map_to_labels(void *const *entries, size_t n, meta_labels *ret) {
        meta_labels_done(ret);
        for (size_t i = 0; i < n; i++) {
                const service_map_entry *e = entries[i];
                if (e->key && e->value && *e->value)
                        meta_labels_set(ret, e->key, e->value);
        }
}
