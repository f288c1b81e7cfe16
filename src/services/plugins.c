/* The plugin list introspection reports, filled by the daemon and by service_register. */
#include <string.h>

#include "basic/strv.h"
#include "images/platform.h"
#include "content/content.h"
#include "runtime/runtime.h"
#include "services/gc.h"
#include "services/services.h"
#include "snapshots/snapshots.h"

static service_plugin *plugin_free(service_plugin *p) {
        if (!p)
                return NULL;
        free(p->type);
        free(p->id);
        strv_free(p->requires);
        strv_free(p->platforms);
        strv_free(p->exports);
        strv_free(p->capabilities);
        berr_free(p->init_err);
        free(p);
        return NULL;
}

struct snapshotter *service_snapshotter(const service_context *ctx, const char *name) {
        if (!name || !name[0])
                name = ctx->default_snapshotter;
        for (size_t i = 0; i < ctx->n_snapshotters; i++)
                if (name && strcmp(snapshotter_name(ctx->snapshotters[i]), name) == 0)
                        return ctx->snapshotters[i];
        return NULL;
}

void service_context_done(service_context *ctx) {
        ctx->runtime = runtime_free(ctx->runtime); /* lets go of the shims; they keep running */
        ctx->gc = gc_free(ctx->gc);
        for (size_t i = 0; i < ctx->n_snapshotters; i++)
                ctx->snapshotters[i] = snapshotter_free(ctx->snapshotters[i]);
        ctx->n_snapshotters = 0;
        ctx->content = content_store_free(ctx->content);
        for (size_t i = 0; i < ctx->n_plugins; i++)
                plugin_free(ctx->plugins[i]);
        free(ctx->plugins);
        ctx->plugins = NULL;
        ctx->n_plugins = 0;
}

service_plugin *service_plugin_add(service_context *ctx, const char *type, const char *id) {
        service_plugin *p = xcalloc(1, sizeof *p);
        p->type = xstrdup(type);
        p->id = xstrdup(id);
        ctx->plugins = xrealloc(ctx->plugins, (ctx->n_plugins + 1) * sizeof *ctx->plugins);
        ctx->plugins[ctx->n_plugins++] = p;
        return p;
}

void service_plugin_require(service_plugin *p, const char *type) {
        if (!strv_contains(p->requires, type))
                strv_extend(&p->requires, type);
}

void service_plugin_platform_host(service_plugin *p) {
        oci_platform host = { 0 };
        platform_default(&host);
        strv_push(&p->platforms, platform_format(&host));
        platform_done(&host);
}

void service_plugin_export(service_plugin *p, const char *key, const char *value) {
        strv_extend(&p->exports, key);
        strv_extend(&p->exports, value);
}

void service_plugin_capability(service_plugin *p, const char *capability) {
        strv_extend(&p->capabilities, capability);
}

void service_plugin_fail(service_plugin *p, const berr *e) {
        berr_free(p->init_err);
        p->init_err = NULL;
        berr_set(&p->init_err, e->code, e->errnum, "%s", e->msg ? e->msg : "");
}

int service_register(service_context *ctx, const char *id, const grpc_method *methods, size_t n,
                     service_plugin **ret_plugin, berr **err) {
        if (grpc_server_register(ctx->server, methods, n, ctx, err) < 0)
                return berr_wrap(err, "registering service %s", id);
        service_plugin *p = service_plugin_add(ctx, "io.containerd.grpc.v1", id);
        if (ret_plugin)
                *ret_plugin = p;
        return 0;
}
