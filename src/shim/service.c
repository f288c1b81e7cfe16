/* containerd.task.v2.Task: the 17 methods, as containerd 1.6/1.7 call them (shared/protocol/shim-v2.md §2). Each
 * handler decodes its request, acts, and replies now — except Wait, which replies when the process exits. */
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/identifier.h"
#include "basic/log.h"
#include "basic/mount.h"
#include "cgroups/oom.h"
#include "cgroups/cgroup-stats.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/runc/options/oci.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "shim/task.h"

/* Go's zero time, which containerd expects in exited_at for a process that has not exited (shim-v2.md §2.2). */
#define GO_ZERO_TIME_SECONDS (-62135596800LL)

/* Defines the ttrpc entry point handle_<name> of a method and opens its body <name>_body(call, s, req): the entry point
 * decodes the request (a payload that does not decode is answered Internal, as Go's ttrpc does), runs the body, and
 * frees the request. Every body replies exactly once, now or later (Wait). */
#define TASK_METHOD(name, type, prefix)                                                                       \
        static void name##_body(ttrpc_call *call, shim_server *s, type *req);                                \
        static void handle_##name(ttrpc_call *call, const uint8_t *payload, size_t len, void *userdata) {    \
                type *req = (type *) ttrpc_call_decode(call, &prefix##__descriptor, payload, len);           \
                if (!req)                                                                                    \
                        return;                                                                              \
                name##_body(call, userdata, req);                                                            \
                protobuf_c_message_free_unpacked(&req->base, NULL);                                          \
        }                                                                                                    \
        static void name##_body(ttrpc_call *call, shim_server *s, type *req)

static void set_timestamp(Google__Protobuf__Timestamp *ts, const process *p) {
        if (p->state == PROC_STOPPED) {
                ts->seconds = p->exited_at_ns / 1000000000;
                ts->nanos = (int32_t) (p->exited_at_ns % 1000000000);
        } else {
                ts->seconds = GO_ZERO_TIME_SECONDS;
                ts->nanos = 0;
        }
}

/* Finds the container, replying NotFound the way the runc shim words it. */
static container *lookup_container(ttrpc_call *call, shim_server *s, const char *id) {
        container *c = server_find_container(s, id ? id : "");
        if (!c)
                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "container not created: not found");
        return c;
}

static process *lookup_process(ttrpc_call *call, container *c, const char *exec_id) {
        process *p = container_find_process(c, exec_id);
        if (!p)
                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "process does not exist %s: not found",
                                       exec_id && exec_id[0] ? exec_id : c->id);
        return p;
}

static void reply_err(ttrpc_call *call, berr *e) {
        ttrpc_call_reply_berr(call, e);
        berr_free(e);
}

/* ---- Create ---- */

/* Reads what Create needs from config.json: whether the container has its own pid namespace, and hooks. */
static void inspect_spec(container *c) {
        _cleanup_free_ char *path = xasprintf("%s/config.json", c->bundle);
        json_t *spec = json_load_file(path, 0, NULL);
        c->private_pid_ns = false;
        c->has_hooks = true; /* unknown: the conservative answer */
        if (!spec)
                return;
        const char *key;
        json_t *list;
        c->has_hooks = false;
        json_object_foreach(json_object_get(spec, "hooks"), key, list)
                if (json_array_size(list) > 0)
                        c->has_hooks = true;
        json_t *nss = json_object_get(json_object_get(spec, "linux"), "namespaces");
        size_t i;
        json_t *ns;
        json_array_foreach(nss, i, ns) {
                const char *type = json_string_value(json_object_get(ns, "type"));
                const char *nspath = json_string_value(json_object_get(ns, "path"));
                if (type && strcmp(type, "pid") == 0 && (!nspath || nspath[0] == '\0'))
                        c->private_pid_ns = true;
        }
        json_decref(spec);
}

