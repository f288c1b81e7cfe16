/* The container side of libberth and the CLI's container output.
 * - Formatting (src/cli/container-format.c compiled in): docker's ps STATUS/COMMAND texts, inspect's shape, ps json,
 *   Go time formats, stats sizes, and ctr-like event JSON (berth_event_json).
 * - The client against an in-process fake berth.v1.Containers (a gRPC server on its own loop thread): detached and
 *   attached Run (stdin echoed back, exit code, a start failure with 127), List order, Inspect and NOT_FOUND,
 *   Stop/Kill/Delete/Pause requests, Logs, Wait, Top, Stats, events Subscribe, berth_container_io. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/event.h"
#include "berth/berth.h"
#include "berth/v1/containers.pb-c.h"
#include "cli/container-format.c"
#include "cli/format.c"
#include "containerd/events/task.pb-c.h"
#include "containerd/services/events/v1/events.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"
#include "tap.h"

#define SEC 1000000000LL
#define T0 (1700000000LL * SEC)

static berth_container_info info_base(void) {
        static const char *const cmd[] = { "sh", "-c", "while :; do echo tick; sleep 0.2; done", NULL };
        return (berth_container_info) {
                .id = "web", .name = "web", .image = "docker.io/library/busybox:latest", .command = cmd,
                .created_at = T0, .status = "created", .restart_policy = "no", .workdir = "", .user = "",
                .hostname = "web", .runtime = "io.containerd.berth.v2", .snapshotter = "overlayfs",
                .snapshot_key = "web", .log_dir = "/r/containers/default/web", .error = "",
        };
}

TEST(status_texts_like_docker) {
        berth_container_info i = info_base();
        _cleanup_free_ char *created = format_container_status(&i, T0 + 5 * SEC);
        ASSERT_STREQ(created, "Created");

        i.status = "running";
        i.running = true;
        i.started_at = T0 + SEC;
        _cleanup_free_ char *up = format_container_status(&i, T0 + 4 * SEC);
        ASSERT_STREQ(up, "Up 3 seconds");
        _cleanup_free_ char *up0 = format_container_status(&i, T0 + SEC + SEC / 2);
        ASSERT_STREQ(up0, "Up Less than a second");

        i.paused = true;
        i.status = "paused";
        _cleanup_free_ char *paused = format_container_status(&i, T0 + 4 * SEC);
        ASSERT_STREQ(paused, "Up 3 seconds (Paused)");

        i.paused = i.running = false;
        i.status = "exited";
        i.exit_code = 7;
        i.finished_at = T0 + 10 * SEC;
        _cleanup_free_ char *exited = format_container_status(&i, T0 + 12 * SEC);
        ASSERT_STREQ(exited, "Exited (7) 2 seconds ago");
        i.exit_code = 137;
        _cleanup_free_ char *killed = format_container_status(&i, T0 + 10 * SEC + 100);
        ASSERT_STREQ(killed, "Exited (137) Less than a second ago");

        i.restarting = true;
        i.exit_code = 1;
        i.status = "restarting";
        _cleanup_free_ char *restarting = format_container_status(&i, T0 + 11 * SEC);
        ASSERT_STREQ(restarting, "Restarting (1) 1 second ago");

        _cleanup_free_ char *ago = format_ago(T0, T0 + 5 * SEC);
        ASSERT_STREQ(ago, "5 seconds ago");
        _cleanup_free_ char *hour = format_ago(T0, T0 + 3600 * SEC);
        ASSERT_STREQ(hour, "About an hour ago");
}

TEST(command_quoted_and_cut) {
        static const char *const long_cmd[] = { "sh", "-c", "while :; do echo tick; sleep 0.2; done", NULL };
        _cleanup_free_ char *cut = format_container_command(long_cmd, true);
        ASSERT_STREQ(cut, "\"sh -c while :; do e…\"");
        _cleanup_free_ char *full = format_container_command(long_cmd, false);
        ASSERT_STREQ(full, "\"sh -c while :; do echo tick; sleep 0.2; done\"");
        static const char *const quotes[] = { "sh", "-c", "trap \"\" TERM", NULL };
        _cleanup_free_ char *q = format_container_command(quotes, true);
        ASSERT_STREQ(q, "\"sh -c trap \\\"\\\" TERM\"");
        static const char *const exact[] = { "12345678901234567890", NULL };
        _cleanup_free_ char *e20 = format_container_command(exact, true);
        ASSERT_STREQ(e20, "\"12345678901234567890\"");
        _cleanup_free_ char *none = format_container_command(NULL, true);
        ASSERT_STREQ(none, "\"\"");
}

TEST(images_times_sizes) {
        _cleanup_free_ char *a = format_familiar_image("docker.io/library/busybox:latest");
        ASSERT_STREQ(a, "busybox");
        _cleanup_free_ char *b = format_familiar_image("docker.io/berth/busybox:1.36");
        ASSERT_STREQ(b, "berth/busybox:1.36");
        _cleanup_free_ char *c = format_familiar_image("127.0.0.1:5000/x:v1");
        ASSERT_STREQ(c, "127.0.0.1:5000/x:v1");

        _cleanup_free_ char *zero = format_rfc3339(0);
        ASSERT_STREQ(zero, "0001-01-01T00:00:00Z");
        _cleanup_free_ char *t = format_rfc3339(T0 + 120000000);
        ASSERT_STREQ(t, "2023-11-14T22:13:20.12Z");
        _cleanup_free_ char *whole = format_rfc3339(T0);
        ASSERT_STREQ(whole, "2023-11-14T22:13:20Z");
        setenv("TZ", "UTC", 1);
        tzset();
        _cleanup_free_ char *go = format_go_time(1000000000LL * SEC + 123);
        ASSERT_STREQ(go, "2001-09-09 01:46:40.000000123 +0000 UTC");

        char buf[32];
        ASSERT_STREQ(format_bytes_docker(0, buf), "0B");
        ASSERT_STREQ(format_bytes_docker(760 * 1024, buf), "760KiB");
        ASSERT_STREQ(format_bytes_docker(1597000, buf), "1.523MiB");
        ASSERT_STREQ(format_bytes_docker(8232000000ULL, buf), "7.667GiB");

        berth_stats s1 = { .cpu_usage_ns = 1000, .system_cpu_ns = 100000, .online_cpus = 2 };
        berth_stats s2 = { .cpu_usage_ns = 6000, .system_cpu_ns = 200000, .online_cpus = 2 };
        double pct = berth_stats_cpu_percent(&s1, &s2);
        ASSERT_TRUE(pct > 9.99 && pct < 10.01);
        ASSERT_TRUE(berth_stats_cpu_percent(&s2, &s1) == 0.0);

        static const char *const labels[] = { "a=1", "b=2", NULL };
        _cleanup_free_ char *csv = format_labels_csv(labels);
        ASSERT_STREQ(csv, "a=1,b=2");
}

static const char *jstr(json_t *o, const char *path) {
        _cleanup_free_ char *p = xstrdup(path);
        json_t *v = o;
        for (char *tok = strtok(p, "."); tok && v; tok = strtok(NULL, "."))
                v = json_object_get(v, tok);
        return json_string_value(v);
}

static json_int_t jint(json_t *o, const char *path) {
        _cleanup_free_ char *p = xstrdup(path);
        json_t *v = o;
        for (char *tok = strtok(p, "."); tok && v; tok = strtok(NULL, "."))
                v = json_object_get(v, tok);
        ASSERT_TRUE(json_is_integer(v));
        return json_integer_value(v);
}

TEST(inspect_json_shape) {
        berth_container_info i = info_base();
        static const char *const labels[] = { "app=web", "tier=front", NULL };
        static const char *const env[] = { "PATH=/bin", "A=1", NULL };
        static const char *const mounts[] = { "/srv:/data:ro", NULL };
        i.labels = labels;
        i.env = env;
        i.mounts = mounts;
        i.status = "running";
        i.running = true;
        i.pid = 4242;
        i.started_at = T0 + SEC;
        i.restart_policy = "on-failure:3";
        i.restart_count = 2;
        i.memory = 64 << 20;
        i.nano_cpus = 1500000000;
        i.tty = true;
        json_t *o = container_inspect_json(&i);
        ASSERT_STREQ(jstr(o, "Id"), "web");
        ASSERT_STREQ(jstr(o, "Name"), "/web");
        ASSERT_STREQ(jstr(o, "Path"), "sh");
        ASSERT_EQ(json_array_size(json_object_get(o, "Args")), 2);
        ASSERT_STREQ(jstr(o, "Created"), "2023-11-14T22:13:20Z");
        ASSERT_STREQ(jstr(o, "State.Status"), "running");
        ASSERT_TRUE(json_is_true(json_object_get(json_object_get(o, "State"), "Running")));
        ASSERT_TRUE(json_is_false(json_object_get(json_object_get(o, "State"), "Paused")));
        ASSERT_EQ(jint(o, "State.Pid"), 4242);
        ASSERT_EQ(jint(o, "State.ExitCode"), 0);
        ASSERT_STREQ(jstr(o, "State.StartedAt"), "2023-11-14T22:13:21Z");
        ASSERT_STREQ(jstr(o, "State.FinishedAt"), "0001-01-01T00:00:00Z");
        ASSERT_STREQ(jstr(o, "Config.Image"), "docker.io/library/busybox:latest");
        ASSERT_STREQ(jstr(o, "Config.Labels.tier"), "front");
        ASSERT_EQ(json_array_size(json_object_get(json_object_get(o, "Config"), "Env")), 2);
        ASSERT_TRUE(json_is_true(json_object_get(json_object_get(o, "Config"), "Tty")));
        ASSERT_STREQ(jstr(o, "HostConfig.RestartPolicy.Name"), "on-failure");
        ASSERT_EQ(jint(o, "HostConfig.RestartPolicy.MaximumRetryCount"), 3);
        ASSERT_EQ(jint(o, "HostConfig.Memory"), 64 << 20);
        ASSERT_EQ(jint(o, "HostConfig.NanoCpus"), 1500000000);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(json_object_get(o, "HostConfig"), "Binds"),
                                                      0)),
                     "/srv:/data:ro");
        ASSERT_EQ(jint(o, "RestartCount"), 2);
        ASSERT_STREQ(jstr(o, "LogPath"), "/r/containers/default/web/web-json.log");
        json_decref(o);

        o = container_ps_json(&i, T0 + 5 * SEC);
        ASSERT_STREQ(jstr(o, "ID"), "web");
        ASSERT_STREQ(jstr(o, "Image"), "busybox");
        ASSERT_STREQ(jstr(o, "Names"), "web");
        ASSERT_STREQ(jstr(o, "State"), "running");
        ASSERT_STREQ(jstr(o, "Status"), "Up 4 seconds");
        ASSERT_STREQ(jstr(o, "RunningFor"), "5 seconds ago");
        ASSERT_STREQ(jstr(o, "Labels"), "app=web,tier=front");
        ASSERT_STREQ(jstr(o, "Command"), "\"sh -c while :; do e…\"");
        json_decref(o);
}

TEST(event_json_like_ctr) {
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1700000000;
        ts.nanos = 500000000;
        Containerd__Events__TaskExit x = CONTAINERD__EVENTS__TASK_EXIT__INIT;
        x.container_id = (char *) "web";
        x.id = (char *) "web";
        x.pid = 42;
        x.exit_status = 137;
        x.exited_at = &ts;
        uint8_t buf[256];
        size_t len = containerd__events__task_exit__pack(&x, buf);
        berth_event ev = { .type_url = "containerd.events.TaskExit", .value = buf, .len = len };
        _cleanup_free_ char *j = berth_event_json(&ev);
        ASSERT_STREQ(j, "{\"container_id\":\"web\",\"id\":\"web\",\"pid\":42,\"exit_status\":137,"
                        "\"exited_at\":\"2023-11-14T22:13:20.5Z\"}");
        /* zero values are left out (Go's omitempty), the time is not */
        x.exit_status = 0;
        x.exited_at = NULL;
        len = containerd__events__task_exit__pack(&x, buf);
        ev.len = len;
        _cleanup_free_ char *j0 = berth_event_json(&ev);
        ASSERT_STREQ(j0, "{\"container_id\":\"web\",\"id\":\"web\",\"pid\":42,\"exited_at\":\"0001-01-01T00:00:00Z\"}");
        ev.type_url = "types.googleapis.com/containerd.events.TaskExit";
        _cleanup_free_ char *j1 = berth_event_json(&ev);
        ASSERT_STREQ(j1, j0);
        ev.type_url = "example.Unknown";
        _cleanup_free_ char *unknown = berth_event_json(&ev);
        ASSERT_STREQ(unknown, "{}");
}

