/* Exec: a process in a running container, from the container spec's process with the request's args, env, cwd,
 * user and terminal; its IO through FIFOs relayed on the call (not logged, as docker's exec), its exit code last.
 * The exec'd process is deleted from the shim once its output is drained. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>

#include "basic/identifier.h"
#include "basic/log.h"
#include "services/berth-containers.h"
#include "services/common.h"
#include "spec/spec.h"

static char *generate_exec_id(void) {
        uint8_t b[4] = { 0 };
        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b) {
                uint64_t t = now_monotonic_usec();
                memcpy(b, &t, sizeof b);
        }
        return xasprintf("exec-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

/* K=V entries of add replace same-named ones of env (containerd's replaceOrAppendEnvValues). */
static void env_merge(json_t *env, char *const *add, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *eq = strchr(add[i], '=');
                size_t klen = eq ? (size_t) (eq - add[i]) : strlen(add[i]);
                bool replaced = false;
                for (size_t j = 0; j < json_array_size(env); j++) {
                        const char *cur = json_string_value(json_array_get(env, j));
                        if (cur && strncmp(cur, add[i], klen) == 0 && (cur[klen] == '=' || cur[klen] == '\0')) {
                                if (eq)
                                        json_array_set_new(env, j, json_string(add[i]));
                                else
                                        json_array_remove(env, j);
                                replaced = true;
                                break;
                        }
                }
                if (!replaced && eq)
                        json_array_append_new(env, json_string(add[i]));
        }
}

static int set_user(json_t *proc, const char *user, uint32_t init_pid, berr **err) {
        spec_user u = { 0 };
        int r;
        if (spec_user_parse_numeric(user, &u, NULL) == 0)
                r = 0;
        else {
                char root[64];
                snprintf(root, sizeof root, "/proc/%u/root", init_pid);
                r = spec_user_resolve(root, user, &u, err);
        }
        if (r < 0)
                return -1;
        json_t *ju = json_object();
        json_object_set_new(ju, "uid", json_integer(u.uid));
        json_object_set_new(ju, "gid", json_integer(u.gid));
        json_t *gids = json_array();
        for (size_t i = 0; i < u.n_additional_gids; i++)
                json_array_append_new(gids, json_integer(u.additional_gids[i]));
        json_object_set_new(ju, "additionalGids", gids);
        json_object_set_new(proc, "user", ju);
        spec_user_done(&u);
        return 0;
}

/* The exec'd process spec (JSON). */
static int process_spec(const meta_container *c, const Berth__V1__ExecOptions *o, uint32_t init_pid, char **ret,
                        berr **err) {
        if (o->n_args == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec: a command is required");
        json_t *spec = c->spec ? json_loadb((const char *) c->spec, c->spec_len, 0, NULL) : NULL;
        json_t *proc = json_object_get(spec, "process");
        if (!json_is_object(proc)) {
                json_decref(spec);
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "container %s has no process spec", c->id);
        }
        proc = json_deep_copy(proc);
        json_decref(spec);
        json_t *args = json_array();
        for (size_t i = 0; i < o->n_args; i++)
                json_array_append_new(args, json_string(o->args[i]));
        json_object_set_new(proc, "args", args);
        json_t *env = json_object_get(proc, "env");
        if (!json_is_array(env)) {
                env = json_array();
                json_object_set_new(proc, "env", env);
        }
        env_merge(env, o->env, o->n_env);
        if (o->tty) {
                const char *term = "TERM=xterm";
                env_merge(env, (char *const *) &term, 1);
        }
        json_object_set_new(proc, "terminal", json_boolean(o->tty));
        spec_process_set_console_size(proc, o->tty, o->console_width, o->console_height);
        if (o->workdir && *o->workdir) {
                if (o->workdir[0] != '/') {
                        json_decref(proc);
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec: the working directory must be absolute");
                }
                json_object_set_new(proc, "cwd", json_string(o->workdir));
        }
        if (o->user && *o->user && set_user(proc, o->user, init_pid, err) < 0) {
                json_decref(proc);
                return -1;
        }
        *ret = json_dumps(proc, JSON_COMPACT);
        json_decref(proc);
        return *ret ? 0 : berr_set(err, BERR_INTERNAL, 0, "exec: cannot encode the process spec");
}

static void on_process_deleted(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        if (e && e->code != BERR_NOT_FOUND)
                log_debug("exec in %s: delete: %s", rt_task_id(t), e->msg);
}

