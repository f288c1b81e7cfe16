/* Which services berthd serves. */
#include "services/services.h"

int services_register_all(service_context *ctx, berr **err) {
        if (version_service_register(ctx, err) < 0 || introspection_service_register(ctx, err) < 0 ||
            health_service_register(ctx, err) < 0)
                return -1;
        if (ctx->db && namespaces_service_register(ctx, err) < 0)
                return -1;
        return 0;
}