/* ---- the fake daemon ---- */

static struct {
        char run_image[128], run_name[64], run_restart[32], run_label[64], run_arg0[32];
        bool run_detach, run_stdin, run_tty, run_auto_remove;
        size_t run_n_env, run_n_mounts;
        uint32_t resize_w, resize_h;
        char stop_id[32];
        int32_t stop_timeout;
        char kill_signal[16];
        char delete_id[32];
        bool delete_force;
        char paused[32], unpaused[32];
        bool logs_follow, logs_tail_set;
        int64_t logs_tail;
        size_t sub_filters;
        struct {
                bool tty;
                uint32_t width, height;
        } console[8]; /* what each Run and Exec carried, in order */
        size_t n_console;
} seen;

static void seen_console(bool tty, uint32_t width, uint32_t height) {
        if (seen.n_console < ELEMENTSOF(seen.console)) {
                seen.console[seen.n_console].tty = tty;
                seen.console[seen.n_console].width = width;
                seen.console[seen.n_console].height = height;
        }
        seen.n_console++;
}

typedef struct run_state {
        bool started, exited, detach;
} run_state;

static void ts_set(Google__Protobuf__Timestamp *ts, int64_t s) {
        *ts = (Google__Protobuf__Timestamp) GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts->seconds = s;
}