static void delete_process(bc_session *se) {
        berr *e = NULL;
        if (se->task && rt_task_delete_process(se->task, se->exec_id, on_process_deleted, NULL, &e) < 0) {
                log_debug("exec %s: delete: %s", se->exec_id, e->msg);
                berr_free(e);
        }
}

static void on_exec_exit(rt_task *t, const berr *e, const rt_exit *x, void *userdata) {
        bc_session *se = userdata;
        se->on_end = delete_process;
        if (e)
                bc_session_exited(se, BC_EXIT_UNKNOWN, now_realtime_nsec());
        else
                bc_session_exited(se, (int32_t) x->exit_status, x->exited_at);
}

static void on_exec_started(rt_task *t, const berr *e, uint32_t pid, void *userdata) {
        bc_session *se = userdata;
        if (e) {
                delete_process(se);
                bc_session_fail(se, e);
                return;
        }
        bc_session_send_started(se, pid);
        if (!se->io && se->call) {
                /* detached: the call ends now, the session lives on to delete the process when it exits */
                grpc_call_finish(se->call, BERR_OK, NULL);
                bc_session_detach_call(se);
        }
        berr *we = NULL;
        if (rt_task_wait(t, se->exec_id, on_exec_exit, se, &we) < 0) {
                log_warn("exec %s: wait: %s", se->exec_id, we->msg);
                on_exec_exit(t, we, NULL, se);
                berr_free(we);
        }
}

static void on_exec_created(rt_task *t, const berr *e, void *userdata) {
        bc_session *se = userdata;
        if (e) {
                bc_session_fail(se, e);
                return;
        }
        berr *se_err = NULL;
        if (rt_task_start(t, se->exec_id, on_exec_started, se, &se_err) < 0) {
                on_exec_started(t, se_err, 0, se);
                berr_free(se_err);
        }
}

static void start_exec(bc_service *s, grpc_call *call, const char *ns, const Berth__V1__ExecOptions *o) {
        bc_session *se = bc_session_new(s, call, ns, o->id, NULL);
        meta_container c = { 0 };
        berr *e = NULL;
        _cleanup_free_ char *process = NULL;
        se->exec_id = o->exec_id && *o->exec_id ? xstrdup(o->exec_id) : generate_exec_id();
        if (identifier_validate(se->exec_id, &e) < 0 || bc_container_get(s, ns, o->id, &c, &e) < 0)
                goto fail;
        rt_task *t = bc_live_task(s, ns, o->id);
        if (!t) {
                berr_set(&e, BERR_FAILED_PRECONDITION, 0, "container %s is not running", o->id);
                goto fail;
        }
        rt_task_info info;
        rt_task_info_get(t, &info);
        if (process_spec(&c, o, info.pid, &process, &e) < 0)
                goto fail;
        se->task = rt_task_ref(t);
        if (!o->detach) {
                _cleanup_free_ char *dir = bc_fifo_dir(s, ns, o->id);
                if (bc_io_new(s->ctx->loop, dir, se->exec_id, o->stdin, o->tty, &se->io, &e) < 0)
                        goto fail;
                bc_io_set_call(se->io, call);
        }
        rt_exec_opts eo = {
                .exec_id = se->exec_id,
                .stdin_path = se->io ? bc_io_stdin_path(se->io) : NULL,
                .stdout_path = se->io ? bc_io_stdout_path(se->io) : NULL,
                .stderr_path = se->io ? bc_io_stderr_path(se->io) : NULL,
                .terminal = o->tty,
                .spec = { .type_url = BC_PROCESS_TYPE_URL, .value = (const uint8_t *) process, .len = strlen(process) },
        };
        if (rt_task_exec(t, &eo, on_exec_created, se, &e) < 0)
                goto fail;
        meta_container_done(&c);
        return;
fail:
        meta_container_done(&c);
        bc_session_fail(se, e);
        berr_free(e);
}

void bc_exec_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        bc_session *se = grpc_call_get_state(call);
        _cleanup_pb_ Berth__V1__ExecRequest *req = service_decode(call, &berth__v1__exec_request__descriptor, msg,
                                                                  len);
        if (!req)
                return;
        if (se) {
                bc_session_input(se, req->input);
                return;
        }
        if (!req->options) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "the first message must carry the exec options");
                return;
        }
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        start_exec(s, call, ns, req->options);
}

void bc_exec_half_close(grpc_call *call, void *userdata) {
        bc_run_half_close(call, userdata);
}

void bc_exec_cancel(grpc_call *call, void *userdata) {
        bc_run_cancel(call, userdata);
}
