/* The task manager against a fake shim: a shell script for the `start`/`delete` actions and a ttrpc Task server in
 * this process, so the whole flow (bundle, start invocation, Create/Connect/Start/Wait/Kill/Delete/Shutdown, the
 * `delete` action, dead shims, restore) runs without an OCI runtime. Also: shim binary names and resolution. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/fileio.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "runtime/runtime-internal.h"
#include "tap.h"
#include "ttrpc/ttrpc.h"

/* ---- the fake shim's ttrpc side ---- */

typedef struct fake {
        ev_loop *loop;
        ttrpc_server *srv;
        char *dir, *sock, *shim, *bad_shim, *state;
        ttrpc_call *wait_call; /* a Wait held until Kill */
        unsigned creates, deletes, shutdowns, connects;
        char *create_bundle;
        size_t create_mounts;
        bool stopped;
} fake;

static fake F;

static void reply_empty(ttrpc_call *call) {
        ttrpc_call_reply(call, NULL);
}

static void h_create(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        Containerd__Task__V2__CreateTaskRequest *r = (void *) ttrpc_call_decode(
                call, &containerd__task__v2__create_task_request__descriptor, p, len);
        if (!r)
                return;
        F.creates++;
        free(F.create_bundle);
        F.create_bundle = xstrdup(r->bundle);
        F.create_mounts = r->n_rootfs;
        protobuf_c_message_free_unpacked(&r->base, NULL);
        Containerd__Task__V2__CreateTaskResponse resp = CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;
        ttrpc_call_reply(call, &resp.base);
}

static void h_connect(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.connects++;
        Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        resp.shim_pid = 1;
        resp.task_pid = 4242;
        ttrpc_call_reply(call, &resp.base);
}

static void h_start(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
        resp.pid = 4242;
        ttrpc_call_reply(call, &resp.base);
}

static void reply_wait(ttrpc_call *call, uint32_t status) {
        Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1700000000;
        resp.exit_status = status;
        resp.exited_at = &ts;
        ttrpc_call_reply(call, &resp.base);
}

static void h_wait(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        if (F.stopped) {
                reply_wait(call, 137);
                return;
        }
        if (F.wait_call) /* the manager's own Wait is already held: answer this one at Kill too */
                ttrpc_call_reply_error(F.wait_call, BERR_UNAVAILABLE, "superseded");
        F.wait_call = call;
}

static void h_kill(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.stopped = true;
        if (F.wait_call)
                reply_wait(TAKE_PTR(F.wait_call), 137);
        reply_empty(call);
}

static void h_state(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = F.stopped ? 1700000000 : INT64_C(-62135596800);
        resp.id = (char *) "t1";
        resp.pid = 4242;
        resp.status = F.stopped ? CONTAINERD__V1__TYPES__STATUS__STOPPED : CONTAINERD__V1__TYPES__STATUS__RUNNING;
        resp.exit_status = F.stopped ? 7 : 0;
        resp.exited_at = &ts;
        ttrpc_call_reply(call, &resp.base);
}

static void h_delete(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.deletes++;
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        resp.pid = 4242;
        resp.exit_status = 137;
        ttrpc_call_reply(call, &resp.base);
}

static void h_shutdown(ttrpc_call *call, const uint8_t *p, size_t len, void *ud) {
        F.shutdowns++;
        reply_empty(call);
}

static const ttrpc_method fake_methods[] = {
        { "Create", h_create }, { "Connect", h_connect }, { "Start", h_start },       { "Wait", h_wait },
        { "Kill", h_kill },     { "State", h_state },     { "Delete", h_delete },     { "Shutdown", h_shutdown },
};

static void write_script(const char *path, const char *body) {
        ASSERT_OK(write_file_atomic(path, body, strlen(body), 0755, NULL));
}