static void send_exit(grpc_call *call, int32_t code, const char *error) {
        Google__Protobuf__Timestamp ts;
        ts_set(&ts, 1700000100);
        Berth__V1__ProcessExit x = BERTH__V1__PROCESS_EXIT__INIT;
        x.code = code;
        x.exited_at = &ts;
        if (error)
                x.error = (char *) error;
        Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
        ev.exit = &x;
        grpc_call_send(call, &ev.base);
}

static void h_run_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__RunRequest *req = berth__v1__run_request__unpack(NULL, len, msg);
        run_state *st = grpc_call_get_state(call);
        if (req && req->options) {
                const Berth__V1__RunOptions *o = req->options;
                snprintf(seen.run_image, sizeof seen.run_image, "%s", o->image);
                snprintf(seen.run_name, sizeof seen.run_name, "%s", o->name);
                snprintf(seen.run_restart, sizeof seen.run_restart, "%s", o->restart);
                snprintf(seen.run_arg0, sizeof seen.run_arg0, "%s", o->n_args ? o->args[0] : "");
                if (o->n_labels)
                        snprintf(seen.run_label, sizeof seen.run_label, "%s=%s", o->labels[0]->key,
                                 o->labels[0]->value);
                seen.run_detach = o->detach;
                seen.run_stdin = o->stdin;
                seen.run_tty = o->tty;
                seen.run_auto_remove = o->auto_remove;
                seen.run_n_env = o->n_env;
                seen.run_n_mounts = o->n_mounts;
                seen_console(o->tty, o->console_width, o->console_height);
                if (strcmp(o->image, "docker.io/library/missing:latest") == 0) {
                        grpc_call_finish(call, BERR_NOT_FOUND, "image \"%s\" is not present", o->image);
                        berth__v1__run_request__free_unpacked(req, NULL);
                        return;
                }
                if (strcmp(seen.run_arg0, "nosuch") == 0) {
                        send_exit(call, 127, "executable file `nosuch` not found in $PATH");
                        grpc_call_finish(call, BERR_UNKNOWN, "executable file `nosuch` not found in $PATH");
                        berth__v1__run_request__free_unpacked(req, NULL);
                        return;
                }
                st = xcalloc(1, sizeof *st);
                st->detach = o->detach;
                grpc_call_set_state(call, st);
                Berth__V1__ProcessStarted started = BERTH__V1__PROCESS_STARTED__INIT;
                started.id = (char *) (o->name && *o->name ? o->name : "0123456789ab");
                started.pid = 42;
                Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                ev.started = &started;
                grpc_call_send(call, &ev.base);
                if (o->detach) {
                        free(st);
                        grpc_call_set_state(call, NULL);
                        grpc_call_finish(call, BERR_OK, NULL);
                } else if (!o->stdin) {
                        /* a process with output on both streams and exit 3 */
                        Berth__V1__RunEvent out = BERTH__V1__RUN_EVENT__INIT;
                        out.stdout.data = (uint8_t *) "hello\n";
                        out.stdout.len = 6;
                        out.stderr.data = (uint8_t *) "oops\n";
                        out.stderr.len = 5;
                        grpc_call_send(call, &out.base);
                }
        } else if (req && req->input && st) {
                const Berth__V1__ProcessInput *in = req->input;
                if (in->width)
                        seen.resize_w = in->width, seen.resize_h = in->height;
                if (in->data.len) {
                        /* echo stdin back upper-cased on stdout */
                        _cleanup_free_ uint8_t *up = xmalloc(in->data.len);
                        for (size_t i = 0; i < in->data.len; i++)
                                up[i] = (uint8_t) (in->data.data[i] >= 'a' && in->data.data[i] <= 'z'
                                                           ? in->data.data[i] - 32
                                                           : in->data.data[i]);
                        Berth__V1__RunEvent out = BERTH__V1__RUN_EVENT__INIT;
                        out.stdout.data = up;
                        out.stdout.len = in->data.len;
                        grpc_call_send(call, &out.base);
                }
        }
        berth__v1__run_request__free_unpacked(req, NULL);
}

