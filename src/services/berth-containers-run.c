/* Run: validate every option first, then image → snapshot → spec → container record → task (started) → stream. Any
 * failure removes what was made before it (record, snapshot, task, logs, FIFOs), so nothing is left half-created. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/identifier.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "containerd/events/container.pb-c.h"
#include "events/exchange.h"
#include "services/berth-containers.h"
#include "services/common.h"
#include "snapshots/snapshots.h"
#include "spec/spec.h"

/* What Run parsed out of RunOptions. */
typedef struct run_plan {
        char *id;
        restart_policy restart;
        log_opts logs;
        const char *runtime;
        int64_t memory;
        uint64_t nano_cpus;
        spec_bind *binds;
        size_t n_binds;
} run_plan;

static void run_plan_done(run_plan *p) {
        free(p->id);
        for (size_t i = 0; i < p->n_binds; i++)
                spec_bind_done(&p->binds[i]);
        free(p->binds);
}

static char *generate_id(void) {
        uint8_t b[6];
        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b)
                for (size_t i = 0; i < sizeof b; i++)
                        b[i] = (uint8_t) (now_monotonic_usec() >> (i * 3));
        return xasprintf("%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static int plan_validate(bc_service *s, const char *ns, const Berth__V1__RunOptions *o, run_plan *p, berr **err) {
        *p = (run_plan) { 0 };
        log_opts_init(&p->logs);
        p->id = o->name && *o->name ? xstrdup(o->name) : generate_id();
        if (strlen(p->id) > BC_NAME_MAX)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid container name \"%s\": longer than %d characters",
                                p->id, BC_NAME_MAX);
        if (identifier_validate(p->id, err) < 0)
                return berr_wrap(err, "invalid container name \"%s\"", p->id);
        if (restart_policy_parse(o->restart, &p->restart, err) < 0)
                return -1;
        if (o->auto_remove && p->restart.kind != RESTART_NO)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "conflicting options: --restart and --rm");
        for (size_t i = 0; i < o->n_log_opts; i++)
                if (log_opts_parse(&p->logs, o->log_opts[i], err) < 0)
                        return -1;
        if (log_opts_validate(&p->logs, err) < 0)
                return -1;
        if (o->memory && *o->memory && spec_parse_size(o->memory, &p->memory, err) < 0)
                return -1;
        if (o->cpus && *o->cpus && spec_parse_cpus(o->cpus, &p->nano_cpus, err) < 0)
                return -1;
        p->binds = xcalloc(o->n_mounts + 1, sizeof *p->binds);
        for (size_t i = 0; i < o->n_mounts; i++) {
                if (spec_bind_parse(o->mounts[i], &p->binds[i], err) < 0)
                        return -1;
                p->n_binds++;
        }
        p->runtime = o->runtime && *o->runtime ? o->runtime : RUNTIME_DEFAULT_NAME;
        _cleanup_free_ char *shim = runtime_resolve_shim(p->runtime, s->self_dir, err);
        if (!shim)
                return -1;
        meta_container c = { 0 };
        if (meta_container_get(s->ctx->db, ns, p->id, &c, NULL) == 0) {
                meta_container_done(&c);
                return berr_set(err, BERR_ALREADY_EXISTS, 0, "container name \"%s\" is already in use: already exists",
                                p->id);
        }
        return 0;
}

static bool user_is_numeric(const char *user) {
        if (!user || !*user)
                return true;
        spec_user u = { 0 };
        berr *e = NULL;
        int r = spec_user_parse_numeric(user, &u, &e);
        spec_user_done(&u);
        berr_free(e);
        return r == 0;
}

