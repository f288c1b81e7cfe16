/* libberth: connection, namespace, errors, version and info. */
#include <string.h>

#include "berth/v1/berth.pb-c.h"
#include "client/client-internal.h"
#include "containerd/services/version/v1/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "services/berth-version.h"

#define NAMESPACE_HEADER "containerd-namespace"

int berth_error_code(const berr *e) {
        return e ? (int) e->code : 0;
}

const char *berth_error_message(const berr *e) {
        return e && e->msg ? e->msg : "";
}

void berth_error_free(berr *e) {
        berr_free(e);
}

const char *berth_client_version(void) {
        return BERTH_VERSION;
}

int berth_client_connect(const char *address, const char *namespace_, berth_client **ret, berr **err) {
        if (!address || !*address)
                address = BERTH_DEFAULT_ADDRESS;
        if (strncmp(address, "unix://", 7) == 0)
                address += 7;
        if (!namespace_ || !*namespace_)
                namespace_ = BERTH_DEFAULT_NAMESPACE;

        grpc_client *g = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_connect_unix(address, &g, &e) < 0)
                /* The transport's text names the syscall; the reason is what a person needs. */
                return berr_set(err, BERR_UNAVAILABLE, e->errnum, "cannot connect to berthd at %s: %s", address,
                                e->errnum ? strerror(e->errnum) : e->msg);

        berth_client *c = xcalloc(1, sizeof *c);
        c->grpc = g;
        c->address = xstrdup(address);
        berth_client_set_namespace(c, namespace_);
        *ret = c;
        return 0;
}

berth_client *berth_client_free(berth_client *c) {
        if (!c)
                return NULL;
        grpc_client_free(c->grpc);
        free(c->address);
        free(c->namespace_);
        free(c);
        return NULL;
}

const char *berth_client_namespace(const berth_client *c) {
        return c->namespace_;
}

const char *berth_client_address(const berth_client *c) {
        return c->address;
}

void berth_client_set_namespace(berth_client *c, const char *namespace_) {
        if (!namespace_ || !*namespace_)
                namespace_ = BERTH_DEFAULT_NAMESPACE;
        char *copy = xstrdup(namespace_);
        free(c->namespace_);
        c->namespace_ = copy;
        grpc_md md = { .name = NAMESPACE_HEADER, .value = c->namespace_ };
        grpc_client_set_default_metadata(c->grpc, &md, 1);
}

int client_unary(berth_client *c, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret, berr **err) {
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        if (grpc_client_unary(c->grpc, path, req, CLIENT_UNARY_TIMEOUT_USEC, &resp, &len, err) < 0)
                return -1;
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, resp);
        if (!m)
                return berr_set(err, BERR_INTERNAL, 0, "%s: cannot decode the reply (%s)", path, desc->name);
        *ret = m;
        return 0;
}

int berth_version(berth_client *c, berth_server_version *ret, berr **err) {
        Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/containerd.services.version.v1.Version/Version", &req.base,
                         &containerd__services__version__v1__version_response__descriptor, &m, err) < 0)
                return -1;
        Containerd__Services__Version__V1__VersionResponse *r = (void *) m;
        *ret = (berth_server_version) { .version = xstrdup(r->version), .revision = xstrdup(r->revision) };
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

void berth_server_version_done(berth_server_version *v) {
        free(v->version);
        free(v->revision);
        *v = (berth_server_version) {};
}

int berth_info_get(berth_client *c, berth_info *ret, berr **err) {
        Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/berth.v1.Berth/Info", &req.base, &berth__v1__info_response__descriptor, &m, err) < 0)
                return -1;
        Berth__V1__InfoResponse *r = (void *) m;
        *ret = (berth_info) {
                .version = xstrdup(r->version),
                .revision = xstrdup(r->revision),
                .root = xstrdup(r->root),
                .state = xstrdup(r->state),
                .address = xstrdup(r->address),
                .snapshotter = xstrdup(r->snapshotter),
                .oci_runtime = xstrdup(r->oci_runtime),
                .log_level = xstrdup(r->log_level),
                .uuid = xstrdup(r->uuid),
                .pid = r->pid,
                .namespaces = r->namespaces,
                .images = r->images,
                .content_blobs = r->content_blobs,
                .content_bytes = r->content_bytes,
                .snapshots = r->snapshots,
                .leases = r->leases,
                .containers = r->containers,
        };
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

void berth_info_done(berth_info *info) {
        free(info->version);
        free(info->revision);
        free(info->root);
        free(info->state);
        free(info->address);
        free(info->snapshotter);
        free(info->oci_runtime);
        free(info->log_level);
        free(info->uuid);
        *info = (berth_info) {};
}