static void h_run_half_close(grpc_call *call, void *userdata) {
        run_state *st = grpc_call_get_state(call);
        if (!st)
                return;
        send_exit(call, 3, NULL);
        free(st);
        grpc_call_set_state(call, NULL);
        grpc_call_finish(call, BERR_OK, NULL);
}

static void h_run_cancel(grpc_call *call, void *userdata) {
        free(grpc_call_get_state(call));
        grpc_call_set_state(call, NULL);
}

/* Exec: records the options, then started and exit 0. */
static void h_exec_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__ExecRequest *req = berth__v1__exec_request__unpack(NULL, len, msg);
        if (req && req->options) {
                const Berth__V1__ExecOptions *o = req->options;
                seen_console(o->tty, o->console_width, o->console_height);
                Berth__V1__ProcessStarted started = BERTH__V1__PROCESS_STARTED__INIT;
                started.id = (char *) "exec-1";
                started.pid = 43;
                Berth__V1__RunEvent ev = BERTH__V1__RUN_EVENT__INIT;
                ev.started = &started;
                grpc_call_send(call, &ev.base);
                send_exit(call, 0, NULL);
                grpc_call_finish(call, BERR_OK, NULL);
        }
        berth__v1__exec_request__free_unpacked(req, NULL);
}

static void fill_info(Berth__V1__ContainerInfo *in, const char *id, int64_t created, bool running,
                      Google__Protobuf__Timestamp *ts) {
        static char *cmd[] = { (char *) "sleep", (char *) "100" };
        static Berth__V1__ContainerInfo__LabelsEntry l = BERTH__V1__CONTAINER_INFO__LABELS_ENTRY__INIT;
        static Berth__V1__ContainerInfo__LabelsEntry *lp[] = { &l };
        l.key = (char *) "app";
        l.value = (char *) "web";
        *in = (Berth__V1__ContainerInfo) BERTH__V1__CONTAINER_INFO__INIT;
        ts_set(ts, created);
        in->id = (char *) id;
        in->name = (char *) id;
        in->image = (char *) "docker.io/library/busybox:latest";
        in->command = cmd;
        in->n_command = 2;
        in->created_at = ts;
        in->status = (char *) (running ? "running" : "exited");
        in->running = running;
        in->pid = running ? 42 : 0;
        in->exit_code = running ? 0 : 7;
        in->labels = lp;
        in->n_labels = 1;
        in->restart_policy = (char *) "always";
}

static void h_inspect(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__InspectRequest *req = berth__v1__inspect_request__unpack(NULL, len, msg);
        if (strcmp(req->id, "web") != 0 && strcmp(req->id, "0123456789ab") != 0)
                grpc_call_finish(call, BERR_NOT_FOUND, "container \"%s\" in namespace \"testns\": not found",
                                 req->id);
        else {
                Berth__V1__ContainerInfo in;
                Google__Protobuf__Timestamp ts;
                fill_info(&in, req->id, 1700000000, true, &ts);
                grpc_call_reply(call, &in.base);
        }
        berth__v1__inspect_request__free_unpacked(req, NULL);
}

static void h_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__ContainerInfo a, b;
        Google__Protobuf__Timestamp ta, tb;
        fill_info(&a, "old", 1700000000, false, &ta);
        fill_info(&b, "new", 1700000500, true, &tb);
        Berth__V1__ContainerInfo *v[] = { &a, &b };
        Berth__V1__ListResponse r = BERTH__V1__LIST_RESPONSE__INIT;
        r.containers = v;
        r.n_containers = 2;
        grpc_call_reply(call, &r.base);
}

static void reply_empty(grpc_call *call) {
        Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &e.base);
}

static void h_stop(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__StopRequest *req = berth__v1__stop_request__unpack(NULL, len, msg);
        snprintf(seen.stop_id, sizeof seen.stop_id, "%s", req->id);
        seen.stop_timeout = req->timeout;
        berth__v1__stop_request__free_unpacked(req, NULL);
        reply_empty(call);
}