/* The spec; a user given by name is looked up in the image's /etc/passwd, which needs the rootfs mounted. */
static int make_spec(bc_service *s, const char *ns, const Berth__V1__RunOptions *o, const run_plan *p,
                     const bc_image *img, const berth_mount *mounts, size_t n_mounts, char **ret, berr **err) {
        _cleanup_strv_free_ char **args = o->n_args ? strv_copy_n(o->args, o->n_args) : NULL;
        _cleanup_strv_free_ char **env = o->n_env ? strv_copy_n(o->env, o->n_env) : NULL;
        const oci_image_config *cfg = img->config;
        image_config_min ic = { .env = cfg->env, .entrypoint = cfg->entrypoint, .cmd = cfg->cmd,
                                .working_dir = cfg->working_dir, .user = cfg->user };
        spec_options so;
        spec_options_init(&so);
        so.ns = ns;
        so.id = p->id;
        so.args = args;
        so.env = env;
        so.workdir = o->workdir && *o->workdir ? o->workdir : NULL;
        so.user = o->user && *o->user ? o->user : NULL;
        so.hostname = o->hostname && *o->hostname ? o->hostname : p->id;
        so.terminal = o->tty;
        so.console_width = o->console_width;
        so.console_height = o->console_height;
        so.binds = p->binds;
        so.n_binds = p->n_binds;
        so.memory_bytes = p->memory;
        so.nano_cpus = p->nano_cpus;
        so.readonly_rootfs = o->read_only;

        const char *user = so.user ? so.user : cfg->user;
        if (user_is_numeric(user))
                return spec_generate(&so, &ic, ret, err);
        _cleanup_free_ char *dir = xasprintf("%s/berth-mnt/%s-%s", s->ctx->state, ns, p->id);
        if (mkdir_p(dir, 0700, err) < 0)
                return -1;
        int r = mount_apply_all(mounts, n_mounts, dir, err);
        if (r == 0) {
                so.rootfs_dir = dir;
                r = spec_generate(&so, &ic, ret, err);
                berr *ue = NULL;
                if (unmount_all(dir, &ue) < 0) {
                        log_warn("unmounting %s: %s", dir, ue->msg);
                        berr_free(ue);
                }
        }
        if (rmdir(dir) < 0 && errno != ENOENT)
                log_warn("removing %s: %m", dir);
        return r;
}

static int create_record(bc_service *s, const char *ns, const Berth__V1__RunOptions *o, const run_plan *p,
                         const char *snapshotter_name, const char *spec, berr **err) {
        meta_container c = { 0 };
        c.id = p->id;
        c.image = o->image;
        c.runtime_name = (char *) p->runtime;
        c.spec_type = (char *) BC_SPEC_TYPE_URL;
        c.spec = (uint8_t *) spec;
        c.spec_len = strlen(spec);
        c.snapshotter = (char *) snapshotter_name;
        c.snapshot_key = p->id;
        for (size_t i = 0; i < o->n_labels; i++)
                meta_labels_set(&c.labels, o->labels[i]->key, o->labels[i]->value);
        _cleanup_free_ char *policy = restart_policy_format(&p->restart);
        _cleanup_free_ char *max_size = xasprintf("%lld", (long long) p->logs.max_size);
        _cleanup_free_ char *max_files = xasprintf("%u", p->logs.max_files);
        /* protobuf-c's repeated strings are counted, not NULL-terminated */
        _cleanup_strv_free_ char **binds = o->n_mounts ? strv_copy_n(o->mounts, o->n_mounts) : NULL;
        _cleanup_free_ char *mounts = binds ? strv_join(binds, "\n") : NULL;
        meta_labels_set(&c.labels, BC_LABEL_MANAGED, "1");
        if (p->restart.kind != RESTART_NO) {
                meta_labels_set(&c.labels, RESTART_LABEL_POLICY, policy);
                meta_labels_set(&c.labels, RESTART_LABEL_STATUS, RESTART_STATUS_RUNNING);
        }
        if (o->auto_remove)
                meta_labels_set(&c.labels, BC_LABEL_AUTO_REMOVE, "1");
        if (o->tty)
                meta_labels_set(&c.labels, BC_LABEL_TTY, "1");
        if (o->stdin)
                meta_labels_set(&c.labels, BC_LABEL_STDIN, "1");
        if (p->logs.max_size > 0)
                meta_labels_set(&c.labels, BC_LABEL_LOG_MAX_SIZE, max_size);
        if (p->logs.max_files > 1)
                meta_labels_set(&c.labels, BC_LABEL_LOG_MAX_FILES, max_files);
        if (mounts)
                meta_labels_set(&c.labels, BC_LABEL_MOUNTS, mounts);
        int r = meta_container_create(s->ctx->db, ns, &c, NULL, err);
        meta_labels_done(&c.labels);
        if (r < 0)
                return -1;
        Containerd__Events__ContainerCreate ev = CONTAINERD__EVENTS__CONTAINER_CREATE__INIT;
        Containerd__Events__ContainerCreate__Runtime rt = CONTAINERD__EVENTS__CONTAINER_CREATE__RUNTIME__INIT;
        ev.id = p->id;
        ev.image = o->image;
        rt.name = (char *) p->runtime;
        ev.runtime = &rt;
        event_publish(s->ctx->events, ns, "/containers/create", &ev.base, NULL);
        return 0;
}

