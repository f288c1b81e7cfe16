/* berth.v1.Berth, shared by its method files: a loop-thread wakeup that worker threads signal (the only way their
 * results reach the gRPC call, which is loop-thread only), and the per-method handlers. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>

#include "basic/error.h"
#include "basic/event.h"
#include "grpc/grpc.h"
#include "images/unpack.h"
#include "services/services.h"

typedef struct berth_wakeup berth_wakeup;

/* An eventfd on the loop: cb(userdata) runs on the loop thread after one or more berth_wakeup_signal calls. */
int berthsvc_wakeup_new(ev_loop *loop, void (*cb)(void *userdata), void *userdata, berth_wakeup **ret, berr **err);
/* From any thread; never blocks. */
void berthsvc_wakeup_signal(berth_wakeup *w);
berth_wakeup *berthsvc_wakeup_free(berth_wakeup *w);

/* The metadata file worker threads open their own connection to. Returns a new string. */
char *berthsvc_db_path(const service_context *ctx);
/* An unpack environment for a worker thread (db, lease and cancel filled by the caller). */
unpack_env berthsvc_unpack_env(const service_context *ctx, const char *ns);
/* A temporary file below <root>/tmp (unlinked: O_TMPFILE), for spooling archives. */
int berthsvc_tmpfile(const service_context *ctx, int *ret_fd, berr **err);

void berthsvc_pull(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void berthsvc_pull_cancel(grpc_call *call, void *userdata);
void berthsvc_import_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void berthsvc_import_half_close(grpc_call *call, void *userdata);
void berthsvc_import_cancel(grpc_call *call, void *userdata);
void berthsvc_export(grpc_call *call, const uint8_t *msg, size_t len, void *userdata);
void berthsvc_export_cancel(grpc_call *call, void *userdata);