static void h_kill(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__KillRequest *req = berth__v1__kill_request__unpack(NULL, len, msg);
        snprintf(seen.kill_signal, sizeof seen.kill_signal, "%s", req->signal);
        berth__v1__kill_request__free_unpacked(req, NULL);
        reply_empty(call);
}

static void h_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__DeleteRequest *req = berth__v1__delete_request__unpack(NULL, len, msg);
        snprintf(seen.delete_id, sizeof seen.delete_id, "%s", req->id);
        seen.delete_force = req->force;
        if (strcmp(req->id, "gone") == 0)
                grpc_call_finish(call, BERR_NOT_FOUND, "container \"gone\": not found");
        else
                reply_empty(call);
        berth__v1__delete_request__free_unpacked(req, NULL);
}

static void h_pause(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__PauseRequest *req = berth__v1__pause_request__unpack(NULL, len, msg);
        bool un = strstr(grpc_call_path(call), "Unpause") != NULL;
        snprintf(un ? seen.unpaused : seen.paused, sizeof seen.paused, "%s", req->id);
        berth__v1__pause_request__free_unpacked(req, NULL);
        reply_empty(call);
}

static void h_wait(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Google__Protobuf__Timestamp ts;
        ts_set(&ts, 1700000100);
        Berth__V1__WaitResponse r = BERTH__V1__WAIT_RESPONSE__INIT;
        r.exit_code = 7;
        r.exited_at = &ts;
        grpc_call_reply(call, &r.base);
}

static void h_logs(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__LogsRequest *req = berth__v1__logs_request__unpack(NULL, len, msg);
        seen.logs_follow = req->follow;
        seen.logs_tail_set = req->tail_set;
        seen.logs_tail = req->tail;
        berth__v1__logs_request__free_unpacked(req, NULL);
        static const char *const lines[][2] = { { "stdout", "one\n" }, { "stderr", "two\n" }, { "stdout", "3" } };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                Google__Protobuf__Timestamp ts;
                ts_set(&ts, 1700000000 + (int64_t) i);
                Berth__V1__LogEntry e = BERTH__V1__LOG_ENTRY__INIT;
                e.stream = (char *) lines[i][0];
                e.time = &ts;
                e.data.data = (uint8_t *) lines[i][1];
                e.data.len = strlen(lines[i][1]);
                e.partial = i == 2;
                grpc_call_send(call, &e.base);
        }
        grpc_call_finish(call, BERR_OK, NULL);
}

static void h_top(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__ProcessInfo p = BERTH__V1__PROCESS_INFO__INIT;
        p.pid = 42;
        p.ppid = 1;
        p.state = (char *) "S";
        p.command = (char *) "sleep 100";
        p.cpu_ns = 5;
        Berth__V1__ProcessInfo *v[] = { &p };
        Berth__V1__TopResponse r = BERTH__V1__TOP_RESPONSE__INIT;
        r.processes = v;
        r.n_processes = 1;
        grpc_call_reply(call, &r.base);
}

static void h_stats(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__StatsResponse r = BERTH__V1__STATS_RESPONSE__INIT;
        r.memory_usage = 1 << 20;
        r.memory_limit = 1 << 30;
        r.pids_current = 2;
        r.online_cpus = 2;
        grpc_call_reply(call, &r.base);
}

static void h_subscribe(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Containerd__Services__Events__V1__SubscribeRequest *req =
                containerd__services__events__v1__subscribe_request__unpack(NULL, len, msg);
        seen.sub_filters = req->n_filters;
        containerd__services__events__v1__subscribe_request__free_unpacked(req, NULL);
        Containerd__Events__TaskStart start = CONTAINERD__EVENTS__TASK_START__INIT;
        start.container_id = (char *) "web";
        start.pid = 42;
        uint8_t buf[64];
        size_t n = containerd__events__task_start__pack(&start, buf);
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = (char *) "containerd.events.TaskStart";
        any.value.data = buf;
        any.value.len = n;
        Google__Protobuf__Timestamp ts;
        ts_set(&ts, 1700000000);
        Containerd__Services__Events__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = (char *) "testns";
        env.topic = (char *) "/tasks/start";
        env.event = &any;
        grpc_call_send(call, &env.base);
        grpc_call_send(call, &env.base);
        grpc_call_finish(call, BERR_OK, NULL);
}

/* Attach: some output, then the exit. */
static void h_attach(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        Berth__V1__AttachRequest *req = berth__v1__attach_request__unpack(NULL, len, msg);
        bool first = req && req->id && *req->id;
        berth__v1__attach_request__free_unpacked(req, NULL);
        if (!first)
                return;
        Berth__V1__RunEvent out = BERTH__V1__RUN_EVENT__INIT;
        out.stdout.data = (uint8_t *) "live\n";
        out.stdout.len = 5;
        out.stderr.data = (uint8_t *) "warn\n";
        out.stderr.len = 5;
        grpc_call_send(call, &out.base);
        send_exit(call, 0, NULL);
        grpc_call_finish(call, BERR_OK, NULL);
}