/* Everything up to the container record. On failure nothing is left. */
static int run_prepare(bc_service *s, const char *ns, const Berth__V1__RunOptions *o, run_plan *p, berr **err) {
        bc_image img = { 0 };
        berth_mount *mounts = NULL;
        size_t n_mounts = 0;
        _cleanup_free_ char *spec = NULL;
        if (plan_validate(s, ns, o, p, err) < 0 || bc_image_resolve(s, ns, o->image, &img, err) < 0)
                goto fail;
        snapshotter *sn = service_snapshotter(s->ctx, o->snapshotter);
        if (!sn) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "snapshotter not loaded: %s", o->snapshotter);
                goto fail;
        }
        if (bc_snapshot_prepare(s, ns, snapshotter_name(sn), p->id, img.chain_id, &mounts, &n_mounts, err) < 0)
                goto fail;
        if (make_spec(s, ns, o, p, &img, mounts, n_mounts, &spec, err) < 0 ||
            create_record(s, ns, o, p, snapshotter_name(sn), spec, err) < 0) {
                berr *e = NULL;
                if (bc_snapshot_remove(s, ns, snapshotter_name(sn), p->id, &e) < 0) {
                        log_warn("container %s: removing its snapshot after a failed run: %s", p->id, e->msg);
                        berr_free(e);
                }
                goto fail;
        }
        berth_mounts_free(mounts, n_mounts);
        bc_image_done(&img);
        return 0;
fail:
        berth_mounts_free(mounts, n_mounts);
        bc_image_done(&img);
        return -1;
}

/* ---- the call ---- */

typedef struct run_ctx {
        bc_session *se;
        bc_waiter *waiter;
        bool detach;
} run_ctx;

static void rollback(bc_service *s, const char *ns, const char *id) {
        berr *e = NULL;
        if (bc_container_remove(s, ns, id, &e) < 0) {
                log_warn("container %s: rolling back a failed run: %s", id, e->msg);
                berr_free(e);
        }
}

static void on_run_exit(bc_service *s, const char *ns, const char *id, int32_t code, int64_t exited_at,
                        void *userdata) {
        run_ctx *rc = userdata;
        rc->waiter = NULL;
        bc_session *se = rc->se;
        free(rc);
        se->on_end = NULL;
        bc_session_exited(se, code, exited_at);
}

static void on_run_started(bc_service *s, const berr *e, uint32_t pid, void *userdata) {
        run_ctx *rc = userdata;
        bc_session *se = rc->se;
        if (e) {
                if (rc->waiter)
                        bc_waiter_remove(s, rc->waiter);
                rc->waiter = NULL;
                se->io = bc_io_free(se->io);
                rollback(s, se->ns, se->id);
                free(rc);
                bc_session_fail(se, e);
                return;
        }
        rt_task *t = runtime_task_get(s->ctx->runtime, se->ns, se->id);
        if (t)
                se->task = rt_task_ref(t);
        bc_session_send_started(se, pid);
        if (rc->detach) {
                if (se->call)
                        grpc_call_finish(se->call, BERR_OK, NULL);
                free(rc);
                bc_session_free(se);
        }
        /* foreground: on_run_exit ends it */
}

/* input: stdin the client sent while the run waited for its name (see below). */
static void run_in_session(bc_service *s, bc_session *se, const char *ns, const Berth__V1__RunOptions *o,
                           const uint8_t *input, size_t input_len) {
        run_plan p;
        berr *e = NULL;
        grpc_call *call = se->call;
        if (run_prepare(s, ns, o, &p, &e) < 0) {
                run_plan_done(&p);
                bc_session_fail(se, e);
                berr_free(e);
                return;
        }
        free(se->id);
        se->id = xstrdup(p.id);
        run_ctx *rc = xcalloc(1, sizeof *rc);
        rc->se = se;
        rc->detach = o->detach;
        if (!o->detach) {
                _cleanup_free_ char *fifos = bc_fifo_dir(s, ns, p.id), *logs = log_dir_path(s->ctx->root, ns, p.id);
                log_writer *w = NULL;
                if (bc_io_new(s->ctx->loop, fifos, "init", o->stdin, o->tty, &se->io, &e) < 0 ||
                    log_writer_open(logs, p.id, &p.logs, &w, &e) < 0)
                        goto fail;
                bc_io_set_log(se->io, w);
                bc_io_set_call(se->io, call);
                if (input_len > 0 && bc_io_write_stdin(se->io, input, input_len) < 0)
                        log_debug("stdin of %s dropped (%zu bytes)", p.id, input_len);
                rc->waiter = bc_waiter_add(s, ns, p.id, on_run_exit, rc);
        }
        if (bc_task_start(s, ns, p.id, se->io, on_run_started, rc, &e) < 0)
                goto fail;
        run_plan_done(&p);
        return;
fail:
        if (rc->waiter)
                bc_waiter_remove(s, rc->waiter);
        free(rc);
        se->io = bc_io_free(se->io);
        rollback(s, ns, p.id);
        run_plan_done(&p);
        bc_session_fail(se, e);
        berr_free(e);
}