static int mount_rootfs(container *c, Containerd__Types__Mount **mounts, size_t n, berr **err) {
        if (n == 0)
                return 0;
        _cleanup_free_ char *target = xasprintf("%s/rootfs", c->bundle);
        _cleanup_free_ berth_mount *list = xcalloc(n, sizeof *list);
        for (size_t i = 0; i < n; i++)
                list[i] = (berth_mount) {
                        .type = mounts[i]->type,
                        .source = mounts[i]->source,
                        .target = mounts[i]->target,
                        .options = mounts[i]->options,
                        .n_options = mounts[i]->n_options,
                };
        if (mkdir(target, 0711) < 0 && errno != EEXIST)
                return berr_errno(err, errno, "mkdir %s", target);
        if (mount_apply_all(list, n, target, err) < 0)
                return berr_wrap(err, "failed to mount rootfs component");
        c->rootfs_mounted = true;
        return 0;
}

static void unmount_rootfs(container *c) {
        if (!c->rootfs_mounted)
                return;
        _cleanup_free_ char *target = xasprintf("%s/rootfs", c->bundle);
        berr *err = NULL;
        if (unmount_all(target, &err) < 0) {
                log_warn("unmount %s: %s", target, err->msg);
                berr_free(err);
        } else
                c->rootfs_mounted = false;
}

static void on_oom(void *userdata) {
        container *c = userdata;
        Containerd__Events__TaskOOM ev = CONTAINERD__EVENTS__TASK_OOM__INIT;
        ev.container_id = c->id;
        log_info("container %s: out of memory", c->id);
        publisher_publish(c->server->pub, "/tasks/oom", "containerd.events.TaskOOM", &ev.base);
}

/* The OOM notification. Reading the cgroup setup (all of mountinfo) costs about a millisecond: it is done once
 * Create was answered, while the daemon gets to its Start, and before the container's process runs (the init
 * waits in the runtime's start handshake), so the shim is free to copy its first output as soon as it comes. */
static void watch_oom(container *c) {
        if (c->oom)
                return;
        berr *oom_err = NULL;
        if (oom_watch_pid(c->server->loop, c->init->pid, on_oom, c, &c->oom, &oom_err) < 0) {
                log_warn("container %s: no OOM notifications: %s", c->id, oom_err->msg);
                berr_free(oom_err);
        }
}

typedef struct create_side_work {
        container *c;
        process *p;
} create_side_work;

/* While `create` runs (tens of ms, the container does not run its process before Start): connect to the daemon
 * for the TaskCreate event, write the files the delete action needs should this server die, and wait for a
 * binary:// logger to be ready. */
static int while_creating(void *userdata, berr **err) {
        create_side_work *w = userdata;
        if (stdio_start_logger(w->p->io, err) < 0)
                return -1;
        publisher_connect(w->c->server->pub);
        if (shim_options_save(&w->c->options, &w->c->rt, w->c->bundle, err) < 0)
                return -1;
        return stdio_wait_ready(w->p->io, err);
}

/* Starts the runtime command that brings a process up (create for init, exec for execs), with its stdio. */
static int run_with_stdio(container *c, process *p, const char *const *argv_head, size_t n_head,
                          const char *pid_file, const char *op, berr **err) {
        stdio_config cfg = {
                .stdin_path = p->stdin_path,
                .stdout_path = p->stdout_path,
                .stderr_path = p->stderr_path,
                .terminal = p->terminal,
                .io_uid = c->options.io_uid,
                .io_gid = c->options.io_gid,
                .container_id = c->id,
                .ns = c->server->ns,
        };
        if (stdio_new(c->server->loop, &cfg, &p->io, err) < 0)
                return -1;
        const char *console = NULL;
        if (p->terminal && stdio_console_socket(p->io, &console, err) < 0)
                return -1;
        /* `exec` starts the process at once: its logger must be ready first (containerd's order). */
        if (!p->is_init && stdio_wait_ready(p->io, err) < 0)
                return -1;

        const char *argv[32];
        size_t n = 0;
        for (size_t i = 0; i < n_head; i++)
                argv[n++] = argv_head[i];
        argv[n++] = "--pid-file";
        argv[n++] = pid_file;
        if (console) {
                argv[n++] = "--console-socket";
                argv[n++] = console;
        }
        if (p->is_init) {
                if (c->rt.no_pivot_root)
                        argv[n++] = "--no-pivot";
                if (c->rt.no_new_keyring)
                        argv[n++] = "--no-new-keyring";
        }
        argv[n++] = c->id;
        argv[n] = NULL;
        create_side_work side = { .c = c, .p = p };
        oci_exec_opts o = { .op = op };
        if (p->is_init) {
                o.while_running = while_creating;
                o.while_running_data = &side;
        }
        for (int i = 0; i < 3; i++)
                o.stdio[i] = p->terminal ? -1 : stdio_child_fd(p->io, i);
        if (oci_run(&c->rt, argv, &o, NULL, err) < 0)
                return -1;
        if (process_read_pid_file(pid_file, &p->pid, err) < 0)
                return -1;
        if (p->terminal && stdio_console_receive(p->io, err) < 0)
                return -1;
        return stdio_after_start(p->io, err);
}