static const grpc_method methods[] = {
        { "/berth.v1.Containers/Run", GRPC_BIDI_STREAMING, h_run_message, h_run_half_close, h_run_cancel },
        { "/berth.v1.Containers/Exec", GRPC_BIDI_STREAMING, h_exec_message, NULL, NULL },
        { "/berth.v1.Containers/Inspect", GRPC_UNARY, h_inspect, NULL, NULL },
        { "/berth.v1.Containers/List", GRPC_UNARY, h_list, NULL, NULL },
        { "/berth.v1.Containers/Stop", GRPC_UNARY, h_stop, NULL, NULL },
        { "/berth.v1.Containers/Kill", GRPC_UNARY, h_kill, NULL, NULL },
        { "/berth.v1.Containers/Delete", GRPC_UNARY, h_delete, NULL, NULL },
        { "/berth.v1.Containers/Pause", GRPC_UNARY, h_pause, NULL, NULL },
        { "/berth.v1.Containers/Unpause", GRPC_UNARY, h_pause, NULL, NULL },
        { "/berth.v1.Containers/Wait", GRPC_UNARY, h_wait, NULL, NULL },
        { "/berth.v1.Containers/Logs", GRPC_SERVER_STREAMING, h_logs, NULL, NULL },
        { "/berth.v1.Containers/Top", GRPC_UNARY, h_top, NULL, NULL },
        { "/berth.v1.Containers/Stats", GRPC_UNARY, h_stats, NULL, NULL },
        { "/berth.v1.Containers/Attach", GRPC_BIDI_STREAMING, h_attach, NULL, NULL },
        { "/containerd.services.events.v1.Events/Subscribe", GRPC_SERVER_STREAMING, h_subscribe, NULL, NULL },
};

typedef struct fixture {
        char dir[64], sock[128];
        ev_loop *loop;
        grpc_server *srv;
        ev_source *stop_io;
        int stop[2];
        pthread_t thread;
        berth_client *c;
} fixture;

static int on_stop(ev_source *s, int fd, uint32_t revents, void *userdata) {
        ev_loop_exit(ev_source_get_loop(s), 0);
        return 0;
}

static void *server_thread(void *p) {
        fixture *f = p;
        (void) ev_loop_run(f->loop);
        return NULL;
}

static void fixture_start(fixture *f) {
        memset(f, 0, sizeof *f);
        memset(&seen, 0, sizeof seen);
        berr *e = NULL;
        strcpy(f->dir, "/tmp/berth-client-ct-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(f->dir));
        snprintf(f->sock, sizeof f->sock, "%s/berthd.sock", f->dir);
        ASSERT_OK(ev_loop_new(&f->loop));
        ASSERT_OK(grpc_server_new(f->loop, &f->srv, &e));
        ASSERT_OK(grpc_server_register(f->srv, methods, ELEMENTSOF(methods), NULL, &e));
        ASSERT_OK(grpc_server_listen_unix(f->srv, f->sock, &e));
        ASSERT_OK(pipe2(f->stop, O_CLOEXEC | O_NONBLOCK));
        ASSERT_OK(ev_add_io(f->loop, &f->stop_io, f->stop[0], EPOLLIN, on_stop, NULL));
        ASSERT_EQ(pthread_create(&f->thread, NULL, server_thread, f), 0);
        if (berth_client_connect(f->sock, "testns", &f->c, &e) < 0)
                TAP_FAIL("connect: %s", berth_error_message(e));
}

static void fixture_stop(fixture *f) {
        f->c = berth_client_free(f->c);
        (void) !write(f->stop[1], "x", 1);
        pthread_join(f->thread, NULL);
        f->srv = grpc_server_free(f->srv);
        ev_source_free(f->stop_io);
        safe_close(f->stop[0]);
        safe_close(f->stop[1]);
        ev_loop_free(f->loop);
        (void) unlink(f->sock);
        (void) rmdir(f->dir);
}

TEST(run_detached_and_inspect) {
        fixture f;
        fixture_start(&f);
        static const char *const labels[] = { "app=web", NULL };
        static const char *const env[] = { "A=1", "B", NULL };
        berth_run_opts o = { .name = "web", .labels = labels, .env = env, .restart = "always", .stdin_open = true };
        berth_container *ct = NULL;
        berr *e = NULL;
        ASSERT_OK(berth_run(f.c, "busybox", &o, &ct, &e));
        ASSERT_STREQ(berth_container_id(ct), "web");
        const berth_container_info *i = berth_container_get_info(ct);
        ASSERT_EQ(i->pid, 42);
        ASSERT_TRUE(i->running);
        ASSERT_STREQ(i->command[0], "sleep");
        ASSERT_TRUE(i->command[2] == NULL);
        ASSERT_STREQ(berth_container_labels(ct)[0], "app=web");
        ASSERT_EQ(i->created_at, 1700000000LL * SEC);
        berth_container_free(ct);

        berth_container *missing = NULL;
        ASSERT_EQ(berth_container_get(f.c, "nope", &missing, &e), -1);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        ASSERT_STREQ(berth_error_message(e), "container \"nope\" in namespace \"testns\": not found");
        berth_error_free(e);
        e = NULL;

        ASSERT_EQ(berth_run(f.c, "missing", NULL, NULL, &e), -1);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        ASSERT_EQ(berth_run_exit_code(e), 125);
        berth_error_free(e);
        fixture_stop(&f);
        ASSERT_STREQ(seen.run_image, "docker.io/library/missing:latest");
        ASSERT_STREQ(seen.run_name, "");
        ASSERT_TRUE(seen.run_detach);
        ASSERT_TRUE(!seen.run_stdin); /* detached: stdin is never streamed */
}

TEST(run_attached_streams_and_exit_code) {
        fixture f;
        fixture_start(&f);
        static const char *const args[] = { "cat", NULL };
        berth_run_opts o = { .args = args, .stdin_open = true, .tty = true, .auto_remove = true };
        berth_process *p = NULL;
        berr *e = NULL;
        ASSERT_OK(berth_run_attach(f.c, "docker.io/berth/busybox:1.36", &o, &p, &e));
        berth_process_event ev;
        ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 1);
        ASSERT_EQ(ev.kind, BERTH_PROCESS_STARTED);
        ASSERT_STREQ(ev.id, "0123456789ab");
        ASSERT_EQ(ev.pid, 42);
        /* nothing more until we send something */
        ASSERT_EQ(berth_process_next(p, 50, &ev, &e), 0);
        short events;
        ASSERT_TRUE(berth_process_pollfd(p, &events) >= 0);
        ASSERT_TRUE(events & POLLIN);
        ASSERT_OK(berth_process_resize(p, 120, 40, &e));
        ASSERT_OK(berth_process_write_stdin(p, "hello", 5, &e));
        ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 1);
        ASSERT_EQ(ev.kind, BERTH_PROCESS_STDOUT);
        ASSERT_EQ(ev.len, 5);
        ASSERT_TRUE(memcmp(ev.data, "HELLO", 5) == 0);
        ASSERT_OK(berth_process_close_stdin(p, &e));
        ASSERT_EQ(berth_process_write_stdin(p, "x", 1, &e), -1);
        berth_error_free(e);
        e = NULL;
        ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 1);
        ASSERT_EQ(ev.kind, BERTH_PROCESS_EXIT);
        ASSERT_EQ(ev.exit_code, 3);
        ASSERT_EQ(ev.exited_at, 1700000100LL * SEC);
        ASSERT_STREQ(ev.error, "");
        ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 2);
        ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 2);
        berth_process_free(p);

        /* without stdin: output on both streams in one message, handed out one by one */
        berth_run_opts o2 = { .name = "web" };
        ASSERT_OK(berth_run_attach(f.c, "busybox", &o2, &p, &e));
        int kinds = 0, r;
        int32_t code = -1;
        while ((r = berth_process_next(p, -1, &ev, &e)) == 1) {
                kinds |= 1 << ev.kind;
                if (ev.kind == BERTH_PROCESS_STDERR)
                        ASSERT_TRUE(ev.len == 5 && memcmp(ev.data, "oops\n", 5) == 0);
                if (ev.kind == BERTH_PROCESS_EXIT)
                        code = ev.exit_code;
        }
        ASSERT_EQ(r, 2);
        ASSERT_EQ(kinds, 0xf);
        ASSERT_EQ(code, 3);
        berth_process_free(p);

        /* a command that cannot be run: EXIT with the error, then the call's error */
        static const char *const bad[] = { "nosuch", NULL };
        berth_run_opts o3 = { .args = bad };
        ASSERT_OK(berth_run_attach(f.c, "busybox", &o3, &p, &e));
        ASSERT_EQ(berth_process_next(p, -1, &ev, &e), 1);
        ASSERT_EQ(ev.kind, BERTH_PROCESS_EXIT);
        ASSERT_EQ(ev.exit_code, 127);
        ASSERT_TRUE(strstr(ev.error, "not found") != NULL);
        ASSERT_EQ(berth_process_next(p, -1, &ev, &e), -1);
        ASSERT_EQ(berth_run_exit_code(e), 127);
        berth_error_free(e);
        berth_process_free(p);
        fixture_stop(&f);
        ASSERT_EQ(seen.resize_w, 120);
        ASSERT_EQ(seen.resize_h, 40);
}

