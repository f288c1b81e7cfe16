#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/event.h"
#include "basic/fileio.h"
#include "basic/log.h"
#include "berthd/daemon.h"
#include "content/content.h"
#include "events/exchange.h"
#include "events/ttrpc-endpoint.h"
#include "snapshots/snapshots.h"
#include "berthd/dirs.h"
#include "berthd/memory.h"
#include "berthd/wal.h"
#include "grpc/grpc.h"
#include "metadata/db.h"
#include "services/berth-version.h"
#include "services/services.h"

/* How long a stop signal waits for background removals. */
#define DRAIN_TIMEOUT_SEC 10

struct berthd {
        berthd_config *cfg;
        ev_loop *loop;
        grpc_server *server;
        service_context services;
        char *uuid;
        meta_db *db; /* the event loop thread's connection */
        event_exchange *events;
        events_ttrpc *events_ttrpc; /* <address>.ttrpc, where shims forward their events */
        char *ttrpc_address;
        int root_lock;
        int state_lock;
        ev_source *signals[3];
        ev_source *drain_timer; /* shutting down: the bound on waiting for background removals */
        bool listening;
        int listen_fd; /* bound and listening, not yet served: see start_listening */
        dev_t socket_dev; /* identifies our socket file, so we never remove a successor's */
        ino_t socket_ino;
};

static void exit_when_idle(void *userdata) {
        berthd *d = userdata;
        ev_loop_exit(d->loop, 0);
}

static int on_drain_timeout(ev_source *s, void *userdata) {
        berthd *d = userdata;
        log_warn("%u removals still under way after %d s: stopping anyway (the next start resumes them)",
                 d->services.background, DRAIN_TIMEOUT_SEC);
        ev_loop_exit(d->loop, 0);
        return 0;
}

/* Removals that go on after their call was answered (a --rm container's) finish first, within a bound. */
static int on_stop_signal(ev_source *s, const struct signalfd_siginfo *si, void *userdata) {
        berthd *d = userdata;
        log_info("received SIG%s, shutting down", sigabbrev_np((int) si->ssi_signo));
        if (d->services.background == 0 || d->drain_timer) {
                ev_loop_exit(d->loop, 0);
                return 0;
        }
        log_info("waiting for %u removals to finish", d->services.background);
        d->services.on_idle = exit_when_idle;
        d->services.on_idle_data = d;
        uint64_t usec = (uint64_t) DRAIN_TIMEOUT_SEC * 1000000ULL;
        if (ev_add_timer(d->loop, &d->drain_timer, usec, on_drain_timeout, d) < 0)
                ev_loop_exit(d->loop, 0);
        return 0;
}

static void log_reloaded(const berthd *d) {
        log_info("reloaded %s: log level applied; other settings take effect at restart", d->cfg->config_file);
}

/* SIGHUP re-reads the config file for the log level; everything else needs a restart. */
static int on_reload_signal(ev_source *s, const struct signalfd_siginfo *si, void *userdata) {
        berthd *d = userdata;
        if (!d->cfg->config_file) {
                log_info("received SIGHUP without a config file: nothing to reload");
                return 0;
        }
        berthd_config fresh;
        berthd_config_init(&fresh);
        _cleanup_berr_ berr *e = NULL;
        if (berthd_config_load(&fresh, d->cfg->config_file, &e) < 0)
                log_error("reload failed, keeping the current settings: %s", e->msg);
        else {
                /* Said at whichever of the old and new levels shows info lines. */
                bool info_before = log_get_level() >= LOG_LVL_INFO;
                if (info_before)
                        log_reloaded(d);
                d->cfg->log_level = fresh.log_level;
                log_set_level(fresh.log_level);
                if (!info_before)
                        log_reloaded(d);
        }
        berthd_config_done(&fresh);
        return 0;
}

static int add_signals(berthd *d, berr **err) {
        static const int signos[] = { SIGTERM, SIGINT, SIGHUP };
        for (size_t i = 0; i < ELEMENTSOF(signos); i++) {
                int r = ev_add_signal(d->loop, &d->signals[i], signos[i],
                                      signos[i] == SIGHUP ? on_reload_signal : on_stop_signal, d);
                if (r < 0)
                        return berr_errno(err, -r, "cannot watch signal %d", signos[i]);
        }
        return 0;
}

/* The metadata database: <root>/metadata/meta.db (SQLite, WAL files beside it). */
static int open_metadata(berthd *d, berr **err) {
        _cleanup_free_ char *dir = xasprintf("%s/metadata", d->cfg->root);
        if (berthd_make_dir(dir, 0700, err) < 0)
                return -1;
        _cleanup_free_ char *path = xasprintf("%s/meta.db", dir);
        if (meta_db_open(path, &d->db, err) < 0)
                return berr_wrap(err, "metadata %s", path);
        service_plugin *p = service_plugin_add(&d->services, "io.containerd.metadata.v1", "sqlite");
        service_plugin_require(p, "io.containerd.content.v1");
        service_plugin_require(p, "io.containerd.snapshotter.v1");
        service_plugin_export(p, "path", path);
        d->services.db = d->db;
        return 0;
}

