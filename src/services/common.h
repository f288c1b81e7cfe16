/* Helpers every service handler uses, so each service file is only its own logic: the namespace from the
 * containerd-namespace header, request decoding, errors as containerd words them, timestamps and label maps. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "grpc/grpc.h"
#include "metadata/labels.h"

/* The header containerd clients put the namespace in. */
#define SERVICE_NAMESPACE_HEADER "containerd-namespace"

/* The call's namespace, validated with containerd's identifier rules. Without the header: NULL with
 * FAILED_PRECONDITION "namespace is required" (containerd's namespaces.NamespaceRequired). An invalid name:
 * NULL with INVALID_ARGUMENT "namespace validation: identifier ...". The string belongs to the call. */
const char *service_namespace(grpc_call *call, berr **err);
/* The same for handlers: on failure the call is finished with that error and NULL returned (the handler returns). */
const char *service_namespace_or_finish(grpc_call *call);
/* Finishes the call with google.protobuf.Empty. */
void service_reply_empty(grpc_call *call);

/* Unpacks a request. On failure the call is finished with INVALID_ARGUMENT and NULL returned: the handler just
 * returns. Free the result with protobuf_c_message_free_unpacked (or declare it _cleanup_pb_). */
void *service_decode(grpc_call *call, const ProtobufCMessageDescriptor *desc, const uint8_t *msg, size_t len);

static inline void service_pb_freep(void *p) {
        ProtobufCMessage **m = p;
        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
}
#define _cleanup_pb_ _cleanup_(service_pb_freep)

/* The status message containerd would send for e: its text with errdefs' class appended (": not found") unless
 * it already ends with it. Returns a new string. */
char *service_error_message(const berr *e);
/* Finishes the call with e (code + service_error_message) and frees e. */
void service_finish_error(grpc_call *call, berr *e);

/* Fills ts (initialising it) from nanoseconds since the epoch. */
void service_timestamp_set(Google__Protobuf__Timestamp *ts, int64_t ns);
/* Nanoseconds since the epoch; 0 for NULL. */
int64_t service_timestamp_ns(const Google__Protobuf__Timestamp *ts);

/* protobuf-c represents map<string, string> fields as arrays of entry messages that all share this layout. */
typedef struct service_map_entry {
        ProtobufCMessage base;
        char *key;
        char *value;
} service_map_entry;

/* Builds a map<string, string> field from labels: n entry pointers in one allocation (free() it once); the entries
 * borrow their strings from l, which must outlive the message. entry_desc is the field's entry descriptor, e.g.
 * &containerd__services__namespaces__v1__namespace__labels_entry__descriptor. NULL when l is empty. */
void *service_map_from_labels(const meta_labels *l, const ProtobufCMessageDescriptor *entry_desc, size_t *ret_n);
/* Copies a map<string, string> field into *ret (emptied first). Entries with an empty value are dropped, as
 * containerd drops them. */
void service_map_to_labels(void *const *entries, size_t n, meta_labels *ret);