/* The initial terminal size goes with the options (Run attached and detached, Exec), only with a tty and only as a
 * whole pair. */
TEST(console_size_sent_with_tty) {
        fixture f;
        fixture_start(&f);
        seen.n_console = 0;
        berth_process *p = NULL;
        berth_process_event ev;
        berr *e = NULL;
        static const berth_run_opts runs[] = {
                { .tty = true, .console_width = 101, .console_height = 31 },
                { .tty = false, .console_width = 101, .console_height = 31 },
                { .tty = true, .console_width = 101, .console_height = 0 },
                { .tty = true },
        };
        for (size_t i = 0; i < ELEMENTSOF(runs); i++) {
                ASSERT_OK(berth_run_attach(f.c, "busybox", &runs[i], &p, &e));
                ASSERT_EQ(berth_process_next(p, 5000, &ev, &e), 1);
                ASSERT_EQ(ev.kind, BERTH_PROCESS_STARTED);
                p = berth_process_free(p);
        }
        berth_run_opts detached = { .name = "web", .tty = true, .console_width = 80, .console_height = 24 };
        ASSERT_OK(berth_run(f.c, "busybox", &detached, NULL, &e));
        static const char *const args[] = { "stty", "size", NULL };
        static const berth_exec_opts execs[] = {
                { .args = args, .tty = true, .console_width = 93, .console_height = 27 },
                { .args = args, .console_width = 93, .console_height = 27 },
        };
        for (size_t i = 0; i < ELEMENTSOF(execs); i++) {
                ASSERT_OK(berth_exec(f.c, "web", &execs[i], &p, &e));
                int kinds = 0, r;
                while ((r = berth_process_next(p, 5000, &ev, &e)) == 1)
                        kinds |= 1 << ev.kind;
                ASSERT_EQ(r, 2);
                ASSERT_EQ(kinds, (1 << BERTH_PROCESS_STARTED) | (1 << BERTH_PROCESS_EXIT));
                p = berth_process_free(p);
        }
        fixture_stop(&f);
        static const struct {
                bool tty;
                uint32_t width, height;
        } want[] = { { true, 101, 31 }, { false, 0, 0 }, { true, 0, 0 }, { true, 0, 0 },
                     { true, 80, 24 },  { true, 93, 27 }, { false, 0, 0 } };
        ASSERT_EQ(seen.n_console, ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                if (seen.console[i].tty != want[i].tty || seen.console[i].width != want[i].width ||
                    seen.console[i].height != want[i].height)
                        printf("# call %zu: tty %d %ux%u\n", i, seen.console[i].tty, seen.console[i].width,
                               seen.console[i].height);
                ASSERT_EQ(seen.console[i].tty, want[i].tty);
                ASSERT_EQ(seen.console[i].width, want[i].width);
                ASSERT_EQ(seen.console[i].height, want[i].height);
        }
}