TASK_METHOD(create, Containerd__Task__V2__CreateTaskRequest, containerd__task__v2__create_task_request) {
        berr *err = NULL;
        container *c = NULL;
        if (identifier_validate(req->id, &err) < 0)
                goto fail;
        if (server_find_container(s, req->id)) {
                berr_set(&err, BERR_ALREADY_EXISTS, 0, "id %s: already exists", req->id);
                goto fail;
        }
        if (req->checkpoint && req->checkpoint[0]) {
                berr_set(&err, BERR_UNIMPLEMENTED, 0, "restore from a checkpoint is not supported: not implemented");
                goto fail;
        }
        c = xcalloc(1, sizeof *c);
        c->server = s;
        c->id = xstrdup(req->id);
        c->bundle = xstrdup(req->bundle && req->bundle[0] ? req->bundle : ".");
        if (req->options && shim_options_from_any(req->options->type_url, req->options->value.data,
                                                  req->options->value.len, &c->options, &err) < 0)
                goto fail;
        /* (options.json and runtime are written while `create` runs: see while_creating.) */
        if (shim_options_resolve_runtime(&c->options, s->ns, c->bundle, &c->rt, &err) < 0)
                goto fail;
        inspect_spec(c);
        if (mount_rootfs(c, req->rootfs, req->n_rootfs, &err) < 0)
                goto fail;

        process *p = xcalloc(1, sizeof *p);
        c->init = p;
        p->container = c;
        p->is_init = true;
        p->id = xstrdup(c->id);
        p->state = PROC_CREATED;
        p->terminal = req->terminal;
        p->stdin_path = xstrdup(req->stdin);
        p->stdout_path = xstrdup(req->stdout);
        p->stderr_path = xstrdup(req->stderr);

        {
                _cleanup_free_ char *pid_file = xasprintf("%s/init.pid", c->bundle);
                const char *head[] = { "create", "--bundle", c->bundle };
                /* A stale log would make an unrelated old error the message of this failure. */
                unlink(c->rt.log_path);
                if (run_with_stdio(c, p, head, ELEMENTSOF(head), pid_file, "create", &err) < 0) {
                        /* runc may have left a half-created container behind. */
                        const char *argv[] = { "delete", "--force", c->id, NULL };
                        berr *ignored = NULL;
                        oci_command(&c->rt, argv, &ignored);
                        berr_free(ignored);
                        goto fail;
                }
        }
        c->next = s->containers;
        s->containers = c;

        Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
        io.stdin = req->stdin;
        io.stdout = req->stdout;
        io.stderr = req->stderr;
        io.terminal = req->terminal;
        Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
        ev.container_id = c->id;
        ev.bundle = c->bundle;
        ev.rootfs = req->rootfs;
        ev.n_rootfs = req->n_rootfs;
        ev.io = &io;
        ev.checkpoint = req->checkpoint;
        ev.pid = (uint32_t) p->pid;
        publisher_publish(s->pub, "/tasks/create", "containerd.events.TaskCreate", &ev.base);

        int status;
        if (server_take_early_exit(s, p->pid, &status))
                process_set_exited(p, status);

        Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
        resp.pid = (uint32_t) p->pid;
        ttrpc_call_reply(call, &resp.base);
        if (p->state != PROC_STOPPED)
                watch_oom(c);
        return;
fail:
        log_error("create %s: %s", req->id, err->msg);
        if (c) {
                unmount_rootfs(c);
                container_free(c);
        }
        reply_err(call, err);
}

/* ---- Start ---- */

