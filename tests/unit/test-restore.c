/* runtime_restore against a fake shim (a ttrpc Task server in this process): Connect and State go out together,
 * and the task is settled whichever reply comes first (a Go shim answers them concurrently); a task that exited
 * while berthd was down is registered with its real exit; an empty bundle directory is removed. */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/fileio.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "runtime/runtime-internal.h"
#include "tap.h"
#include "ttrpc/ttrpc.h"

typedef struct fake {
        ev_loop *loop;
        ttrpc_server *srv;
        char *dir, *sock, *state;
        bool stopped;              /* State answers STOPPED, exit 7 */
        bool taskless;             /* State answers NOT_FOUND: the shim's container was deleted */
        unsigned shutdowns;
        ttrpc_call *held_connect;  /* answered only after State */
        unsigned connects, states; /* requests seen */
        bool connect_after_state;  /* the order the replies went out */
} fake;

static fake F;

static void h_connect(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.connects++;
        F.held_connect = call;
}

static void h_state(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.states++;
        if (F.taskless) {
                ttrpc_call_reply_error(call, BERR_NOT_FOUND, "container not created: not found");
                if (F.held_connect) {
                        Containerd__Task__V2__ConnectResponse c = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
                        c.shim_pid = 1;
                        ttrpc_call_reply(TAKE_PTR(F.held_connect), &c.base);
                }
                return;
        }
        Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = F.stopped ? 1700000000 : INT64_C(-62135596800);
        resp.id = (char *) "t1";
        resp.pid = 4242;
        resp.status = F.stopped ? CONTAINERD__V1__TYPES__STATUS__STOPPED : CONTAINERD__V1__TYPES__STATUS__RUNNING;
        resp.exit_status = F.stopped ? 7 : 0;
        resp.exited_at = &ts;
        ttrpc_call_reply(call, &resp.base);
        if (F.held_connect) {
                Containerd__Task__V2__ConnectResponse c = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
                c.shim_pid = 1;
                c.task_pid = 4242;
                ttrpc_call_reply(TAKE_PTR(F.held_connect), &c.base);
                F.connect_after_state = true;
        }
}

/* The task manager's own Wait on a running task: held (freed with the server). */
static void h_wait(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
}

static void h_shutdown(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.shutdowns++;
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        ttrpc_call_reply(call, &e.base);
}

static const ttrpc_method fake_methods[] = {
        { "Connect", h_connect },
        { "Shutdown", h_shutdown },
        { "State", h_state },
        { "Wait", h_wait },
};

static void write_text(const char *path, const char *text) {
        ASSERT_OK(write_file_atomic(path, text, strlen(text), 0644, NULL));
}

static void fake_setup(bool stopped) {
        F = (fake) { .stopped = stopped };
        char tmpl[] = "/tmp/test-restore.XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(tmpl));
        F.dir = xstrdup(tmpl);
        F.sock = xasprintf("%s/shim.sock", F.dir);
        F.state = xasprintf("%s/state", F.dir);
        ASSERT_OK(ev_loop_new(&F.loop));
        ASSERT_OK(ttrpc_server_new(F.loop, &F.srv, NULL));
        ASSERT_OK(ttrpc_server_register(F.srv, TASK_SERVICE, fake_methods, ELEMENTSOF(fake_methods), NULL, NULL));
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(lfd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, F.sock);
        ASSERT_OK(bind(lfd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(listen(lfd, 16));
        ASSERT_OK(ttrpc_server_listen_fd(F.srv, lfd, NULL));

        /* A live task's bundle (address written verbatim, as a shim's `start` does) and an empty one. */
        _cleanup_free_ char *bundle = xasprintf("%s/tasks/ns1/t1", F.state);
        ASSERT_OK(mkdir_p(bundle, 0700, NULL));
        _cleanup_free_ char *address = xasprintf("%s/address", bundle);
        _cleanup_free_ char *sock_uri = xasprintf("unix://%s", F.sock);
        write_text(address, sock_uri);
        _cleanup_free_ char *shim_path = xasprintf("%s/shim-binary-path", bundle);
        write_text(shim_path, "/usr/bin/containerd-shim-fake-v1");
        _cleanup_free_ char *empty = xasprintf("%s/tasks/ns1/empty", F.state);
        ASSERT_OK(mkdir_p(empty, 0700, NULL));
}

static void fake_teardown(void) {
        ttrpc_server_free(F.srv);
        ev_loop_free(F.loop);
        (void) rm_rf(F.dir, NULL);
        free(F.dir);
        free(F.sock);
        free(F.state);
}

static runtime *restore(void) {
        runtime_config cfg = {
                .loop = F.loop,
                .state = F.state,
                .address = "/run/test-restore.sock",
                .ttrpc_address = "/run/test-restore.sock.ttrpc",
                .oci_runtime = "/bin/true",
        };
        runtime *rt = NULL;
        ASSERT_OK(runtime_new(&cfg, &rt, NULL));
        ASSERT_OK(runtime_restore(rt, NULL));
        return rt;
}

TEST(state_answered_before_connect) {
        fake_setup(false);
        runtime *rt = restore();
        ASSERT_EQ(F.connects, 1);
        ASSERT_EQ(F.states, 1);
        ASSERT_TRUE(F.connect_after_state);
        rt_task *t = runtime_task_get(rt, "ns1", "t1");
        ASSERT_NOT_NULL(t);
        rt_task_info info;
        rt_task_info_get(t, &info);
        ASSERT_EQ(info.pid, 4242);
        ASSERT_EQ(info.status, RT_STATUS_RUNNING);
        ASSERT_FALSE(info.exited);
        ASSERT_STREQ(info.runtime_name, "containerd-shim-fake-v1");
        /* The empty bundle went, without becoming a task. */
        _cleanup_free_ char *empty = xasprintf("%s/tasks/ns1/empty", F.state);
        ASSERT_TRUE(access(empty, F_OK) < 0);
        ASSERT_NULL(runtime_task_get(rt, "ns1", "empty"));
        runtime_free(rt);
        fake_teardown();
}

TEST(exited_while_down) {
        fake_setup(true);
        runtime *rt = restore();
        rt_task *t = runtime_task_get(rt, "ns1", "t1");
        ASSERT_NOT_NULL(t);
        rt_task_info info;
        rt_task_info_get(t, &info);
        ASSERT_TRUE(info.exited);
        ASSERT_EQ(info.exit_status, 7);
        ASSERT_EQ(info.exited_at, INT64_C(1700000000) * 1000000000);
        runtime_free(rt);
        fake_teardown();
}

/* berthd died while deleting the task: the shim answers, but holds nothing. It is told to shut down (else it
 * would stay forever), and the task is cleaned up and not registered. */
TEST(taskless_shim_is_shut_down) {
        fake_setup(false);
        F.taskless = true;
        runtime *rt = restore();
        for (int i = 0; i < 100 && runtime_task_get(rt, "ns1", "t1"); i++)
                ASSERT_OK(ev_loop_run_once(F.loop, 50) < 0 ? -1 : 0);
        ASSERT_NULL(runtime_task_get(rt, "ns1", "t1"));
        ASSERT_EQ(F.shutdowns, 1);
        _cleanup_free_ char *bundle = xasprintf("%s/tasks/ns1/t1", F.state);
        ASSERT_TRUE(access(bundle, F_OK) < 0);
        runtime_free(rt);
        fake_teardown();
}