TEST(list_and_single_container_calls) {
        fixture f;
        fixture_start(&f);
        berth_container **v = NULL;
        size_t n = 0;
        berr *e = NULL;
        ASSERT_OK(berth_containers_list(f.c, NULL, &v, &n, &e));
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(berth_container_id(v[0]), "new"); /* newest first */
        ASSERT_STREQ(berth_container_id(v[1]), "old");
        ASSERT_EQ(berth_container_get_info(v[1])->exit_code, 7);
        ASSERT_STREQ(berth_container_get_info(v[1])->status, "exited");
        berth_containers_free(v, n);

        ASSERT_OK(berth_stop(f.c, "web", 2, &e));
        ASSERT_OK(berth_kill_named(f.c, "web", "TERM", &e));
        ASSERT_OK(berth_pause(f.c, "p1", &e));
        ASSERT_OK(berth_unpause(f.c, "p2", &e));
        int32_t code = 0;
        int64_t at = 0;
        ASSERT_OK(berth_wait(f.c, "web", &code, &at, &e));
        ASSERT_EQ(code, 7);
        ASSERT_EQ(at, 1700000100LL * SEC);
        ASSERT_OK(berth_cleanup(f.c, "gone", &e)); /* a missing container is fine for cleanup */
        ASSERT_EQ(berth_delete(f.c, "gone", &e), -1);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        berth_error_free(e);
        e = NULL;
        ASSERT_OK(berth_container_remove(f.c, "web", false, &e));

        berth_process_info *procs = NULL;
        ASSERT_OK(berth_top(f.c, "web", &procs, &n, &e));
        ASSERT_EQ(n, 1);
        ASSERT_EQ(procs[0].pid, 42);
        ASSERT_STREQ(procs[0].command, "sleep 100");
        berth_process_infos_free(procs, n);
        berth_stats st;
        ASSERT_OK(berth_container_stats(f.c, "web", &st, &e));
        ASSERT_EQ(st.memory_usage, 1 << 20);
        ASSERT_EQ(st.pids_current, 2);
        fixture_stop(&f);
        ASSERT_STREQ(seen.stop_id, "web");
        ASSERT_EQ(seen.stop_timeout, 2);
        ASSERT_STREQ(seen.kill_signal, "TERM");
        ASSERT_STREQ(seen.paused, "p1");
        ASSERT_STREQ(seen.unpaused, "p2");
        ASSERT_STREQ(seen.delete_id, "web");
        ASSERT_TRUE(!seen.delete_force);
}

typedef struct collected {
        char out[64], err[64];
        int n;
        bool last_partial;
} collected;

static int on_log(const berth_log_entry *le, void *userdata) {
        collected *c = userdata;
        char *dst = le->is_stderr ? c->err : c->out;
        strncat(dst, (const char *) le->data, le->len);
        c->last_partial = le->partial;
        return ++c->n == 99;
}

static int on_event(const berth_event *ev, void *userdata) {
        char *j = berth_event_json(ev);
        snprintf(userdata, 128, "%s %s %s", ev->namespace_, ev->topic, j);
        free(j);
        return 1; /* stop after the first */
}

TEST(logs_events_and_io) {
        fixture f;
        fixture_start(&f);
        collected c = {};
        berth_logs_opts o = { .follow = true, .tail = 10 };
        berr *e = NULL;
        ASSERT_OK(berth_logs(f.c, "web", &o, on_log, &c, &e));
        ASSERT_EQ(c.n, 3);
        ASSERT_STREQ(c.out, "one\n3");
        ASSERT_STREQ(c.err, "two\n");
        ASSERT_TRUE(c.last_partial);

        char line[128] = "";
        static const char *const filters[] = { "topic==\"/tasks/start\"", NULL };
        ASSERT_OK(berth_events(f.c, filters, on_event, line, &e));
        ASSERT_STREQ(line, "testns /tasks/start {\"container_id\":\"web\",\"pid\":42}");

        int out = -1, err = -1;
        ASSERT_OK(berth_container_io(f.c, "web", &out, &err, &e));
        char buf[64] = "";
        ssize_t k = read(out, buf, sizeof buf - 1);
        ASSERT_EQ(k, 5);
        ASSERT_STREQ(buf, "live\n");
        memset(buf, 0, sizeof buf);
        ASSERT_EQ(read(err, buf, sizeof buf - 1), 5);
        ASSERT_STREQ(buf, "warn\n");
        ASSERT_EQ(read(out, buf, sizeof buf), 0); /* the container exited: EOF */
        ASSERT_EQ(read(err, buf, sizeof buf), 0);
        close(out);
        close(err);
        ASSERT_EQ(berth_container_io(f.c, "nope", &out, &err, &e), -1);
        ASSERT_EQ(berth_error_code(e), BERR_NOT_FOUND);
        berth_error_free(e);
        fixture_stop(&f);
        ASSERT_TRUE(seen.logs_follow);
        ASSERT_TRUE(seen.logs_tail_set);
        ASSERT_EQ(seen.logs_tail, 10);
        ASSERT_EQ(seen.sub_filters, 1);
}