static int start_exec(container *c, process *p, berr **err) {
        char tmpl[] = "/tmp/runc-process-XXXXXX";
        int fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return berr_errno(err, errno, "create process spec file");
        int r = write_all(fd, p->spec_json, strlen(p->spec_json));
        close(fd);
        if (r < 0) {
                unlink(tmpl);
                return berr_errno(err, errno, "write process spec file");
        }
        _cleanup_free_ char *pid_file = xasprintf("%s/%s.pid", c->bundle, p->id);
        const char *head[] = { "exec", "--process", tmpl, "--detach" };
        r = run_with_stdio(c, p, head, ELEMENTSOF(head), pid_file, "exec", err);
        unlink(tmpl);
        return r;
}

TASK_METHOD(start, Containerd__Task__V2__StartRequest, containerd__task__v2__start_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (!p)
                return;
        if (p->state != PROC_CREATED) {
                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "process %s is not in the created state",
                                       p->id);
                return;
        }
        berr *err = NULL;
        if (p->is_init) {
                const char *argv[] = { "start", c->id, NULL };
                /* runc: the start handshake done here, saving a runc process (shim/runc-start.c). */
                int r = c->has_hooks ? 0 : runc_start_direct(&c->rt, c->id, p->pid, &err);
                if (r == 0)
                        r = oci_command(&c->rt, argv, &err);
                if (r < 0) {
                        reply_err(call, err);
                        return;
                }
                p->state = PROC_RUNNING;
                Containerd__Events__TaskStart ev = CONTAINERD__EVENTS__TASK_START__INIT;
                ev.container_id = c->id;
                ev.pid = (uint32_t) p->pid;
                publisher_publish(s->pub, "/tasks/start", "containerd.events.TaskStart", &ev.base);
        } else {
                if (c->init->state == PROC_STOPPED) {
                        ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "container %s is not running", c->id);
                        return;
                }
                if (start_exec(c, p, &err) < 0) {
                        stdio_free(p->io);
                        p->io = NULL;
                        reply_err(call, err);
                        return;
                }
                p->state = PROC_RUNNING;
                Containerd__Events__TaskExecStarted ev = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
                ev.container_id = c->id;
                ev.exec_id = p->id;
                ev.pid = (uint32_t) p->pid;
                publisher_publish(s->pub, "/tasks/exec-started", "containerd.events.TaskExecStarted", &ev.base);
                int status;
                if (server_take_early_exit(s, p->pid, &status))
                        process_set_exited(p, status);
        }
        Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
        resp.pid = (uint32_t) p->pid;
        ttrpc_call_reply(call, &resp.base);
}

/* ---- Delete ---- */

TASK_METHOD(delete, Containerd__Task__V2__DeleteRequest, containerd__task__v2__delete_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (!p)
                return;
        if (p->state == PROC_RUNNING) {
                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "cannot delete running process %s", p->id);
                return;
        }
        if (p->is_init && c->execs) {
                /* containerd deletes execs first; anything left is stopped or never started. */
                for (process *e = c->execs; e; e = e->next)
                        if (e->state == PROC_RUNNING) {
                                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION,
                                                       "cannot delete container %s with running exec %s", c->id,
                                                       e->id);
                                return;
                        }
        }
        if (p->is_init) {
                const char *argv[] = { "delete", "--force", c->id, NULL };
                berr *err = NULL;
                if (oci_command(&c->rt, argv, &err) < 0) {
                        /* Already gone is fine; the runtime's state is what we are removing. */
                        log_debug("delete %s: %s", c->id, err->msg);
                        berr_free(err);
                }
                if (p->state == PROC_CREATED) {
                        /* Never started: the forced delete killed it. */
                        process_set_exited(p, SIGKILL);
                }
        }
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        if (p->state != PROC_STOPPED) {
                p->state = PROC_STOPPED;
                p->exited_at_ns = now_realtime_nsec();
        }
        set_timestamp(&ts, p);
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        resp.pid = (uint32_t) p->pid;
        resp.exit_status = p->exit_status;
        resp.exited_at = &ts;
        /* The exit is reported (event, Wait callers) before the process goes away, and before TaskDelete. */
        if (p->pid > 0)
                process_report_exit(p);
        else
                process_answer_waiters(p);
        if (p->is_init) {
                unmount_rootfs(c);
                Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
                ev.container_id = c->id;
                ev.pid = resp.pid;
                ev.exit_status = resp.exit_status;
                ev.exited_at = &ts;
                publisher_publish(s->pub, "/tasks/delete", "containerd.events.TaskDelete", &ev.base);
                ttrpc_call_reply(call, &resp.base);
                server_remove_container(s, c);
        } else {
                ttrpc_call_reply(call, &resp.base);
                for (process **pp = &c->execs; *pp; pp = &(*pp)->next)
                        if (*pp == p) {
                                *pp = p->next;
                                break;
                        }
                process_free(p);
        }
}

