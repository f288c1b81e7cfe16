/* Shared by the snapshots service's files: resolving a request's namespace and snapshotter, backend ids as the
 * snapshotters want them, Info messages, and what happens to a snapshot's directory once its record is gone. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "grpc/grpc.h"
#include "metadata/leases.h"
#include "metadata/snapshots.h"
#include "services/services.h"
#include "snapshots/snapshots.h"

/* The header a containerd client names its lease in. */
#define SNAPSHOTS_LEASE_HEADER "containerd-lease"

typedef struct snapshot_request {
        const char *ns;    /* the call's namespace */
        const char *name;  /* the snapshotter's name, the default one filled in */
        snapshotter *sn;
        const char *lease; /* the containerd-lease header, or NULL */
} snapshot_request;

/* The call's namespace and the snapshotter it names ("" picks the default). An unknown snapshotter is
 * INVALID_ARGUMENT `snapshotter not loaded: x` (containerd's words). */
int snapshot_request_init(grpc_call *call, service_context *ctx, const char *requested,
                          snapshot_request *ret, berr **err);
/* "snapshots/<snapshotter>": the lease resource type of a snapshot. Returns a new string. */
char *snapshot_lease_type(const snapshot_request *r);
/* The decimal string a snapshotter knows a backend id by. Returns a new string. */
char *snapshot_backend_name(int64_t backend_id);
/* The backend ids of key's ancestors, nearest first, as strings (a NULL-terminated vector, possibly empty). */
int snapshot_parent_names(service_context *ctx, const snapshot_request *r, const char *key, char ***ret,
                          size_t *ret_n, berr **err);

/* An Info reply borrowing from a meta_snapshot. */
typedef struct snapshot_info_pb {
        Containerd__Services__Snapshots__V1__Info info;
        Google__Protobuf__Timestamp created_at;
        Google__Protobuf__Timestamp updated_at;
} snapshot_info_pb;
void snapshot_info_pb_init(snapshot_info_pb *m, const meta_snapshot *s);
void snapshot_info_pb_done(snapshot_info_pb *m);

/* The record of backend_id is gone (its transaction committed): its directory goes too (failures are logged;
 * Cleanup and the GC's startup pass remove leftovers), and a GC pass is scheduled for what it may have freed. */
void snapshot_backend_release(service_context *ctx, snapshotter *sn, int64_t backend_id);

void snapshots_stat(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void snapshots_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void snapshots_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void snapshots_usage(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void snapshots_cleanup(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
