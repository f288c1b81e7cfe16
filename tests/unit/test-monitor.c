/* The restart monitor's decisions (policies, back-off) and the task monitor (runtime/monitor.h) over a real event
 * exchange and event loop: init exits delivered later from the loop (never inside the publish), exec exits
 * filtered out, restart timers firing after the back-off, forget cancelling them, the exchange's close reported. */
#include "basic/event.h"
#include "basic/macro.h"
#include "containerd/events/task.pb-c.h"
#include "events/exchange.h"
#include "runtime/monitor.h"
#include "tap.h"

TEST(policy_parse) {
        restart_policy p;
        ASSERT_OK(restart_policy_parse(NULL, &p, NULL));
        ASSERT_EQ(p.kind, RESTART_NO);
        ASSERT_OK(restart_policy_parse("no", &p, NULL));
        ASSERT_EQ(p.kind, RESTART_NO);
        ASSERT_OK(restart_policy_parse("always", &p, NULL));
        ASSERT_EQ(p.kind, RESTART_ALWAYS);
        ASSERT_OK(restart_policy_parse("unless-stopped", &p, NULL));
        ASSERT_EQ(p.kind, RESTART_UNLESS_STOPPED);
        ASSERT_OK(restart_policy_parse("on-failure", &p, NULL));
        ASSERT_EQ(p.kind, RESTART_ON_FAILURE);
        ASSERT_EQ(p.max_retries, 0u);
        ASSERT_OK(restart_policy_parse("on-failure:3", &p, NULL));
        ASSERT_EQ(p.kind, RESTART_ON_FAILURE);
        ASSERT_EQ(p.max_retries, 3u);
        const char *bad[] = { "sometimes", "on-failure:", "on-failure:x", "on-failure:-1", "always:2", "On-Failure" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                berr *e = NULL;
                ASSERT_EQ(restart_policy_parse(bad[i], &p, &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                ASSERT_TRUE(strstr(e->msg, "invalid restart policy") != NULL);
                berr_free(e);
        }
}

TEST(policy_format_round_trip) {
        const char *in[] = { "no", "always", "unless-stopped", "on-failure", "on-failure:7" };
        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                restart_policy p;
                ASSERT_OK(restart_policy_parse(in[i], &p, NULL));
                char *s = restart_policy_format(&p);
                ASSERT_STREQ(s, in[i]);
                free(s);
        }
}

TEST(policy_decisions) {
        restart_policy no = { RESTART_NO, 0 }, always = { RESTART_ALWAYS, 0 }, us = { RESTART_UNLESS_STOPPED, 0 },
                       of = { RESTART_ON_FAILURE, 0 }, of2 = { RESTART_ON_FAILURE, 2 };
        ASSERT_TRUE(!restart_policy_wants_restart(&no, false, 1, 0));
        ASSERT_TRUE(restart_policy_wants_restart(&always, false, 0, 100));
        ASSERT_TRUE(restart_policy_wants_restart(&us, false, 0, 0));
        ASSERT_TRUE(!restart_policy_wants_restart(&always, true, 137, 0)); /* explicit stop wins */
        ASSERT_TRUE(!restart_policy_wants_restart(&us, true, 1, 0));
        ASSERT_TRUE(!restart_policy_wants_restart(&of, false, 0, 0)); /* success: no restart */
        ASSERT_TRUE(restart_policy_wants_restart(&of, false, 1, 1000));
        ASSERT_TRUE(restart_policy_wants_restart(&of2, false, 1, 0));
        ASSERT_TRUE(restart_policy_wants_restart(&of2, false, 1, 1));
        ASSERT_TRUE(!restart_policy_wants_restart(&of2, false, 1, 2)); /* gave up after two */
}

TEST(backoff) {
        uint64_t d = restart_backoff_next(0, 0);
        ASSERT_EQ(d, RESTART_BACKOFF_MIN_USEC);
        d = restart_backoff_next(d, 1000);
        ASSERT_EQ(d, 2 * RESTART_BACKOFF_MIN_USEC);
        for (int i = 0; i < 20; i++)
                d = restart_backoff_next(d, 1000);
        ASSERT_EQ(d, RESTART_BACKOFF_MAX_USEC);
        ASSERT_EQ(restart_backoff_next(d, RESTART_BACKOFF_RESET_USEC), RESTART_BACKOFF_MIN_USEC);
}

typedef struct seen {
        int exits, restarts, closed;
        char id[64];
        uint32_t pid, status;
        int64_t exited_at;
        bool in_publish;
        bool delivered_inside_publish;
        uint64_t restart_at_usec;
} seen;

static void on_exited(const char *ns, const char *id, uint32_t pid, uint32_t status, int64_t exited_at, void *ud) {
        seen *s = ud;
        s->exits++;
        snprintf(s->id, sizeof s->id, "%s/%s", ns, id);
        s->pid = pid;
        s->status = status;
        s->exited_at = exited_at;
        if (s->in_publish)
                s->delivered_inside_publish = true;
}

static void on_restart(const char *ns, const char *id, void *ud) {
        seen *s = ud;
        s->restarts++;
        s->restart_at_usec = now_monotonic_usec();
}

static void on_closed(void *ud) {
        ((seen *) ud)->closed++;
}

static void publish_exit(event_exchange *x, seen *s, const char *cid, const char *id, uint32_t pid, uint32_t status) {
        Containerd__Events__TaskExit ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1700000000;
        ts.nanos = 5;
        ev.container_id = (char *) cid;
        ev.id = (char *) id;
        ev.pid = pid;
        ev.exit_status = status;
        ev.exited_at = &ts;
        s->in_publish = true;
        ASSERT_OK(event_publish(x, "ns1", "/tasks/exit", &ev.base, NULL));
        s->in_publish = false;
}

static void pump(ev_loop *loop, int ms) {
        uint64_t end = now_monotonic_usec() + (uint64_t) ms * 1000;
        while (now_monotonic_usec() < end)
                ev_loop_run_once(loop, 10);
}

TEST(task_monitor_exits_and_restarts) {
        ev_loop *loop = NULL;
        event_exchange *x = NULL;
        task_monitor *m = NULL;
        seen s = { 0 };
        ASSERT_OK(ev_loop_new(&loop));
        ASSERT_OK(event_exchange_new(loop, &x, NULL));
        const task_monitor_ops ops = { .exited = on_exited, .restart = on_restart, .closed = on_closed };
        ASSERT_OK(task_monitor_new(loop, x, &ops, &s, &m, NULL));

        /* init exit: delivered from the loop, not inside the publish */
        publish_exit(x, &s, "c1", "c1", 42, 3);
        ASSERT_EQ(s.exits, 0);
        pump(loop, 30);
        ASSERT_EQ(s.exits, 1);
        ASSERT_TRUE(!s.delivered_inside_publish);
        ASSERT_STREQ(s.id, "ns1/c1");
        ASSERT_EQ(s.pid, 42u);
        ASSERT_EQ(s.status, 3u);
        ASSERT_EQ(s.exited_at, INT64_C(1700000000000000005));

        /* exec exit (id = exec id) and other topics: ignored */
        publish_exit(x, &s, "c1", "exec-1", 43, 0);
        Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
        oom.container_id = (char *) "c1";
        ASSERT_OK(event_publish(x, "ns1", "/tasks/oom", &oom.base, NULL));
        pump(loop, 30);
        ASSERT_EQ(s.exits, 1);

        /* two exits queued in one round are both delivered, in order */
        publish_exit(x, &s, "c2", "", 7, 1);
        publish_exit(x, &s, "c3", "c3", 8, 2);
        pump(loop, 30);
        ASSERT_EQ(s.exits, 3);
        ASSERT_STREQ(s.id, "ns1/c3");

        /* restart after the minimum back-off; a quick second exit doubles it */
        task_monitor_started(m, "ns1", "c1");
        uint64_t t0 = now_monotonic_usec();
        ASSERT_EQ(task_monitor_restart_later(m, "ns1", "c1"), RESTART_BACKOFF_MIN_USEC);
        ASSERT_TRUE(task_monitor_restart_pending(m, "ns1", "c1"));
        pump(loop, 60);
        ASSERT_EQ(s.restarts, 0);
        pump(loop, 100);
        ASSERT_EQ(s.restarts, 1);
        ASSERT_TRUE(s.restart_at_usec - t0 >= RESTART_BACKOFF_MIN_USEC);
        ASSERT_TRUE(!task_monitor_restart_pending(m, "ns1", "c1"));
        task_monitor_started(m, "ns1", "c1");
        ASSERT_EQ(task_monitor_restart_later(m, "ns1", "c1"), 2 * RESTART_BACKOFF_MIN_USEC);

        /* forget cancels the pending restart */
        task_monitor_forget(m, "ns1", "c1");
        ASSERT_TRUE(!task_monitor_restart_pending(m, "ns1", "c1"));
        pump(loop, 300);
        ASSERT_EQ(s.restarts, 1);
        /* and starts the back-off over */
        ASSERT_EQ(task_monitor_restart_later(m, "ns1", "c1"), RESTART_BACKOFF_MIN_USEC);
        task_monitor_forget(m, "ns1", "c1");

        /* the exchange going away is reported; the owner then frees the monitor */
        event_exchange_free(x);
        ASSERT_EQ(s.closed, 1);
        task_monitor_free(m);
        ev_loop_free(loop);
}

TEST(task_monitor_free_with_pending_work) {
        ev_loop *loop = NULL;
        event_exchange *x = NULL;
        task_monitor *m = NULL;
        seen s = { 0 };
        ASSERT_OK(ev_loop_new(&loop));
        ASSERT_OK(event_exchange_new(loop, &x, NULL));
        const task_monitor_ops ops = { .exited = on_exited, .restart = on_restart };
        ASSERT_OK(task_monitor_new(loop, x, &ops, &s, &m, NULL));
        publish_exit(x, &s, "c1", "c1", 1, 0);
        task_monitor_restart_later(m, "ns1", "c9");
        task_monitor_free(m); /* queued exit and armed timer released, unsubscribed */
        ASSERT_EQ(event_exchange_subscriber_count(x), 0u);
        pump(loop, 150);
        ASSERT_EQ(s.exits, 0);
        ASSERT_EQ(s.restarts, 0);
        event_exchange_free(x);
        ev_loop_free(loop);
}
