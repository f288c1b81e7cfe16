/* Reconnecting to shims after a berthd restart (containerd's loadShims, shim-v2.md §3.10), all in parallel: read
 * <bundle>/address, dial, reopen the log FIFO, Connect (5 s, with the namespace metadata), State (2 s). Live shims
 * are registered (a task that exited meanwhile shows STOPPED and its exit is published: the shim kept it for us);
 * dead ones are cleaned up with their `delete` action, publishing the exit status it reports. */
#include <dirent.h>
#include <string.h>

#include "basic/fileio.h"
#include "basic/identifier.h"
#include "basic/log.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "runtime/runtime-internal.h"

/* Every step is bounded on its own; this only guards against a bug keeping start-up waiting. */
#define RESTORE_DEADLINE_USEC (20 * 1000000ull)

typedef struct restore {
        runtime *rt;
        unsigned pending;
        unsigned live, dead;
        bool detached; /* start-up went on without it: the last step frees it */
} restore;

static void restore_step_done(restore *r) {
        if (--r->pending == 0 && r->detached)
                free(r);
}

static void on_dead_done(rt_task *t, void *userdata) {
        restore *r = userdata;
        log_info("task %s/%s: shim gone, cleaned up (exit status %u)", t->ns, t->id, t->exit_status);
        r->dead++;
        restore_step_done(r);
}

static void restore_dead(restore *r, rt_task *t, const char *why) {
        log_warn("task %s/%s: cannot reconnect to its shim (%s); cleaning up", t->ns, t->id, why);
        ttrpc_client *c = TAKE_PTR(t->client);
        ttrpc_client_free(c);
        t->phase = RT_PHASE_DEAD;
        rt_task_teardown(t, true, on_dead_done, r);
}

static void on_state(rt_task *t, const berr *e, const rt_state *s, void *userdata) {
        restore *r = userdata;
        if (e) {
                restore_dead(r, t, e->msg);
                return;
        }
        t->phase = RT_PHASE_LIVE;
        r->live++;
        if (s->status == RT_STATUS_STOPPED) {
                log_info("task %s/%s exited while berthd was down (status %u)", t->ns, t->id, s->exit_status);
                int64_t at = t->exited_at ? t->exited_at : now_realtime_nsec();
                rt_publish_exit(t, t->pid, t->exit_status, at, false);
        } else {
                log_debug("task %s/%s reconnected, pid %u", t->ns, t->id, t->pid);
                rt_task_watch_exit(t);
        }
        restore_step_done(r);
}

static void on_connect(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        restore *r = userdata;
        Containerd__Task__V2__ConnectResponse *resp = NULL;
        if (e || !(resp = containerd__task__v2__connect_response__unpack(NULL, len, p))) {
                restore_dead(r, t, e ? e->msg : "undecodable ConnectResponse");
                return;
        }
        t->pid = resp->task_pid;
        containerd__task__v2__connect_response__free_unpacked(resp, NULL);
        _cleanup_berr_ berr *err = NULL;
        if (rt_task_state(t, NULL, on_state, r, &err) < 0)
                restore_dead(r, t, err->msg);
}

static void restore_one(restore *r, const char *ns, const char *id) {
        runtime *rt = r->rt;
        _cleanup_free_ char *bundle = bundle_path(rt, ns, id);
        rt_task *t = rt_task_new(rt, ns, id, bundle);
        t->shim_binary = bundle_read_shim_binary(bundle);
        if (t->shim_binary) {
                const char *base = strrchr(t->shim_binary, '/');
                t->runtime_name = xstrdup(base ? base + 1 : t->shim_binary);
        }
        rt_task_link(t);
        rt_task_unref(t); /* the list holds it */
        r->pending++;

        _cleanup_berr_ berr *e = NULL;
        if (bundle_open_log(t, &e) < 0)
                log_warn("task %s/%s: %s", ns, id, e->msg);
        berr_freep(&e);
        _cleanup_free_ char *address = bundle_read_address(bundle);
        if (!address) {
                restore_dead(r, t, "no address file");
                return;
        }
        ttrpc_client *client = NULL;
        if (ttrpc_client_connect(rt->loop, address, &client, &e) < 0) {
                restore_dead(r, t, e->msg);
                return;
        }
        rt_task_attach_client(t, client);
        Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        req.id = t->id;
        ttrpc_kv md = { .key = "containerd-namespace-ttrpc", .value = ns };
        if (rt_task_call_md(t, "Connect", &req.base, &md, 1, TIMEOUT_CONNECT, on_connect, r, &e) < 0)
                restore_dead(r, t, e->msg);
}

static void restore_namespace(restore *r, const char *ns) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", r->rt->tasks_dir, ns);
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *bundle = xasprintf("%s/%s", dir, de->d_name);
                if (!identifier_is_valid(de->d_name)) {
                        log_warn("ignoring %s: not a task bundle", bundle);
                        continue;
                }
                /* An empty directory is a bundle that never got anywhere. */
                if (rmdir(bundle) == 0)
                        continue;
                restore_one(r, ns, de->d_name);
        }
        closedir(d);
        (void) rmdir(dir); /* only succeeds when nothing is left in it */
}

int runtime_restore(runtime *rt, berr **err) {
        restore *r = xcalloc(1, sizeof *r);
        r->rt = rt;
        DIR *d = opendir(rt->tasks_dir);
        if (!d) {
                free(r);
                if (errno == ENOENT)
                        return 0;
                return berr_errno(err, errno, "open %s", rt->tasks_dir);
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.' && identifier_is_valid(de->d_name))
                        restore_namespace(r, de->d_name);
        closedir(d);

        uint64_t deadline = now_monotonic_usec() + RESTORE_DEADLINE_USEC;
        while (r->pending > 0 && now_monotonic_usec() < deadline)
                if (ev_loop_run_once(rt->loop, 100) < 0)
                        break;
        if (r->live || r->dead)
                log_info("reconnected %u tasks, cleaned up %u dead shims", r->live, r->dead);
        if (r->pending > 0) {
                log_warn("%u shims still being reconnected or cleaned up after %llu s; going on", r->pending,
                         (unsigned long long) (RESTORE_DEADLINE_USEC / 1000000));
                r->detached = true;
        } else
                free(r);
        return 0;
}
