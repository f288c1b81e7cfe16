/* Shared by the Tasks service's files (tasks.c, tasks-create.c, tasks-list.c). */
#pragma once

#include "google/protobuf/timestamp.pb-c.h"
#include "grpc/grpc.h"
#include "runtime/runtime.h"
#include "services/services.h"

/* The call's namespace and the registered task of container id. As containerd's getTask: the container record
 * must exist first (its NOT_FOUND text), then the task (NOT_FOUND "task <id> not found"). On failure the call is
 * finished and NULL returned. *ret_ns (may be NULL) gets the namespace (owned by the call). */
rt_task *tasks_lookup(grpc_call *call, service_context *ctx, const char *id, const char **ret_ns);

/* Finishes the call with a copy of e (a shim's status or a runtime error). */
void tasks_finish_error(grpc_call *call, const berr *e);
/* Finishes with google.protobuf.Empty. */
void tasks_reply_empty(grpc_call *call);
/* Sets ts from ns, or to Go's zero time (-62135596800 s: "not exited" as containerd 1.6 encodes it) for 0. */
void tasks_exited_at(Google__Protobuf__Timestamp *ts, int64_t ns);

void tasks_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void tasks_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void tasks_metrics(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
