/* Containers and processes of the shim server: lookup, exits, waiters. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/mount.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "cgroups/oom.h"
#include "shim/task.h"

/* How long to wait, after a process exited, for its output to be copied out before reporting the exit anyway: a
 * daemonized child may keep the pipes open forever. */
#define DRAIN_GRACE_USEC (2 * 1000 * 1000)

container *server_find_container(shim_server *s, const char *id) {
        for (container *c = s->containers; c; c = c->next)
                if (strcmp(c->id, id) == 0)
                        return c;
        return NULL;
}

process *container_find_process(container *c, const char *exec_id) {
        if (!exec_id || exec_id[0] == '\0')
                return c->init;
        for (process *p = c->execs; p; p = p->next)
                if (strcmp(p->id, exec_id) == 0)
                        return p;
        return NULL;
}

static process *find_by_pid(shim_server *s, pid_t pid) {
        for (container *c = s->containers; c; c = c->next) {
                if (c->init && c->init->pid == pid && c->init->state != PROC_STOPPED)
                        return c->init;
                for (process *p = c->execs; p; p = p->next)
                        if (p->pid == pid && p->state != PROC_STOPPED)
                                return p;
        }
        return NULL;
}

void process_answer_waiters(process *p) {
        while (p->waiters) {
                wait_call *w = p->waiters;
                p->waiters = w->next;
                Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
                ts.seconds = p->exited_at_ns / 1000000000;
                ts.nanos = (int32_t) (p->exited_at_ns % 1000000000);
                Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
                resp.exit_status = p->exit_status;
                resp.exited_at = &ts;
                ttrpc_call_reply(w->call, &resp.base);
                free(w);
        }
}

/* Publish the exit and answer Wait — after the output was copied (or the grace period ran out). */
void process_report_exit(process *p) {
        if (p->exit_reported)
                return;
        p->exit_reported = true;
        if (p->drain_timer)
                p->drain_timer = (ev_source_free(p->drain_timer), NULL);
        container *c = p->container;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = p->exited_at_ns / 1000000000;
        ts.nanos = (int32_t) (p->exited_at_ns % 1000000000);
        Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        ev.container_id = c->id;
        ev.id = p->id;
        ev.pid = (uint32_t) p->pid;
        ev.exit_status = p->exit_status;
        ev.exited_at = &ts;
        publisher_publish(c->server->pub, "/tasks/exit", "containerd.events.TaskExit", &ev.base);
        process_answer_waiters(p);
}

static void on_drained(void *userdata) {
        process_report_exit(userdata);
}

static int on_drain_timeout(ev_source *src, void *userdata) {
        process *p = userdata;
        log_debug("output of %s not drained %d ms after exit; reporting the exit", p->id, DRAIN_GRACE_USEC / 1000);
        process_report_exit(p);
        return 0;
}

void process_set_exited(process *p, int wait_status) {
        if (p->state == PROC_STOPPED)
                return;
        p->state = PROC_STOPPED;
        p->exited_at_ns = now_realtime_nsec();
        if (WIFEXITED(wait_status))
                p->exit_status = (uint32_t) WEXITSTATUS(wait_status);
        else if (WIFSIGNALED(wait_status))
                p->exit_status = 128u + (uint32_t) WTERMSIG(wait_status);
        else
                p->exit_status = 255;
        log_debug("process %s (pid %d) exited with status %u", p->id, p->pid, p->exit_status);

        container *c = p->container;
        if (p->is_init) {
                if (c->paused)
                        c->paused = false;
                if (!c->private_pid_ns) {
                        /* Without its own pid namespace the container's other processes outlive init: kill them, as
                         * the runc shim does, so nothing is left behind. */
                        const char *argv[] = { "kill", "--all", c->id, "9", NULL };
                        berr *err = NULL;
                        if (oci_command(&c->rt, argv, &err) < 0) {
                                log_debug("kill --all after init exit: %s", err->msg);
                                berr_free(err);
                        }
                }
        }
        if (!p->io) {
                process_report_exit(p);
                return;
        }
        stdio_process_exited(p->io);
        if (ev_add_timer(c->server->loop, &p->drain_timer, DRAIN_GRACE_USEC, on_drain_timeout, p) < 0) {
                process_report_exit(p);
                return;
        }
        stdio_on_drained(p->io, on_drained, p);
}

bool server_take_early_exit(shim_server *s, pid_t pid, int *ret_status) {
        for (size_t i = 0; i < EXIT_TABLE_SIZE; i++)
                if (s->exits[i].pid == pid && pid > 0) {
                        *ret_status = s->exits[i].status;
                        s->exits[i].pid = 0;
                        return true;
                }
        return false;
}

void server_handle_exit(shim_server *s, pid_t pid, int wait_status) {
        process *p = find_by_pid(s, pid);
        if (p) {
                process_set_exited(p, wait_status);
                return;
        }
        /* Not known yet (its pid file is read after the runtime returns), or a runtime helper: remember it. */
        s->exits[s->exit_next].pid = pid;
        s->exits[s->exit_next].status = wait_status;
        s->exits[s->exit_next].when_ns = now_realtime_nsec();
        s->exit_next = (s->exit_next + 1) % EXIT_TABLE_SIZE;
}

int process_read_pid_file(const char *path, pid_t *ret, berr **err) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file(path, &data, &len, 64, err) < 0)
                return -1;
        char *end;
        long v = strtol(data, &end, 10);
        if (end == data || v <= 0 || v > 0x7fffffff)
                return berr_set(err, BERR_INTERNAL, 0, "invalid pid file %s", path);
        *ret = (pid_t) v;
        return 0;
}

void process_free(process *p) {
        if (!p)
                return;
        /* Anyone still waiting learns the process is gone rather than hanging forever. */
        while (p->waiters) {
                wait_call *w = p->waiters;
                p->waiters = w->next;
                ttrpc_call_reply_error(w->call, BERR_NOT_FOUND, "process %s was deleted", p->id);
                free(w);
        }
        if (p->drain_timer)
                ev_source_free(p->drain_timer);
        stdio_free(p->io);
        free(p->id);
        free(p->stdin_path);
        free(p->stdout_path);
        free(p->stderr_path);
        free(p->spec_json);
        free(p);
}

void container_free(container *c) {
        if (!c)
                return;
        while (c->execs) {
                process *p = c->execs;
                c->execs = p->next;
                process_free(p);
        }
        process_free(c->init);
        oom_watch_free(c->oom);
        shim_options_done(&c->options);
        oci_runtime_done(&c->rt);
        free(c->id);
        free(c->bundle);
        free(c);
}

void server_remove_container(shim_server *s, container *c) {
        for (container **pp = &s->containers; *pp; pp = &(*pp)->next)
                if (*pp == c) {
                        *pp = c->next;
                        break;
                }
        container_free(c);
}