/* ---- State, Wait, Connect ---- */

static Containerd__V1__Types__Status status_of(const process *p) {
        switch (p->state) {
        case PROC_CREATED:
                return CONTAINERD__V1__TYPES__STATUS__CREATED;
        case PROC_RUNNING:
                return p->container->paused ? CONTAINERD__V1__TYPES__STATUS__PAUSED
                                            : CONTAINERD__V1__TYPES__STATUS__RUNNING;
        case PROC_STOPPED:
                return CONTAINERD__V1__TYPES__STATUS__STOPPED;
        }
        return CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
}

TASK_METHOD(state, Containerd__Task__V2__StateRequest, containerd__task__v2__state_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (p) {
                Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
                set_timestamp(&ts, p);
                Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
                resp.id = p->id;
                resp.bundle = c->bundle;
                resp.pid = (uint32_t) p->pid;
                resp.status = status_of(p);
                resp.stdin = p->stdin_path;
                resp.stdout = p->stdout_path;
                resp.stderr = p->stderr_path;
                resp.terminal = p->terminal;
                resp.exit_status = p->exit_status;
                resp.exited_at = &ts;
                ttrpc_call_reply(call, &resp.base);
        }
}

TASK_METHOD(wait, Containerd__Task__V2__WaitRequest, containerd__task__v2__wait_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (p) {
                wait_call *w = xcalloc(1, sizeof *w);
                w->call = call;
                w->next = p->waiters;
                p->waiters = w;
                if (p->exit_reported)
                        process_answer_waiters(p);
        }
}

TASK_METHOD(connect, Containerd__Task__V2__ConnectRequest, containerd__task__v2__connect_request) {
        container *c = server_find_container(s, req->id);
        Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        resp.shim_pid = (uint32_t) getpid();
        resp.task_pid = c && c->init ? (uint32_t) c->init->pid : 0;
        ttrpc_call_reply(call, &resp.base);
}

/* ---- Kill, Pids, Pause/Resume ---- */

TASK_METHOD(kill, Containerd__Task__V2__KillRequest, containerd__task__v2__kill_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (!p)
                return;
        if (p->state == PROC_STOPPED && !(p->is_init && req->all)) {
                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "process already finished: not found");
                return;
        }
        if (p->is_init) {
                _cleanup_free_ char *sig = xasprintf("%u", req->signal);
                const char *argv[] = { "kill", req->all ? "--all" : c->id, req->all ? c->id : sig,
                                       req->all ? sig : NULL, NULL };
                berr *err = NULL;
                if (oci_command(&c->rt, argv, &err) < 0) {
                        /* Raced with the exit: say so the way containerd expects. */
                        if (p->state == PROC_STOPPED) {
                                berr_free(err);
                                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "process already finished: not found");
                        } else
                                reply_err(call, err);
                        return;
                }
        } else {
                if (p->state == PROC_CREATED) {
                        ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "process not created");
                        return;
                }
                if (kill(p->pid, (int) req->signal) < 0) {
                        ttrpc_call_reply_error(call, errno == ESRCH ? BERR_NOT_FOUND : BERR_UNKNOWN,
                                               "kill exec %s: %s", p->id, strerror(errno));
                        return;
                }
        }
        ttrpc_call_reply(call, NULL);
}

