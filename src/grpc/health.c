/* grpc.health.v1.Health: the daemon is SERVING whenever it answers at all. Watch sends one SERVING and keeps the
 * stream open until the client goes away, as a health watcher expects. */
#include "grpc/grpc.h"
#include "grpc/health/v1/health.pb-c.h"

static void health_check(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Grpc__Health__V1__HealthCheckRequest *req = grpc__health__v1__health_check_request__unpack(NULL, len, msg);
        if (!req) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "invalid HealthCheckRequest");
                return;
        }
        grpc__health__v1__health_check_request__free_unpacked(req, NULL);
        Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
        resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
        if (grpc_call_is_cancelled(call))
                grpc_call_finish(call, BERR_CANCELED, "context canceled");
        else if (userdata)
                grpc_call_send(call, &resp.base); /* Watch: stays open */
        else
                grpc_call_reply(call, &resp.base);
}

static void health_watch_cancel(grpc_call *call, void *userdata) {
        /* Nothing held: the library releases the call. */
}

static const grpc_method check_methods[] = {
        { .path = "/grpc.health.v1.Health/Check", .kind = GRPC_UNARY, .on_message = health_check },
};

static const grpc_method watch_methods[] = {
        {
                .path = "/grpc.health.v1.Health/Watch",
                .kind = GRPC_SERVER_STREAMING,
                .on_message = health_check,
                .on_cancel = health_watch_cancel,
        },
};

int grpc_health_register(grpc_server *srv, berr **err) {
        static int watch_marker;
        if (grpc_server_register(srv, check_methods, ELEMENTSOF(check_methods), NULL, err) < 0)
                return -1;
        return grpc_server_register(srv, watch_methods, ELEMENTSOF(watch_methods), &watch_marker, err);
}