/* ---- a Run whose name is still being removed (berth-containers-removal.c) waits for the end ---- */

#define PARKED_INPUT_MAX (4u << 20)

typedef struct bc_parked_run {
        uint8_t *options; /* packed RunOptions: the request is freed when the handler returns */
        size_t options_len;
        uint8_t *input; /* stdin that came meanwhile */
        size_t input_len;
} parked_run;

static void parked_free(parked_run *pr) {
        free(pr->options);
        free(pr->input);
        free(pr);
}

static void parked_input(bc_session *se, const Berth__V1__ProcessInput *in) {
        parked_run *pr = se->parked;
        if (in && in->data.len > 0) {
                if (pr->input_len + in->data.len > PARKED_INPUT_MAX)
                        log_warn("run %s: stdin before the start beyond %u bytes dropped", se->id, PARKED_INPUT_MAX);
                else {
                        pr->input = xrealloc(pr->input, pr->input_len + in->data.len);
                        memcpy(pr->input + pr->input_len, in->data.data, in->data.len);
                        pr->input_len += in->data.len;
                }
        }
        if (in && in->close_stdin)
                bc_session_close_stdin(se);
}

static void on_name_freed(bc_service *s, bool ended, void *userdata) {
        bc_session *se = userdata;
        parked_run *pr = TAKE_PTR(se->parked);
        Berth__V1__RunOptions *o = ended && se->call ? berth__v1__run_options__unpack(NULL, pr->options_len,
                                                                                     pr->options)
                                                     : NULL;
        if (!o) { /* the client went away meanwhile, or berthd shuts down */
                parked_free(pr);
                bc_session_free(se);
                return;
        }
        run_in_session(s, se, se->ns, o, pr->input, pr->input_len);
        berth__v1__run_options__free_unpacked(o, NULL);
        parked_free(pr);
}

static void start_run(bc_service *s, grpc_call *call, const char *ns, const Berth__V1__RunOptions *o) {
        bc_session *se = bc_session_new(s, call, ns, o->name, NULL);
        if (o->name && *o->name && bc_removal_pending(s, ns, o->name)) {
                parked_run *pr = xcalloc(1, sizeof *pr);
                pr->options_len = berth__v1__run_options__get_packed_size(o);
                pr->options = xmalloc(pr->options_len + 1);
                berth__v1__run_options__pack(o, pr->options);
                se->parked = pr;
                if (bc_removal_wait(s, ns, o->name, on_name_freed, se) == 0)
                        return;
                se->parked = NULL;
                parked_free(pr);
        }
        run_in_session(s, se, ns, o, NULL, 0);
}

void bc_run_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        bc_session *se = grpc_call_get_state(call);
        _cleanup_pb_ Berth__V1__RunRequest *req = service_decode(call, &berth__v1__run_request__descriptor, msg, len);
        if (!req)
                return;
        if (se) {
                if (se->parked)
                        parked_input(se, req->input);
                else
                        bc_session_input(se, req->input);
                return;
        }
        if (grpc_call_get_state(call) == NULL && !req->options) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "the first message must carry the run options");
                return;
        }
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        start_run(s, call, ns, req->options);
}

void bc_run_half_close(grpc_call *call, void *userdata) {
        bc_session *se = grpc_call_get_state(call);
        if (se)
                bc_session_close_stdin(se);
}

void bc_run_cancel(grpc_call *call, void *userdata) {
        bc_session *se = grpc_call_get_state(call);
        if (se)
                bc_session_detach_call(se);
}