TASK_METHOD(pids, Containerd__Task__V2__PidsRequest, containerd__task__v2__pids_request) {
        container *c = lookup_container(call, s, req->id);
        if (!c)
                return;
        const char *argv[] = { "ps", "--format", "json", c->id, NULL };
        oci_exec_opts o = { .stdio = { -1, -1, -1 }, .op = "ps", .capture_stdout = true };
        char *out = NULL;
        berr *err = NULL;
        if (oci_run(&c->rt, argv, &o, &out, &err) < 0) {
                reply_err(call, err);
                return;
        }
        json_t *arr = json_loads(out, 0, NULL);
        if (!json_is_array(arr)) {
                json_decref(arr);
                ttrpc_call_reply_error(call, BERR_INTERNAL, "unexpected output of %s ps: %.80s", c->rt.binary, out);
                free(out);
                return;
        }
        free(out);
        size_t n = json_array_size(arr);
        Containerd__V1__Types__ProcessInfo *infos = xcalloc(n + 1, sizeof *infos);
        Containerd__V1__Types__ProcessInfo **ptrs = xcalloc(n + 1, sizeof *ptrs);
        Google__Protobuf__Any *anys = xcalloc(n + 1, sizeof *anys);
        Containerd__Runc__V1__ProcessDetails *details = xcalloc(n + 1, sizeof *details);
        uint8_t **packed = xcalloc(n + 1, sizeof *packed);
        for (size_t i = 0; i < n; i++) {
                containerd__v1__types__process_info__init(&infos[i]);
                infos[i].pid = (uint32_t) json_integer_value(json_array_get(arr, i));
                ptrs[i] = &infos[i];
                for (process *e = c->execs; e; e = e->next) {
                        if (e->pid <= 0 || (uint32_t) e->pid != infos[i].pid)
                                continue;
                        containerd__runc__v1__process_details__init(&details[i]);
                        details[i].exec_id = e->id;
                        google__protobuf__any__init(&anys[i]);
                        anys[i].type_url = (char *) "containerd.runc.v1.ProcessDetails";
                        size_t sz = protobuf_c_message_get_packed_size(&details[i].base);
                        packed[i] = xmalloc(sz);
                        protobuf_c_message_pack(&details[i].base, packed[i]);
                        anys[i].value.data = packed[i];
                        anys[i].value.len = sz;
                        infos[i].info = &anys[i];
                }
        }
        Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
        resp.n_processes = n;
        resp.processes = ptrs;
        ttrpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                free(packed[i]);
        free(packed);
        free(details);
        free(anys);
        free(ptrs);
        free(infos);
        json_decref(arr);
}

static void pause_or_resume(ttrpc_call *call, shim_server *s, const char *id, bool pause) {
        container *c = lookup_container(call, s, id);
        if (!c)
                return;
        if (c->init->state != PROC_RUNNING) {
                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "container %s is not running", c->id);
                return;
        }
        const char *argv[] = { pause ? "pause" : "resume", c->id, NULL };
        berr *err = NULL;
        if (oci_command(&c->rt, argv, &err) < 0) {
                reply_err(call, err);
                return;
        }
        c->paused = pause;
        if (pause) {
                Containerd__Events__TaskPaused ev = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
                ev.container_id = c->id;
                publisher_publish(s->pub, "/tasks/paused", "containerd.events.TaskPaused", &ev.base);
        } else {
                Containerd__Events__TaskResumed ev = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
                ev.container_id = c->id;
                publisher_publish(s->pub, "/tasks/resumed", "containerd.events.TaskResumed", &ev.base);
        }
        ttrpc_call_reply(call, NULL);
}

TASK_METHOD(pause, Containerd__Task__V2__PauseRequest, containerd__task__v2__pause_request) {
        pause_or_resume(call, s, req->id, true);
}

TASK_METHOD(resume, Containerd__Task__V2__ResumeRequest, containerd__task__v2__resume_request) {
        pause_or_resume(call, s, req->id, false);
}

/* ---- Exec, ResizePty, CloseIO ---- */

#define PROCESS_SPEC_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"
#define RESOURCES_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"

/* The request's Process JSON with "terminal" overridden by the request, as the runc shim does. */
static char *exec_spec_json(const Google__Protobuf__Any *spec, bool terminal, berr **err) {
        if (!spec || spec->value.len == 0) {
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec: a process spec is required");
                return NULL;
        }
        json_error_t jerr;
        json_t *j = json_loadb((const char *) spec->value.data, spec->value.len, 0, &jerr);
        if (!json_is_object(j)) {
                json_decref(j);
                berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec: process spec is not a JSON object (%s): %s",
                         spec->type_url, jerr.text);
                return NULL;
        }
        json_object_set_new(j, "terminal", json_boolean(terminal));
        char *text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return text;
}

