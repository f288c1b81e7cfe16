/* What the content service's files share: the Write handler lives in content-write.c, the other methods in
 * content.c. */
#pragma once

#include "basic/error.h"
#include "grpc/grpc.h"
#include "services/services.h"

/* The header containerd clients put the lease of a call in (leases.WithLease). */
#define SERVICE_LEASE_HEADER "containerd-lease"

/* The call's lease, or NULL when it has none. */
const char *service_lease(grpc_call *call);

/* containerd.services.content.v1.Content/Write (bidirectional). */
void content_write_on_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void content_write_on_half_close(grpc_call *call, void *userdata);
void content_write_on_cancel(grpc_call *call, void *userdata);

/* containerd's metadata Abort of the ingest ref in ns: its record (and lease references) go, and its backend
 * ingest unless it never had one. NOT_FOUND `reference <ref>: not found`. */
int content_abort_ingest(service_context *ctx, const char *ns, const char *ref, berr **err);
