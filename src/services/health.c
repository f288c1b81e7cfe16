/* grpc.health.v1.Health (implemented in src/grpc), listed under containerd's name for it. */
#include "services/services.h"

int health_service_register(service_context *ctx, berr **err) {
        if (grpc_health_register(ctx->server, err) < 0)
                return -1;
        service_plugin_add(ctx, "io.containerd.grpc.v1", "healthcheck");
        return 0;
}