TASK_METHOD(exec, Containerd__Task__V2__ExecProcessRequest, containerd__task__v2__exec_process_request) {
        berr *err = NULL;
        container *c = lookup_container(call, s, req->id);
        if (!c)
                return;
        if (identifier_validate(req->exec_id, &err) < 0) {
                reply_err(call, err);
                return;
        }
        if (container_find_process(c, req->exec_id)) {
                ttrpc_call_reply_error(call, BERR_ALREADY_EXISTS, "id %s: already exists", req->exec_id);
                return;
        }
        if (c->init->state == PROC_STOPPED) {
                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "container %s is not running", c->id);
                return;
        }
        char *spec = exec_spec_json(req->spec, req->terminal, &err);
        if (!spec) {
                reply_err(call, err);
                return;
        }
        process *p = xcalloc(1, sizeof *p);
        p->container = c;
        p->id = xstrdup(req->exec_id);
        p->state = PROC_CREATED;
        p->terminal = req->terminal;
        p->stdin_path = xstrdup(req->stdin);
        p->stdout_path = xstrdup(req->stdout);
        p->stderr_path = xstrdup(req->stderr);
        p->spec_json = spec;
        p->next = c->execs;
        c->execs = p;
        Containerd__Events__TaskExecAdded ev = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
        ev.container_id = c->id;
        ev.exec_id = p->id;
        publisher_publish(s->pub, "/tasks/exec-added", "containerd.events.TaskExecAdded", &ev.base);
        ttrpc_call_reply(call, NULL);
}

TASK_METHOD(resize_pty, Containerd__Task__V2__ResizePtyRequest, containerd__task__v2__resize_pty_request) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (p) {
                berr *err = NULL;
                if (!p->io || !p->terminal)
                        ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "process %s has no terminal", p->id);
                else if (stdio_resize(p->io, req->width, req->height, &err) < 0)
                        reply_err(call, err);
                else
                        ttrpc_call_reply(call, NULL);
        }
}

TASK_METHOD(close_io, Containerd__Task__V2__CloseIORequest, containerd__task__v2__close_iorequest) {
        container *c = lookup_container(call, s, req->id);
        process *p = c ? lookup_process(call, c, req->exec_id) : NULL;
        if (p) {
                if (req->stdin && p->io)
                        stdio_close_stdin(p->io);
                ttrpc_call_reply(call, NULL);
        }
}

/* ---- Update, Stats, Checkpoint ---- */

TASK_METHOD(update, Containerd__Task__V2__UpdateTaskRequest, containerd__task__v2__update_task_request) {
        container *c = lookup_container(call, s, req->id);
        if (!c)
                return;
        if (!req->resources || req->resources->value.len == 0) {
                ttrpc_call_reply_error(call, BERR_INVALID_ARGUMENT, "update: resources are required");
                return;
        }
        json_t *check = json_loadb((const char *) req->resources->value.data, req->resources->value.len, 0, NULL);
        bool is_object = json_is_object(check);
        json_decref(check);
        if (!is_object) {
                ttrpc_call_reply_error(call, BERR_INVALID_ARGUMENT, "update: resources (%s) are not a JSON object",
                                       req->resources->type_url);
                return;
        }
        const char *argv[] = { "update", "--resources", "-", c->id, NULL };
        oci_exec_opts o = {
                .stdio = { -1, -1, -1 },
                .op = "update",
                .stdin_data = (const char *) req->resources->value.data,
                .stdin_len = req->resources->value.len,
        };
        berr *err = NULL;
        if (oci_run(&c->rt, argv, &o, NULL, &err) < 0)
                reply_err(call, err);
        else
                ttrpc_call_reply(call, NULL);
}

TASK_METHOD(stats, Containerd__Task__V2__StatsRequest, containerd__task__v2__stats_request) {
        container *c = lookup_container(call, s, req->id);
        if (!c)
                return;
        if (c->init->state == PROC_STOPPED || c->init->pid <= 0) {
                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "container %s is not running: not found", c->id);
                return;
        }
        Google__Protobuf__Any *any = NULL;
        berr *err = NULL;
        if (cg_stats_any_for_pid(c->init->pid, &any, &err) < 0) {
                reply_err(call, err);
                return;
        }
        Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
        resp.stats = any;
        ttrpc_call_reply(call, &resp.base);
        google__protobuf__any__free_unpacked(any, NULL);
}

