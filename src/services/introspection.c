/* containerd.services.introspection.v1.Introspection: the plugin list (ctx->plugins) and the server's identity. */
#include <string.h>
#include <sys/stat.h>

#include "basic/strv.h"
#include "containerd/services/introspection/v1/introspection.pb-c.h"
#include "metadata/filters.h"
#include "services/common.h"
#include "services/services.h"

/* containerd's adaptPlugin: only type and id can be filtered on. */
static const char *plugin_field(const char *const *path, size_t n, void *obj) {
        const service_plugin *p = obj;
        if (n != 1)
                return NULL;
        const char *v = strcmp(path[0], "type") == 0 ? p->type : strcmp(path[0], "id") == 0 ? p->id : NULL;
        return v && *v ? v : NULL;
}

/* One plugin's reply message and the memory behind it. */
typedef struct plugin_pb {
        Containerd__Services__Introspection__V1__Plugin msg;
        Containerd__Types__Platform *platforms;
        Containerd__Types__Platform **platform_ptrs;
        char ***platform_parts;
        service_map_entry *exports;
        service_map_entry **export_ptrs;
        Google__Rpc__Status init_err;
} plugin_pb;

static void plugin_pb_build(plugin_pb *pb, const service_plugin *p) {
        Containerd__Services__Introspection__V1__Plugin *m = &pb->msg;
        containerd__services__introspection__v1__plugin__init(m);
        m->type = p->type;
        m->id = p->id;
        m->requires = p->requires;
        m->n_requires = strv_length(p->requires);
        m->capabilities = p->capabilities;
        m->n_capabilities = strv_length(p->capabilities);

        size_t n = strv_length(p->platforms);
        pb->platforms = xcalloc(n ? n : 1, sizeof *pb->platforms);
        pb->platform_ptrs = xcalloc(n ? n : 1, sizeof *pb->platform_ptrs);
        pb->platform_parts = xcalloc(n ? n : 1, sizeof *pb->platform_parts);
        for (size_t i = 0; i < n; i++) {
                char **parts = pb->platform_parts[i] = strv_split(p->platforms[i], '/');
                size_t np = strv_length(parts);
                containerd__types__platform__init(&pb->platforms[i]);
                pb->platforms[i].os = parts[0];
                pb->platforms[i].architecture = np > 1 ? parts[1] : (char *) "";
                pb->platforms[i].variant = np > 2 ? parts[2] : (char *) "";
                pb->platform_ptrs[i] = &pb->platforms[i];
        }
        m->platforms = pb->platform_ptrs;
        m->n_platforms = n;

        size_t ne = strv_length(p->exports) / 2;
        pb->exports = xcalloc(ne ? ne : 1, sizeof *pb->exports);
        pb->export_ptrs = xcalloc(ne ? ne : 1, sizeof *pb->export_ptrs);
        for (size_t i = 0; i < ne; i++) {
                protobuf_c_message_init(&containerd__services__introspection__v1__plugin__exports_entry__descriptor,
                                        &pb->exports[i]);
                pb->exports[i].key = p->exports[2 * i];
                pb->exports[i].value = p->exports[2 * i + 1];
                pb->export_ptrs[i] = &pb->exports[i];
        }
        m->exports = (Containerd__Services__Introspection__V1__Plugin__ExportsEntry **) pb->export_ptrs;
        m->n_exports = ne;

        if (p->init_err) {
                google__rpc__status__init(&pb->init_err);
                pb->init_err.code = (int32_t) p->init_err->code;
                pb->init_err.message = p->init_err->msg ? p->init_err->msg : (char *) "";
                m->init_err = &pb->init_err;
        }
}

static void plugin_pb_done(plugin_pb *pb) {
        for (size_t i = 0; i < pb->msg.n_platforms; i++)
                strv_free(pb->platform_parts[i]);
        free(pb->platform_parts);
        free(pb->platforms);
        free(pb->platform_ptrs);
        free(pb->exports);
        free(pb->export_ptrs);
}

static void introspection_plugins(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Introspection__V1__PluginsRequest *req =
                service_decode(call, &containerd__services__introspection__v1__plugins_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        _cleanup_meta_filter_ meta_filter *filter = NULL;
        if (meta_filter_parse((const char *const *) req->filters, req->n_filters, &filter, &e) < 0) {
                service_finish_error(call, e);
                return;
        }

        plugin_pb *pbs = xcalloc(ctx->n_plugins ? ctx->n_plugins : 1, sizeof *pbs);
        Containerd__Services__Introspection__V1__Plugin **list = xcalloc(ctx->n_plugins ? ctx->n_plugins : 1,
                                                                         sizeof *list);
        size_t n = 0;
        for (size_t i = 0; i < ctx->n_plugins; i++) {
                if (!meta_filter_match(filter, plugin_field, ctx->plugins[i]))
                        continue;
                plugin_pb_build(&pbs[n], ctx->plugins[i]);
                list[n] = &pbs[n].msg;
                n++;
        }
        Containerd__Services__Introspection__V1__PluginsResponse resp =
                CONTAINERD__SERVICES__INTROSPECTION__V1__PLUGINS_RESPONSE__INIT;
        resp.plugins = list;
        resp.n_plugins = n;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                plugin_pb_done(&pbs[i]);
        free(pbs);
        free(list);
}

static void introspection_server(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        Containerd__Services__Introspection__V1__ServerResponse resp =
                CONTAINERD__SERVICES__INTROSPECTION__V1__SERVER_RESPONSE__INIT;
        resp.uuid = (char *) (ctx->uuid ? ctx->uuid : "");
        resp.pid = (uint64_t) getpid();
        struct stat st;
        if (stat("/proc/self/ns/pid", &st) == 0)
                resp.pidns = st.st_ino;
        grpc_call_reply(call, &resp.base);
}

static const grpc_method introspection_methods[] = {
        { .path = "/containerd.services.introspection.v1.Introspection/Plugins", .kind = GRPC_UNARY,
          .on_message = introspection_plugins },
        { .path = "/containerd.services.introspection.v1.Introspection/Server", .kind = GRPC_UNARY,
          .on_message = introspection_server },
};

int introspection_service_register(service_context *ctx, berr **err) {
        return service_register(ctx, "introspection", introspection_methods, ELEMENTSOF(introspection_methods),
                                NULL, err);
}
