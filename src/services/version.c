/* containerd.services.version.v1.Version. */
#include "containerd/services/version/v1/version.pb-c.h"
#include "services/berth-version.h"
#include "services/services.h"

static void version_version(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Containerd__Services__Version__V1__VersionResponse resp =
                CONTAINERD__SERVICES__VERSION__V1__VERSION_RESPONSE__INIT;
        resp.version = (char *) BERTH_CONTAINERD_VERSION;
        resp.revision = (char *) BERTH_REVISION;
        grpc_call_reply(call, &resp.base);
}

static const grpc_method version_methods[] = {
        { .path = "/containerd.services.version.v1.Version/Version", .kind = GRPC_UNARY,
          .on_message = version_version },
};

int version_service_register(service_context *ctx, berr **err) {
        return service_register(ctx, "version", version_methods, ELEMENTSOF(version_methods), NULL, err);
}
