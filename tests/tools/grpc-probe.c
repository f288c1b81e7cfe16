/* grpc-probe: small gRPC checks against berthd for integration tests (there is no grpcurl here).
 *   grpc-probe SOCKET health [SERVICE]        grpc.health.v1.Health/Check; prints SERVING, NOT_SERVING ...
 *   grpc-probe [-n NS] SOCKET call PATH        sends an empty request message to PATH (e.g.
 *                                              /containerd.services.images.v1.Images/List) and prints
 *                                              "OK <reply bytes>" or "<CODE>: <message>"
 * Exits 0 when a status was printed (health: only for SERVING), 1 for any other health status, 2 on usage or
 * transport errors. */
#include <stdio.h>
#include <string.h>

#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.pb-c.h"

#define TIMEOUT_USEC (10ULL * 1000000)

static int health(grpc_client *c, const char *service) {
        Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        req.service = (char *) service;
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_unary(c, "/grpc.health.v1.Health/Check", &req.base, TIMEOUT_USEC, &resp, &len, &e) < 0) {
                printf("%s: %s\n", berr_code_name(e->code), e->msg ? e->msg : "");
                return 2;
        }
        Grpc__Health__V1__HealthCheckResponse *r = grpc__health__v1__health_check_response__unpack(NULL, len, resp);
        if (!r) {
                fprintf(stderr, "grpc-probe: undecodable HealthCheckResponse\n");
                return 2;
        }
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                &grpc__health__v1__health_check_response__serving_status__descriptor, r->status);
        printf("%s\n", v ? v->name : "?");
        int rc = r->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING ? 0 : 1;
        grpc__health__v1__health_check_response__free_unpacked(r, NULL);
        return rc;
}

static int call_empty(grpc_client *c, const char *path) {
        Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_unary(c, path, &req.base, TIMEOUT_USEC, &resp, &len, &e) < 0)
                printf("%s: %s\n", berr_code_name(e->code), e->msg ? e->msg : "");
        else
                printf("OK %zu\n", len);
        return 0;
}

int main(int argc, char **argv) {
        const char *ns = NULL;
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "-n") == 0) {
                ns = argv[2];
                i = 3;
        }
        if (argc - i < 2 || (strcmp(argv[i + 1], "call") == 0 && argc - i != 3)) {
                fprintf(stderr, "usage: grpc-probe SOCKET health [SERVICE] | grpc-probe [-n NS] SOCKET call PATH\n");
                return 2;
        }
        grpc_client *c = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_connect_unix(argv[i], &c, &e) < 0) {
                fprintf(stderr, "grpc-probe: %s\n", e->msg);
                return 2;
        }
        if (ns) {
                grpc_md md = { .name = "containerd-namespace", .value = ns };
                grpc_client_set_default_metadata(c, &md, 1);
        }
        int rc;
        if (strcmp(argv[i + 1], "health") == 0)
                rc = health(c, argc - i > 2 ? argv[i + 2] : "");
        else if (strcmp(argv[i + 1], "call") == 0)
                rc = call_empty(c, argv[i + 2]);
        else {
                fprintf(stderr, "grpc-probe: unknown command %s\n", argv[i + 1]);
                rc = 2;
        }
        grpc_client_free(c);
        return rc;
}
