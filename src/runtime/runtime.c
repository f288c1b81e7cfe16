/* The task manager: configuration, the OCI runtime choice, the task list and the /tasks/exit subscription. */
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/oci-detect.h"
#include "cgroups/migration-warmer.h"
#include "containerd/events/task.pb-c.h"
#include "events/exchange.h"
#include "runtime/runtime-internal.h"

/* io.containerd.runc.v2, or a path to containerd's runc shim: those get a concrete OCI binary in auto mode. */
static bool is_runc_shim(const char *runtime_name) {
        if (strcmp(runtime_name, RUNTIME_RUNC_V2) == 0)
                return true;
        const char *base = strrchr(runtime_name, '/');
        return base && strcmp(base + 1, "containerd-shim-runc-v2") == 0;
}

const char *runtime_oci_binary(const runtime *rt, const char *runtime_name) {
        if (rt->oci_runtime)
                return rt->oci_runtime;
        return runtime_name && is_runc_shim(runtime_name) ? rt->oci_auto : NULL;
}

/* /tasks/paused and /tasks/resumed keep the cached status right for List/Get without asking the shim. */
static void on_task_paused_or_resumed(runtime *rt, const char *ns, const char *topic, const uint8_t *value,
                                      size_t len) {
        /* TaskPaused and TaskResumed have the same shape: 1 container_id. */
        Containerd__Events__TaskPaused *p = containerd__events__task_paused__unpack(NULL, len, value);
        if (!p)
                return;
        rt_task *t = p->container_id && *p->container_id ? rt_task_find_any(rt, ns, p->container_id) : NULL;
        bool paused = strcmp(topic, "/tasks/paused") == 0;
        if (t && (t->status == RT_STATUS_RUNNING || t->status == RT_STATUS_PAUSED))
                t->status = paused ? RT_STATUS_PAUSED : RT_STATUS_RUNNING;
        containerd__events__task_paused__free_unpacked(p, NULL);
}

static void on_task_exit(const char *ns, const char *topic, const char *type_url, const uint8_t *value,
                         size_t len, int64_t timestamp_ns, void *userdata) {
        runtime *rt = userdata;
        if (strcmp(topic, "/tasks/exit") != 0) {
                on_task_paused_or_resumed(rt, ns, topic, value, len);
                return;
        }
        Containerd__Events__TaskExit *x = containerd__events__task_exit__unpack(NULL, len, value);
        if (!x)
                return;
        /* Exec exits carry the exec id in `id`; only init exits change the task's state. */
        rt_task *t = x->container_id && *x->container_id ? rt_task_find_any(rt, ns, x->container_id) : NULL;
        /* An exit whose pid is not the task's is stale: a shim re-sending what it queued while berthd was down,
         * about an earlier task of the same id. It must not end the task running now. */
        bool stale = t && t->pid != 0 && x->pid != 0 && t->pid != x->pid;
        if (t && !stale && (!x->id || !*x->id || strcmp(x->id, x->container_id) == 0))
                rt_task_set_exit(t, x->pid, x->exit_status, rt_timestamp_ns(x->exited_at));
        else if (stale)
                log_debug("ignoring a stale exit of %s (pid %u; the task's pid is %u)", x->container_id, x->pid,
                          t->pid);
        containerd__events__task_exit__free_unpacked(x, NULL);
}

/* The exchange went first (daemon teardown order): stop publishing into it. */
static void on_exchange_closed(void *userdata) {
        runtime *rt = userdata;
        rt->exit_sub = NULL;
        rt->events = NULL;
}

int runtime_new(const runtime_config *cfg, runtime **ret, berr **err) {
        runtime *rt = xcalloc(1, sizeof *rt);
        rt->loop = cfg->loop;
        rt->tasks_dir = xasprintf("%s/tasks", cfg->state);
        rt->address = xstrdup(cfg->address);
        rt->ttrpc_address = xstrdup(cfg->ttrpc_address ? cfg->ttrpc_address : "");
        rt->events = cfg->events;
        /* BERTH_CGROUP_WARMER=0 turns it off (to measure what it saves). */
        const char *warm = getenv("BERTH_CGROUP_WARMER");
        if (!warm || strcmp(warm, "0") != 0)
                rt->warmer = cgroup_warmer_new();
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        self[n > 0 ? n : 0] = '\0';
        rt->self_path = xstrdup(n > 0 ? self : "berthd");
        char *slash = strrchr(self, '/');
        if (n > 0 && slash) {
                *slash = '\0';
                rt->self_dir = xstrdup(*self ? self : "/");
        }

        const char *reason = NULL;
        rt->oci_auto = xstrdup(oci_detect_default(NULL, &reason));
        if (cfg->oci_runtime && *cfg->oci_runtime && strcmp(cfg->oci_runtime, "auto") != 0) {
                if (!oci_binary_in_path(cfg->oci_runtime)) {
                        berr_set(err, BERR_INVALID_ARGUMENT, 0, "OCI runtime \"%s\" is not an executable in PATH",
                                 cfg->oci_runtime);
                        runtime_free(rt);
                        return -1;
                }
                rt->oci_runtime = xstrdup(cfg->oci_runtime);
                log_info("OCI runtime: %s (configured)", rt->oci_runtime);
        } else
                log_info("OCI runtime: auto (our shim chooses; %s for io.containerd.runc.v2: %s)", rt->oci_auto,
                         reason);

        if (mkdir_p(rt->tasks_dir, 0711, err) < 0) {
                runtime_free(rt);
                return -1;
        }
        if (rt->events) {
                /* Several filter strings are ORed. */
                const char *filters[] = { "topic==\"/tasks/exit\"", "topic==\"/tasks/paused\"",
                                          "topic==\"/tasks/resumed\"" };
                if (event_subscribe(rt->events, filters, ELEMENTSOF(filters), on_task_exit, rt, &rt->exit_sub,
                                    err) < 0) {
                        runtime_free(rt);
                        return -1;
                }
                event_sub_set_on_close(rt->exit_sub, on_exchange_closed);
        }
        *ret = rt;
        return 0;
}

runtime *runtime_free(runtime *rt) {
        if (!rt)
                return NULL;
        event_unsubscribe(rt->exit_sub);
        while (rt->head) {
                rt_task *t = rt->head;
                rt_task_ref(t);
                bundle_close_log(t);
                /* Pending calls fail with UNAVAILABLE; the shims keep running for the next berthd. */
                t->phase = RT_PHASE_GONE;
                rt_task_unlink(t);
                t->rt = NULL; /* before the client goes: its failing calls must not start any cleanup */
                ttrpc_client *c = TAKE_PTR(t->client);
                ttrpc_client_free(c);
                rt_task_unref(t);
        }
        free(rt->tasks_dir);
        free(rt->address);
        free(rt->ttrpc_address);
        free(rt->self_path);
        free(rt->self_dir);
        free(rt->oci_runtime);
        free(rt->oci_auto);
        sealed_runtime_free(rt->sealed);
        free(rt->sealed_path);
        cgroup_warmer_free(rt->warmer);
        free(rt);
        return NULL;
}
