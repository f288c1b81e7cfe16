/* The task monitor: /tasks/exit of init processes queued and handed to the owner from the loop; per-container
 * back-off state and restart timers. */
#include <string.h>

#include "basic/log.h"
#include "basic/macro.h"
#include "containerd/events/task.pb-c.h"
#include "events/exchange.h"
#include "runtime/monitor.h"

typedef struct pending_exit {
        struct pending_exit *next;
        char *ns, *id;
        uint32_t pid, exit_status;
        int64_t exited_at;
} pending_exit;

/* Back-off state of one container, kept while it has a restart policy in play. */
typedef struct tracked {
        struct tracked *next;
        task_monitor *m;
        char *ns, *id;
        uint64_t started_usec; /* monotonic; 0 = unknown */
        uint64_t delay_usec;   /* the last back-off used; 0 = none yet */
        ev_source *timer;
        bool pending; /* a restart is due when the timer fires */
} tracked;

struct task_monitor {
        ev_loop *loop;
        event_exchange *events;
        event_sub *sub;
        task_monitor_ops ops;
        void *userdata;
        pending_exit *head, **tail;
        ev_source *dispatch; /* zero-delay timer draining the queue */
        tracked *tracked;
};

static int64_t timestamp_ns(const Google__Protobuf__Timestamp *ts) {
        return ts ? ts->seconds * INT64_C(1000000000) + ts->nanos : 0;
}

static int on_dispatch(ev_source *s, void *userdata) {
        task_monitor *m = userdata;
        /* Take the whole queue first: the owner's handlers may cause new exits to be queued meanwhile. */
        pending_exit *p = m->head;
        m->head = NULL;
        m->tail = &m->head;
        while (p) {
                pending_exit *next = p->next;
                if (m->ops.exited)
                        m->ops.exited(p->ns, p->id, p->pid, p->exit_status, p->exited_at, m->userdata);
                free(p->ns);
                free(p->id);
                free(p);
                p = next;
        }
        return 0;
}

static void on_exit_event(const char *ns, const char *topic, const char *type_url, const uint8_t *value, size_t len,
                          int64_t timestamp, void *userdata) {
        task_monitor *m = userdata;
        Containerd__Events__TaskExit *x = containerd__events__task_exit__unpack(NULL, len, value);
        if (!x)
                return;
        /* exec exits carry the exec id in `id` */
        if (x->container_id && *x->container_id && (!x->id || !*x->id || strcmp(x->id, x->container_id) == 0)) {
                pending_exit *p = xcalloc(1, sizeof *p);
                p->ns = xstrdup(ns);
                p->id = xstrdup(x->container_id);
                p->pid = x->pid;
                p->exit_status = x->exit_status;
                p->exited_at = timestamp_ns(x->exited_at);
                if (p->exited_at <= 0)
                        p->exited_at = timestamp;
                *m->tail = p;
                m->tail = &p->next;
                ev_timer_set(m->dispatch, 0);
        }
        containerd__events__task_exit__free_unpacked(x, NULL);
}

static void on_exchange_closed(void *userdata) {
        task_monitor *m = userdata;
        m->sub = NULL;
        m->events = NULL;
        if (m->ops.closed)
                m->ops.closed(m->userdata);
}

int task_monitor_new(ev_loop *loop, event_exchange *x, const task_monitor_ops *ops, void *userdata,
                     task_monitor **ret, berr **err) {
        task_monitor *m = xcalloc(1, sizeof *m);
        m->loop = loop;
        m->events = x;
        m->ops = *ops;
        m->userdata = userdata;
        m->tail = &m->head;
        int r = ev_add_timer(loop, &m->dispatch, EV_TIMER_DISARMED, on_dispatch, m);
        if (r < 0) {
                free(m);
                return berr_errno(err, -r, "task monitor timer");
        }
        const char *filter = "topic==\"/tasks/exit\"";
        if (event_subscribe(x, &filter, 1, on_exit_event, m, &m->sub, err) < 0) {
                ev_source_free(m->dispatch);
                free(m);
                return -1;
        }
        event_sub_set_on_close(m->sub, on_exchange_closed);
        *ret = m;
        return 0;
}

static void tracked_free(tracked *t) {
        ev_source_free(t->timer);
        free(t->ns);
        free(t->id);
        free(t);
}

task_monitor *task_monitor_free(task_monitor *m) {
        if (!m)
                return NULL;
        if (m->sub)
                event_unsubscribe(m->sub);
        ev_source_free(m->dispatch);
        for (pending_exit *p = m->head, *next; p; p = next) {
                next = p->next;
                free(p->ns);
                free(p->id);
                free(p);
        }
        for (tracked *t = m->tracked, *next; t; t = next) {
                next = t->next;
                tracked_free(t);
        }
        free(m);
        return NULL;
}

static tracked *find(const task_monitor *m, const char *ns, const char *id) {
        for (tracked *t = m->tracked; t; t = t->next)
                if (strcmp(t->ns, ns) == 0 && strcmp(t->id, id) == 0)
                        return t;
        return NULL;
}

static tracked *find_or_add(task_monitor *m, const char *ns, const char *id) {
        tracked *t = find(m, ns, id);
        if (t)
                return t;
        t = xcalloc(1, sizeof *t);
        t->m = m;
        t->ns = xstrdup(ns);
        t->id = xstrdup(id);
        t->next = m->tracked;
        m->tracked = t;
        return t;
}

void task_monitor_started(task_monitor *m, const char *ns, const char *id) {
        tracked *t = find_or_add(m, ns, id);
        t->started_usec = now_monotonic_usec();
}

static int on_restart_timer(ev_source *s, void *userdata) {
        tracked *t = userdata;
        task_monitor *m = t->m;
        ev_timer_disarm(s);
        t->pending = false;
        /* copies: the owner may forget (free) this entry from its callback */
        _cleanup_free_ char *ns = xstrdup(t->ns), *id = xstrdup(t->id);
        if (m->ops.restart)
                m->ops.restart(ns, id, m->userdata);
        return 0;
}

uint64_t task_monitor_restart_later(task_monitor *m, const char *ns, const char *id) {
        tracked *t = find_or_add(m, ns, id);
        uint64_t now = now_monotonic_usec();
        uint64_t ran = t->started_usec && now > t->started_usec ? now - t->started_usec : 0;
        t->delay_usec = restart_backoff_next(t->delay_usec, ran);
        t->pending = true;
        if (!t->timer) {
                int r = ev_add_timer(m->loop, &t->timer, t->delay_usec, on_restart_timer, t);
                if (r < 0) {
                        log_error("restart monitor: cannot arm a timer for %s/%s: %s", ns, id, strerror(-r));
                        return 0;
                }
        } else
                ev_timer_set(t->timer, t->delay_usec);
        return t->delay_usec;
}

void task_monitor_forget(task_monitor *m, const char *ns, const char *id) {
        for (tracked **p = &m->tracked; *p; p = &(*p)->next)
                if (strcmp((*p)->ns, ns) == 0 && strcmp((*p)->id, id) == 0) {
                        tracked *t = *p;
                        *p = t->next;
                        tracked_free(t);
                        return;
                }
}

bool task_monitor_restart_pending(const task_monitor *m, const char *ns, const char *id) {
        tracked *t = find(m, ns, id);
        return t && t->pending;
}
