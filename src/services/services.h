/* berthd's gRPC services: one file per service, all sharing one context (the daemon's paths, identity, stores)
 * and registering their method tables on the daemon's gRPC server. Every registered service also appears in
 * introspection as an io.containerd.grpc.v1 plugin, next to the stores the daemon opened (content, snapshotters,
 * metadata), so `ctr plugins ls` shows what this daemon really serves. */
#pragma once

#include <stddef.h>

#include "basic/error.h"
#include "basic/event.h"
#include "grpc/grpc.h"
#include "metadata/db.h"

typedef struct service_plugin {
        char *type; /* "io.containerd.snapshotter.v1" */
        char *id;   /* "overlayfs" */
        char **requires;
        char **platforms; /* "os/arch[/variant]" */
        char **exports;   /* alternating key, value */
        char **capabilities;
        berr *init_err; /* set when the plugin failed to initialise; NULL otherwise */
} service_plugin;

typedef struct service_context {
        ev_loop *loop;
        grpc_server *server;
        const char *root;
        const char *state;
        const char *address;
        const char *uuid;
        const char *default_snapshotter;
        meta_db *db; /* the event loop thread's metadata connection; NULL when metadata is not available */
        struct content_store *content; /* <root>/content (content/content.h) */
        /* Snapshotters by name (snapshots/snapshots.h): "overlayfs" (when the kernel supports it here) and "native". */
        struct snapshotter *snapshotters[2];
        size_t n_snapshotters;
        struct event_exchange *events; /* events/exchange.h: publish with event_publish(ctx->events, ...) */
        const char *ttrpc_address;     /* <address>.ttrpc: shims forward events here (their TTRPC_ADDRESS) */

        struct runtime *runtime; /* runtime/runtime.h: the task manager (tasks_service_register creates it) */
        struct gc_state *gc; /* services/gc.h: gc_schedule(ctx), gc_run_now(ctx, err) */
        const struct berthd_config *config; /* berthd/config.h (registries, hosts_dir, log level); may be NULL */

        service_plugin **plugins;
        size_t n_plugins;

        /* Work that goes on after its call was answered (a --rm container's removal): berthd's shutdown waits for
         * it. on_idle runs when the count drops to zero. */
        unsigned background;
        void (*on_idle)(void *userdata);
        void *on_idle_data;
} service_context;

void service_background_begin(service_context *ctx);
void service_background_end(service_context *ctx);

/* Frees the plugin list (nothing else in the context is owned). */
void service_context_done(service_context *ctx);
/* The snapshotter of that name ("" or NULL: the default one), or NULL. */
struct snapshotter *service_snapshotter(const service_context *ctx, const char *name);

/* Plugins as introspection lists them, in registration order. The returned plugin stays owned by ctx. */
service_plugin *service_plugin_add(service_context *ctx, const char *type, const char *id);
void service_plugin_require(service_plugin *p, const char *type);
/* The host platform (linux/<arch>[/<variant>]). */
void service_plugin_platform_host(service_plugin *p);
void service_plugin_export(service_plugin *p, const char *key, const char *value);
void service_plugin_capability(service_plugin *p, const char *capability);
/* Marks the plugin as failed to initialise (copied). */
void service_plugin_fail(service_plugin *p, const berr *e);

/* Registers methods on ctx->server (userdata = ctx) and lists them as plugin io.containerd.grpc.v1/<id>, returned
 * in *ret_plugin (may be NULL) for the caller to add what it requires. */
int service_register(service_context *ctx, const char *id, const grpc_method *methods, size_t n,
                     service_plugin **ret_plugin, berr **err);

int version_service_register(service_context *ctx, berr **err);
int introspection_service_register(service_context *ctx, berr **err);
/* Needs ctx->db. */
int namespaces_service_register(service_context *ctx, berr **err);
/* grpc.health.v1.Health, listed as containerd's io.containerd.grpc.v1/healthcheck. */
int health_service_register(service_context *ctx, berr **err);
/* containerd.services.snapshots.v1.Snapshots; needs ctx->db and a snapshotter. */
int snapshots_service_register(service_context *ctx, berr **err);
/* containerd.services.diff.v1.Diff (Apply on worker threads); needs ctx->db and ctx->content. */
int diff_service_register(service_context *ctx, berr **err);

/* containerd.services.{content,leases,images}.v1 (content/leases/images.c); need ctx->db (content also
 * ctx->content). The garbage collector (gc.h) comes with them: gc_init before, gc_free in service_context_done. */
int content_service_register(service_context *ctx, berr **err);
int leases_service_register(service_context *ctx, berr **err);
int images_service_register(service_context *ctx, berr **err);

/* containerd.services.events.v1.Events (Publish, Forward, Subscribe); needs ctx->events. */
int events_service_register(service_context *ctx, berr **err);

/* berth.v1.Berth (Pull, Info, ImportImage, ExportImage); needs ctx->db and ctx->content. */
int berth_service_register(service_context *ctx, berr **err);

/* containerd.services.containers.v1.Containers (containers.c); needs ctx->db; publishes the /containers/ events. */
int containers_service_register(service_context *ctx, berr **err);

/* containerd.services.tasks.v1.Tasks; creates ctx->runtime (the task manager) and reconnects to the shims of a
 * previous run; needs ctx->db. */
int tasks_service_register(service_context *ctx, berr **err);

/* berth.v1.Containers (berth-containers*.c: run/ps/stop/rm/logs/exec..., the task and restart monitors); needs
 * ctx->db, ctx->content, a snapshotter, ctx->events and ctx->runtime (register after tasks_service_register). */
int berth_containers_service_register(service_context *ctx, berr **err);

/* Every service this build has that the context can support (those needing ctx->db are skipped without it). */
int services_register_all(service_context *ctx, berr **err);