static void fake_listen(void) {
        ASSERT_OK(ttrpc_server_new(F.loop, &F.srv, NULL));
        ASSERT_OK(ttrpc_server_register(F.srv, TASK_SERVICE, fake_methods, ELEMENTSOF(fake_methods), NULL, NULL));
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, F.sock);
        unlink(F.sock);
        ASSERT_OK(bind(lfd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(listen(lfd, 16));
        ASSERT_OK(ttrpc_server_listen_fd(F.srv, lfd, NULL));
}

static void fake_setup(void) {
        F = (fake) { 0 };
        char tmpl[] = "/tmp/test-runtime.XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(tmpl));
        F.dir = xstrdup(tmpl);
        F.sock = xasprintf("%s/shim.sock", F.dir);
        F.shim = xasprintf("%s/containerd-shim-fake-v1", F.dir);
        F.bad_shim = xasprintf("%s/containerd-shim-bad-v1", F.dir);
        F.state = xasprintf("%s/state", F.dir);
        _cleanup_free_ char *body = xasprintf(
                "#!/bin/sh\n"
                "for last; do :; done\n"
                "case \"$last\" in\n"
                "start) cat > stdin.bin; printf '%%s' \"$TTRPC_ADDRESS $GOMAXPROCS $*\" > start-env;\n"
                "       printf 'unix://%s' > address; printf 'unix://%s\\n';;\n"
                "delete) echo \"$*\" >> %s/deletes; printf '\\010\\052\\020\\211\\001'; echo warning >&2;;\n"
                "esac\n",
                F.sock, F.sock, F.dir);
        write_script(F.shim, body);
        write_script(F.bad_shim, "#!/bin/sh\necho 'io.containerd.bad.v1: boom'\nexit 1\n");
        ASSERT_OK(ev_loop_new(&F.loop));
        fake_listen();
}

static void fake_teardown(void) {
        ttrpc_server_free(F.srv);
        ev_loop_free(F.loop);
        (void) rm_rf(F.dir, NULL);
        free(F.dir);
        free(F.sock);
        free(F.shim);
        free(F.bad_shim);
        free(F.state);
        free(F.create_bundle);
}

static runtime *new_runtime(void) {
        runtime_config cfg = {
                .loop = F.loop,
                .state = F.state,
                .address = "/run/test-runtime.sock",
                .ttrpc_address = "/run/test-runtime.sock.ttrpc",
                .oci_runtime = "/bin/true",
        };
        runtime *rt = NULL;
        ASSERT_OK(runtime_new(&cfg, &rt, NULL));
        return rt;
}

#define PUMP_UNTIL(cond)                                                       \
        do {                                                                   \
                for (int _i = 0; _i < 100 && !(cond); _i++)                    \
                        ASSERT_OK(ev_loop_run_once(F.loop, 50));               \
                ASSERT_TRUE(cond);                                             \
        } while (0)

typedef struct result {
        bool done;
        berr_code code;
        char msg[512];
        uint32_t pid;
        rt_exit exit;
} result;

static void record(result *r, const berr *e) {
        r->done = true;
        r->code = e ? e->code : BERR_OK;
        snprintf(r->msg, sizeof r->msg, "%s", e && e->msg ? e->msg : "");
}

static void on_pid(rt_task *t, const berr *e, uint32_t pid, void *ud) {
        result *r = ud;
        record(r, e);
        r->pid = pid;
}

static void on_exit_cb(rt_task *t, const berr *e, const rt_exit *x, void *ud) {
        result *r = ud;
        record(r, e);
        if (x)
                r->exit = *x;
}

static void on_done(rt_task *t, const berr *e, void *ud) {
        record(ud, e);
}

static const char spec_json[] = "{\"ociVersion\":\"1.0.2\"}";

static rt_create_opts create_opts(const char *runtime_name) {
        return (rt_create_opts) {
                .ns = "ns1",
                .id = "t1",
                .runtime_name = runtime_name,
                .spec = (const uint8_t *) spec_json,
                .spec_len = strlen(spec_json),
        };
}

static char *bundle_file_len(const char *name, size_t *ret_len) {
        char *path = xasprintf("%s/tasks/ns1/t1/%s", F.state, name);
        char *data = NULL;
        if (read_file(path, &data, ret_len, 1 << 20, NULL) < 0)
                data = NULL;
        free(path);
        return data;
}

static char *bundle_file(const char *name) {
        return bundle_file_len(name, NULL);
}

TEST(shim_binary_names) {
        _cleanup_free_ char *a = runtime_shim_binary_name("io.containerd.berth.v2", NULL);
        ASSERT_STREQ(a, "containerd-shim-berth-v2");
        _cleanup_free_ char *b = runtime_shim_binary_name("io.containerd.runc.v2", NULL);
        ASSERT_STREQ(b, "containerd-shim-runc-v2");
        _cleanup_free_ char *c = runtime_shim_binary_name("x.y", NULL);
        ASSERT_STREQ(c, "containerd-shim-x-y");
        _cleanup_berr_ berr *e = NULL;
        ASSERT_NULL(runtime_shim_binary_name("berth", &e));
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_NULL(runtime_shim_binary_name("io.containerd.", NULL));
}

TEST(shim_resolution_absolute_path_self_dir) {
        fake_setup();
        _cleanup_free_ char *abs = runtime_resolve_shim(F.shim, NULL, NULL);
        ASSERT_STREQ(abs, F.shim);
        _cleanup_berr_ berr *e = NULL;
        _cleanup_free_ char *missing_path = xasprintf("%s/nope", F.dir);
        ASSERT_NULL(runtime_resolve_shim(missing_path, NULL, &e));
        berr_freep(&e);
        /* Not in PATH: found beside the daemon binary. */
        _cleanup_free_ char *self = runtime_resolve_shim("io.containerd.fake.v1", F.dir, NULL);
        ASSERT_STREQ(self, F.shim);
        /* In PATH: PATH wins over the daemon's dir. */
        _cleanup_free_ char *old_path = xstrdup(getenv("PATH"));
        _cleanup_free_ char *new_path = xasprintf("%s:%s", F.dir, old_path);
        setenv("PATH", new_path, 1);
        _cleanup_free_ char *via_path = runtime_resolve_shim("io.containerd.fake.v1", "/nonexistent", NULL);
        setenv("PATH", old_path, 1);
        ASSERT_STREQ(via_path, F.shim);
        ASSERT_NULL(runtime_resolve_shim("io.containerd.nosuchshim.v9", "/nonexistent", &e));
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_STREQ(e->msg, "runtime \"io.containerd.nosuchshim.v9\" binary not installed "
                             "\"containerd-shim-nosuchshim-v9\": file does not exist");
        fake_teardown();
}

TEST(create_start_wait_kill_delete) {
        fake_setup();
        runtime *rt = new_runtime();
        rt_create_opts o = create_opts(F.shim);
        result cr = { 0 };
        ASSERT_OK(runtime_task_create(rt, &o, on_pid, &cr, NULL));
        /* Not visible before it is created; a second create is refused at once. */
        ASSERT_NULL(runtime_task_get(rt, "ns1", "t1"));
        _cleanup_berr_ berr *e = NULL;
        ASSERT_TRUE(runtime_task_create(rt, &o, on_pid, &cr, &e) < 0);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        ASSERT_STREQ(e->msg, "task t1: already exists");
        PUMP_UNTIL(cr.done);
        ASSERT_EQ(cr.code, BERR_OK);
        ASSERT_EQ(cr.pid, 4242);
        ASSERT_EQ(F.creates, 1);
        ASSERT_EQ(F.create_mounts, 0);
        _cleanup_free_ char *bundle = xasprintf("%s/tasks/ns1/t1", F.state);
        ASSERT_STREQ(F.create_bundle, bundle);

        /* The bundle: config.json is the spec, rootfs/ and the log FIFO exist, the shim path is recorded. */
        _cleanup_free_ char *config = bundle_file("config.json");
        ASSERT_STREQ(config, spec_json);
        _cleanup_free_ char *shim_path = bundle_file("shim-binary-path");
        ASSERT_STREQ(shim_path, F.shim);
        _cleanup_free_ char *env = bundle_file("start-env");
        _cleanup_free_ char *want_env = xasprintf("/run/test-runtime.sock.ttrpc 2 -namespace ns1 -address "
                                                  "/run/test-runtime.sock -publish-binary %s -id t1 start",
                                                  rt->self_path);
        ASSERT_STREQ(env, want_env);
        /* --oci-runtime given: the shim got Any{containerd.runc.v1.Options{binary_name}} on stdin. */
        size_t stdin_len = 0;
        _cleanup_free_ char *stdin_data = bundle_file_len("stdin.bin", &stdin_len);
        ASSERT_NOT_NULL(stdin_data);
        ASSERT_NOT_NULL(memmem(stdin_data, stdin_len, "containerd.runc.v1.Options", 26));
        ASSERT_NOT_NULL(memmem(stdin_data, stdin_len, "/bin/true", 9));
        struct stat st;
        _cleanup_free_ char *fifo = xasprintf("%s/log", bundle);
        ASSERT_OK(stat(fifo, &st));
        ASSERT_TRUE(S_ISFIFO(st.st_mode));

        rt_task *t = runtime_task_get(rt, "ns1", "t1");
        ASSERT_NOT_NULL(t);
        rt_task_info info;
        rt_task_info_get(t, &info);
        ASSERT_EQ(info.status, RT_STATUS_CREATED);
        ASSERT_EQ(info.pid, 4242);

        result st_r = { 0 }, wait_r = { 0 }, kill_r = { 0 }, del_r = { 0 };
        ASSERT_OK(rt_task_start(t, NULL, on_pid, &st_r, NULL));
        PUMP_UNTIL(st_r.done);
        rt_task_info_get(t, &info);
        ASSERT_EQ(info.status, RT_STATUS_RUNNING);
        ASSERT_OK(rt_task_wait(t, NULL, on_exit_cb, &wait_r, NULL));
        ASSERT_OK(ev_loop_run_once(F.loop, 50));
        ASSERT_FALSE(wait_r.done);
        ASSERT_OK(rt_task_kill(t, NULL, 9, false, on_done, &kill_r, NULL));
        PUMP_UNTIL(kill_r.done && wait_r.done);
        ASSERT_EQ(wait_r.code, BERR_OK);
        ASSERT_EQ(wait_r.exit.exit_status, 137);
        ASSERT_EQ(wait_r.exit.exited_at, INT64_C(1700000000) * 1000000000);
        rt_task_info_get(t, &info);
        ASSERT_TRUE(info.exited);
        ASSERT_EQ(info.status, RT_STATUS_STOPPED);

        ASSERT_OK(rt_task_delete(t, on_exit_cb, &del_r, NULL));
        PUMP_UNTIL(del_r.done);
        ASSERT_EQ(del_r.code, BERR_OK);
        ASSERT_EQ(del_r.exit.pid, 4242);
        ASSERT_EQ(del_r.exit.exit_status, 137);
        ASSERT_EQ(F.deletes, 1);
        ASSERT_EQ(F.shutdowns, 1);
        ASSERT_NULL(runtime_task_get(rt, "ns1", "t1"));
        ASSERT_TRUE(access(bundle, F_OK) < 0);
        /* After a clean Delete the binary's `delete` action has nothing left to clean: it is not run (the
         * dead-shim tests below check that it runs, with the bundle, when the shim went away). */
        _cleanup_free_ char *deletes_path = xasprintf("%s/deletes", F.dir);
        ASSERT_TRUE(access(deletes_path, F_OK) < 0);
        runtime_free(rt);
        fake_teardown();
}

TEST(failed_start_cleans_up) {
        fake_setup();
        runtime *rt = new_runtime();
        rt_create_opts o = create_opts(F.bad_shim);
        result cr = { 0 };
        ASSERT_OK(runtime_task_create(rt, &o, on_pid, &cr, NULL));
        PUMP_UNTIL(cr.done);
        ASSERT_EQ(cr.code, BERR_UNKNOWN);
        ASSERT_STREQ(cr.msg, "failed to start shim: start failed: io.containerd.bad.v1: boom: exit status 1");
        _cleanup_free_ char *bundle = xasprintf("%s/tasks/ns1/t1", F.state);
        PUMP_UNTIL(access(bundle, F_OK) < 0);
        rt_task **v = NULL;
        ASSERT_EQ(runtime_task_list(rt, NULL, &v), 0);
        free(v);
        /* The id is free again. */
        ASSERT_NULL(rt_task_find_any(rt, "ns1", "t1"));

        _cleanup_berr_ berr *e = NULL;
        rt_create_opts missing = create_opts("io.containerd.nosuchshim.v9");
        ASSERT_TRUE(runtime_task_create(rt, &missing, on_pid, &cr, &e) < 0);
        ASSERT_NOT_NULL(strstr(e->msg, "failed to start shim: failed to resolve runtime path: runtime"));
        ASSERT_TRUE(access(bundle, F_OK) < 0);
        runtime_free(rt);
        fake_teardown();
}

TEST(dead_shim_and_restore) {
        fake_setup();
        runtime *rt = new_runtime();
        rt_create_opts o = create_opts(F.shim);
        result cr = { 0 };
        ASSERT_OK(runtime_task_create(rt, &o, on_pid, &cr, NULL));
        PUMP_UNTIL(cr.done);
        ASSERT_EQ(cr.code, BERR_OK);

        /* berthd goes away: the shim stays; a new manager reconnects and registers the task again. */
        runtime_free(rt);
        rt = new_runtime();
        unsigned connects = F.connects;
        ASSERT_OK(runtime_restore(rt, NULL));
        ASSERT_EQ(F.connects, connects + 1);
        rt_task *t = runtime_task_get(rt, "ns1", "t1");
        ASSERT_NOT_NULL(t);
        rt_task_info info;
        rt_task_info_get(t, &info);
        ASSERT_EQ(info.pid, 4242);
        ASSERT_EQ(info.status, RT_STATUS_RUNNING);

        /* The shim dies (its server goes away): cleanup runs the `delete` action (with the bundle) and drops the
         * task. */
        F.srv = ttrpc_server_free(F.srv);
        _cleanup_free_ char *bundle = xasprintf("%s/tasks/ns1/t1", F.state);
        PUMP_UNTIL(!runtime_task_get(rt, "ns1", "t1") && access(bundle, F_OK) < 0);
        _cleanup_free_ char *deletes_path = xasprintf("%s/deletes", F.dir);
        _cleanup_free_ char *deletes = NULL;
        ASSERT_OK(read_file(deletes_path, &deletes, NULL, 4096, NULL));
        ASSERT_NOT_NULL(strstr(deletes, "-bundle"));
        ASSERT_NOT_NULL(strstr(deletes, " delete"));
        runtime_free(rt);

        /* Restore with nothing listening: the bundle is cleaned up, nothing registered. */
        fake_listen();
        rt = new_runtime();
        result cr2 = { 0 };
        ASSERT_OK(runtime_task_create(rt, &o, on_pid, &cr2, NULL));
        PUMP_UNTIL(cr2.done);
        runtime_free(rt);
        F.srv = ttrpc_server_free(F.srv);
        unlink(F.sock);
        rt = new_runtime();
        ASSERT_OK(runtime_restore(rt, NULL));
        ASSERT_NULL(runtime_task_get(rt, "ns1", "t1"));
        ASSERT_TRUE(access(bundle, F_OK) < 0);
        runtime_free(rt);
        fake_teardown();
}
