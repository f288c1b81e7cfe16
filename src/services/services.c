/* Which services berthd serves. */
#include "services/gc.h"
#include "services/services.h"

int services_register_all(service_context *ctx, berr **err) {
        if (version_service_register(ctx, err) < 0 || introspection_service_register(ctx, err) < 0 ||
            health_service_register(ctx, err) < 0)
                return -1;
        if (ctx->events && events_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && namespaces_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && containers_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && ctx->content &&
            (gc_init(ctx, err) < 0 || content_service_register(ctx, err) < 0 ||
             leases_service_register(ctx, err) < 0 || images_service_register(ctx, err) < 0))
                return -1;
        if (ctx->db && ctx->n_snapshotters > 0 && snapshots_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && ctx->content && diff_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && ctx->state && tasks_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && ctx->content && berth_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && berth_containers_service_register(ctx, err) < 0)
                return -1;
        return 0;
}
