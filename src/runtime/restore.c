/* Reconnecting to shims after a berthd restart (containerd's loadShims, shim-v2.md §3.10), all in parallel: read
 * <bundle>/address, dial, reopen the log FIFO, Connect (5 s, with the namespace metadata) and State (2 s). Live shims
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
        /* A shim that still answers but holds no task (berthd died in the middle of deleting it) keeps its
         * connection, so that the teardown's Shutdown makes it exit; only a closed one is dropped here. */
        if (t->client && ttrpc_client_closed(t->client)) {
                ttrpc_client *c = TAKE_PTR(t->client);
                ttrpc_client_free(c);
        }
        t->phase = RT_PHASE_DEAD;
        rt_task_teardown(t, true, on_dead_done, r);
}

/* One task being reconnected: Connect and State are sent together (one wake-up of the shim, one round trip
 * instead of two); the task is settled when both replies are in, whichever comes first. */
typedef struct reconnect {
        restore *r;
        rt_task *t;
        unsigned replies; /* still to come */
        char *failure;    /* why the task cannot be reconnected (the first failure) */
        bool stopped;     /* State said the task exited while berthd was down */
} reconnect;

static void reconnect_failed(reconnect *rc, const char *why) {
        if (!rc->failure)
                rc->failure = xstrdup(why);
}

static void reconnect_settle(reconnect *rc) {
        restore *r = rc->r;
        rt_task *t = rc->t;
        if (rc->failure)
                restore_dead(r, t, rc->failure);
        else {
                t->phase = RT_PHASE_LIVE;
                r->live++;
                if (rc->stopped) {
                        log_info("task %s/%s exited while berthd was down (status %u)", t->ns, t->id,
                                 t->exit_status);
                        int64_t at = t->exited_at ? t->exited_at : now_realtime_nsec();
                        rt_publish_exit(t, t->pid, t->exit_status, at, false);
                } else {
                        log_debug("task %s/%s reconnected, pid %u", t->ns, t->id, t->pid);
                        rt_task_watch_exit(t);
                }
                restore_step_done(r);
        }
        free(rc->failure);
        free(rc);
}

static void reconnect_reply(reconnect *rc) {
        if (--rc->replies == 0)
                reconnect_settle(rc);
}

/* State (init) records pid, status and a past exit in the task itself. */
static void on_state(rt_task *t, const berr *e, const rt_state *s, void *userdata) {
        reconnect *rc = userdata;
        if (e)
                reconnect_failed(rc, e->msg);
        else
                rc->stopped = s->status == RT_STATUS_STOPPED;
        reconnect_reply(rc);
}

static void on_connect(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        reconnect *rc = userdata;
        Containerd__Task__V2__ConnectResponse *resp = NULL;
        if (e || !(resp = containerd__task__v2__connect_response__unpack(NULL, len, p)))
                reconnect_failed(rc, e ? e->msg : "undecodable ConnectResponse");
        else {
                if (!t->pid)
                        t->pid = resp->task_pid;
                containerd__task__v2__connect_response__free_unpacked(resp, NULL);
        }
        reconnect_reply(rc);
}

/* Sends Connect (with the namespace metadata, as containerd does) and State back to back. A call that cannot
 * even be sent counts as answered with its error. */
static void reconnect_start(restore *r, rt_task *t) {
        reconnect *rc = xmalloc(sizeof *rc);
        *rc = (reconnect) { .r = r, .t = t, .replies = 2 };
        _cleanup_berr_ berr *e = NULL;
        Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        req.id = t->id;
        ttrpc_kv md = { .key = "containerd-namespace-ttrpc", .value = t->ns };
        if (rt_task_call_md(t, "Connect", &req.base, &md, 1, TIMEOUT_CONNECT, on_connect, rc, &e) < 0) {
                reconnect_failed(rc, e->msg);
                berr_freep(&e);
                rc->replies--;
        }
        if (rt_task_state(t, NULL, on_state, rc, &e) < 0) {
                reconnect_failed(rc, e->msg);
                rc->replies--;
        }
        if (rc->replies == 0)
                reconnect_settle(rc);
}

static void restore_one(restore *r, const char *ns, const char *id, const char *bundle) {
        runtime *rt = r->rt;
        _cleanup_free_ char *address = bundle_read_address(bundle);
        _cleanup_free_ char *shim_binary = bundle_read_shim_binary(bundle);
        /* A bundle with neither file never got anywhere; it is removed when empty. Checked only then: a failed
         * rmdir of every live bundle cost more than reading its two files. */
        if (!address && !shim_binary && rmdir(bundle) == 0)
                return;
        rt_task *t = rt_task_new(rt, ns, id, bundle);
        t->shim_binary = TAKE_PTR(shim_binary);
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
        reconnect_start(r, t);
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
                restore_one(r, ns, de->d_name, bundle);
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