/* The content store (<root>/content) and the snapshotters (<root>/snapshots/<name>): overlayfs where the kernel
 * supports it under our root, native (copies) always. A snapshotter that cannot work shows as failed in introspection. */
static int open_stores(berthd *d, berr **err) {
        service_context *ctx = &d->services;
        service_plugin *p = service_plugin_add(ctx, "io.containerd.content.v1", "content");
        _cleanup_free_ char *content_root = xasprintf("%s/content", d->cfg->root);
        service_plugin_export(p, "root", content_root);
        if (content_store_open(content_root, &ctx->content, err) < 0)
                return berr_wrap(err, "content store %s", content_root);

        static const char *const names[] = { "overlayfs", "native" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                p = service_plugin_add(ctx, "io.containerd.snapshotter.v1", names[i]);
                service_plugin_platform_host(p);
                _cleanup_free_ char *root = xasprintf("%s/snapshots/%s", d->cfg->root, names[i]);
                service_plugin_export(p, "root", root);
                berr *e = NULL;
                snapshotter *sn = NULL;
                /* snapshotter_open checks overlayfs support itself (overlay_init): a second check here cost a
                 * throw-away overlay mount and six rmdirs, several ms of start-up on a busy disk. Its success is
                 * remembered in the state dir (runtime state), for this boot and this filesystem. */
                _cleanup_free_ char *check_cache = xasprintf("%s/%s.check", d->cfg->state, names[i]);
                if (berthd_make_dir(root, 0700, &e) < 0 ||
                    snapshotter_open_cached(names[i], root, check_cache, &sn, &e) < 0) {
                        log_warn("snapshotter %s unavailable: %s", names[i], e->msg);
                        service_plugin_fail(p, e);
                        berr_free(e);
                        continue;
                }
                for (char *const *cap = snapshotter_capabilities(sn); cap && *cap; cap++)
                        service_plugin_capability(p, *cap);
                ctx->snapshotters[ctx->n_snapshotters++] = sn;
        }
        if (!service_snapshotter(ctx, NULL)) {
                /* The configured default cannot work here (no overlay support): fall back to native, and say so. */
                if (ctx->default_snapshotter && strcmp(ctx->default_snapshotter, "overlayfs") == 0 &&
                    service_snapshotter(ctx, "native")) {
                        log_warn("overlayfs is not supported under %s; using the native snapshotter", d->cfg->root);
                        ctx->default_snapshotter = "native";
                } else
                        return berr_set(err, BERR_FAILED_PRECONDITION, 0, "snapshotter %s is not available",
                                        ctx->default_snapshotter ? ctx->default_snapshotter : "(none)");
        }
        return 0;
}

/* The event exchange, and the ttrpc socket beside the gRPC one (containerd's "<address>.ttrpc") where shims forward
 * their task events. */
static int open_events(berthd *d, berr **err) {
        if (event_exchange_new(d->loop, &d->events, err) < 0)
                return -1;
        service_plugin_add(&d->services, "io.containerd.event.v1", "exchange");
        d->ttrpc_address = xasprintf("%s.ttrpc", d->cfg->address);
        d->services.events = d->events;
        d->services.ttrpc_address = d->ttrpc_address;
        return 0;
}

static int start_events_ttrpc(berthd *d, berr **err) {
        if (berthd_check_address_free(d->ttrpc_address, err) < 0 ||
            events_ttrpc_listen(d->loop, d->events, d->ttrpc_address, &d->events_ttrpc, err) < 0)
                return berr_wrap(err, "events ttrpc endpoint");
        return 0;
}

/* Binds and listens on the gRPC socket before the slow part of start-up (metadata, snapshotter checks, reconnecting
 * every live shim), but the socket is served only once that is done (start_serving). Meanwhile clients wait in
 * the kernel's accept queue instead of being refused: a refused client has to try again (gRPC-go even backs
 * off), which after a restart with many live containers cost more than berthd's own start-up. */