TASK_METHOD(checkpoint, Containerd__Task__V2__CheckpointTaskRequest, containerd__task__v2__checkpoint_task_request) {
        container *c = lookup_container(call, s, req->id);
        if (!c)
                return;
        if (c->init->state != PROC_RUNNING) {
                ttrpc_call_reply_error(call, BERR_FAILED_PRECONDITION, "container %s is not running", c->id);
                return;
        }
        Containerd__Runc__V1__CheckpointOptions *copts = NULL;
        if (req->options && req->options->type_url &&
            strcmp(req->options->type_url, "containerd.runc.v1.CheckpointOptions") == 0) {
                copts = containerd__runc__v1__checkpoint_options__unpack(NULL, req->options->value.len,
                                                                          req->options->value.data);
                if (!copts) {
                        ttrpc_call_reply_error(call, BERR_INVALID_ARGUMENT, "cannot decode checkpoint options");
                        return;
                }
        }
        const char *image = copts && copts->image_path && copts->image_path[0] ? copts->image_path : req->path;
        char *work_default = xasprintf("%s/criu-work", c->bundle);
        const char *work = copts && copts->work_path && copts->work_path[0] ? copts->work_path : work_default;
        const char *argv[32];
        size_t n = 0;
        argv[n++] = "checkpoint";
        argv[n++] = "--image-path";
        argv[n++] = image;
        argv[n++] = "--work-path";
        argv[n++] = work;
        if (copts && copts->open_tcp)
                argv[n++] = "--tcp-established";
        if (copts && copts->external_unix_sockets)
                argv[n++] = "--ext-unix-sk";
        if (copts && copts->terminal)
                argv[n++] = "--shell-job";
        if (copts && copts->file_locks)
                argv[n++] = "--file-locks";
        if (!copts || !copts->exit)
                argv[n++] = "--leave-running";
        argv[n++] = c->id;
        argv[n] = NULL;
        berr *err = NULL;
        if (!image || image[0] == '\0') {
                berr_set(&err, BERR_INVALID_ARGUMENT, 0, "checkpoint: an image path is required");
        } else if (mkdir_p(work, 0700, &err) >= 0) {
                oci_command(&c->rt, argv, &err);
        }
        if (err && err->code == BERR_UNKNOWN) {
                _cleanup_free_ char *why = oci_criu_unusable_reason(c->rt.criu_path);
                if (why)
                        berr_set(&err, BERR_FAILED_PRECONDITION, 0,
                                 "checkpoint is not available on this host: criu check fails (%s)", why);
        }
        if (err) {
                log_warn("checkpoint %s: %s", c->id, err->msg);
                reply_err(call, err);
        } else {
                Containerd__Events__TaskCheckpointed ev = CONTAINERD__EVENTS__TASK_CHECKPOINTED__INIT;
                ev.container_id = c->id;
                ev.checkpoint = (char *) image;
                publisher_publish(s->pub, "/tasks/checkpointed", "containerd.events.TaskCheckpointed", &ev.base);
                ttrpc_call_reply(call, NULL);
        }
        if (copts)
                containerd__runc__v1__checkpoint_options__free_unpacked(copts, NULL);
        free(work_default);
}

/* ---- Shutdown ---- */

TASK_METHOD(shutdown, Containerd__Task__V2__ShutdownRequest, containerd__task__v2__shutdown_request) {
        ttrpc_call_reply(call, NULL);
        /* A grouped server keeps serving while any container remains (shim-v2.md §2.3, §3.7). */
        if (!s->containers) {
                s->shutdown_requested = true;
                shim_server_maybe_exit(s);
        }
}

const ttrpc_method task_service_methods[] = {
        { "State", handle_state },         { "Create", handle_create },       { "Start", handle_start },
        { "Delete", handle_delete },       { "Pids", handle_pids },           { "Pause", handle_pause },
        { "Resume", handle_resume },       { "Checkpoint", handle_checkpoint }, { "Kill", handle_kill },
        { "Exec", handle_exec },           { "ResizePty", handle_resize_pty }, { "CloseIO", handle_close_io },
        { "Update", handle_update },       { "Wait", handle_wait },           { "Stats", handle_stats },
        { "Connect", handle_connect },     { "Shutdown", handle_shutdown },
};
const size_t task_service_n_methods = ELEMENTSOF(task_service_methods);