static int start_listening(berthd *d, berr **err) {
        const char *address = d->cfg->address;
        _cleanup_free_ char *parent = xstrdup(address);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = '\0';
                if (berthd_make_dir(parent, 0711, err) < 0)
                        return -1;
        }
        if (berthd_check_address_free(address, err) < 0)
                return -1;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(address) >= sizeof sa.sun_path) /* berthd_check_address_free said so already */
                return berr_set(err, BERR_INVALID_ARGUMENT, ENAMETOOLONG, "socket path too long: %s", address);
        strcpy(sa.sun_path, address);
        struct stat st;
        if (lstat(address, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "%s exists and is not a socket", address);
                if (unlink(address) < 0)
                        return berr_errno(err, errno, "cannot remove stale socket %s", address);
        }
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return berr_errno(err, errno, "socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return berr_errno(err, errno, "cannot bind %s", address);
        /* Restrict before listen(): nobody can connect in between. */
        if (chmod(address, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
                int e = errno;
                (void) unlink(address);
                return berr_errno(err, e, "cannot listen on %s", address);
        }
        if (stat(address, &st) == 0) {
                d->socket_dev = st.st_dev;
                d->socket_ino = st.st_ino;
        }
        d->listening = true;
        d->listen_fd = TAKE_FD(fd);
        return 0;
}

static int start_serving(berthd *d, berr **err) {
        return grpc_server_listen_fd(d->server, TAKE_FD(d->listen_fd), err);
}

int berthd_new(berthd_config *cfg, berthd **ret, berr **err) {
        berthd *d = xcalloc(1, sizeof *d);
        d->cfg = cfg;
        d->root_lock = d->state_lock = d->listen_fd = -1;

        if (berthd_make_dir(cfg->root, 0711, err) < 0 || berthd_make_dir(cfg->state, 0700, err) < 0)
                goto fail;
        if ((d->root_lock = berthd_lock_dir(cfg->root, "root", err)) < 0 ||
            (d->state_lock = berthd_lock_dir(cfg->state, "state", err)) < 0)
                goto fail;
        if (berthd_load_uuid(cfg->root, &d->uuid, err) < 0)
                goto fail;

        int r = ev_loop_new(&d->loop);
        if (r < 0) {
                berr_errno(err, -r, "cannot create the event loop");
                goto fail;
        }
        if (add_signals(d, err) < 0 || grpc_server_new(d->loop, &d->server, err) < 0 || start_listening(d, err) < 0)
                goto fail;

        d->services = (service_context) {
                .loop = d->loop,
                .server = d->server,
                .root = cfg->root,
                .state = cfg->state,
                .address = cfg->address,
                .uuid = d->uuid,
                .default_snapshotter = cfg->snapshotter,
                .config = cfg,
        };
        if (open_stores(d, err) < 0 || open_metadata(d, err) < 0 || open_events(d, err) < 0)
                goto fail;
        if (services_register_all(&d->services, err) < 0 || start_serving(d, err) < 0 ||
            start_events_ttrpc(d, err) < 0)
                goto fail;
        *ret = d;
        return 0;
fail:
        berthd_free(d);
        return -1;
}

int berthd_run(berthd *d) {
        log_info("berthd %s (containerd API %s) serving on %s, root %s, state %s, pid %ld", BERTH_VERSION,
                 BERTH_CONTAINERD_API_VERSION, d->cfg->address, d->cfg->root, d->cfg->state, (long) getpid());
        berthd_memory *memory; /* trims idle memory: see memory.h */
        berthd_memory_watch(d->loop, &memory);
        berthd_wal *wal; /* keeps the metadata log short for the next start: see wal.h */
        berthd_wal_watch(d->loop, d->db, &wal);
        int r = ev_loop_run(d->loop);
        berthd_wal_free(wal);
        berthd_memory_free(memory);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                return 1;
        }
        return r;
}

/* Removes the socket only while it is still the file we bound. */
static void remove_socket(berthd *d) {
        struct stat st;
        if (!d->listening || stat(d->cfg->address, &st) < 0)
                return;
        if (st.st_dev == d->socket_dev && st.st_ino == d->socket_ino && unlink(d->cfg->address) < 0)
                log_warn("cannot remove %s: %m", d->cfg->address);
}

berthd *berthd_free(berthd *d) {
        if (!d)
                return NULL;
        /* Closing the server closes the listener and every connection; calls still running are cancelled. */
        d->server = grpc_server_free(d->server);
        d->listen_fd = safe_close(d->listen_fd);
        remove_socket(d);
        d->events_ttrpc = events_ttrpc_free(d->events_ttrpc);
        service_context_done(&d->services);
        /* After the services: their in-process subscribers (task and restart monitors) unsubscribe as they go. */
        d->events = event_exchange_free(d->events);
        free(d->ttrpc_address);
        meta_db_close(d->db);
        for (size_t i = 0; i < ELEMENTSOF(d->signals); i++)
                ev_source_free(d->signals[i]);
        ev_source_free(d->drain_timer);
        d->loop = ev_loop_free(d->loop);
        free(d->uuid);
        safe_close(d->state_lock);
        safe_close(d->root_lock);
        free(d);
        return NULL;
}
