/* grpc-berth-run: drives berth.v1.Containers for integration tests until the berth CLI has the commands.
 *   grpc-berth-run [-n NS] SOCKET run [-d] [--rm] [--name N] [--restart P] [-e K=V]... [-v SPEC]... [-t] [-i STR]
 *                  [--memory M] [--cpus C] [--log-opt O]... [--runtime R] [-w DIR] [-u USER] IMAGE [CMD...]
 *       foreground: the container's stdout/stderr on ours, exit status = the container's; detached: prints the id.
 *       With -i STR the string is the container's stdin (then closed).
 *   ... ps [-a]               one line per container: "<id> <status> pid=<n> exit=<n> restarts=<n> image=<img>"
 *   ... inspect ID            key=value lines
 *   ... logs [-f] [--tail N] [-T] ID     the records' text (-T: "<time> <stream> " before each)
 *   ... exec [-t] [-d] [-i STR] [-u U] [-w D] [-e K=V] ID CMD...   output, exit status = the process's
 *   ... stop [-t SECS] ID | kill [-s SIG] ID | rm [-f] ID | pause ID | unpause ID | wait ID (prints the code)
 *   ... top ID                "<pid> <ppid> <uid> <state> <command>" lines
 *   ... stats ID              key=value lines
 *   ... attach ID             output until the container exits; exit status = its code
 * gRPC errors print "<CODE>: <message>" on stderr and exit 125 (run/exec: the exit event's code when it has one);
 * usage errors exit 2. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "berth/v1/containers.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/grpc.h"

#define MAX_LIST 64

static int fail(const berr *e) {
        fprintf(stderr, "%s: %s\n", berr_code_name(e->code), e->msg ? e->msg : "");
        return 125;
}

static int64_t ts_ns(const Google__Protobuf__Timestamp *ts) {
        return ts ? ts->seconds * INT64_C(1000000000) + ts->nanos : 0;
}

/* Reads RunEvents until the end; returns the exit status to use. */
static int follow_events(grpc_stream *s, bool detach) {
        int rc = 125, exit_code = -1;
        _cleanup_berr_ berr *e = NULL;
        for (;;) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(s, &buf, &len, &e);
                if (r < 0) {
                        rc = fail(e);
                        if (exit_code >= 0)
                                rc = exit_code;
                        return rc;
                }
                if (r == 0)
                        break;
                Berth__V1__RunEvent *ev = berth__v1__run_event__unpack(NULL, len, buf);
                if (!ev)
                        return 2;
                if (ev->started && detach)
                        printf("%s\n", ev->started->id);
                if (ev->stdout.len)
                        write_all(STDOUT_FILENO, ev->stdout.data, ev->stdout.len);
                if (ev->stderr.len)
                        write_all(STDERR_FILENO, ev->stderr.data, ev->stderr.len);
                if (ev->exit) {
                        exit_code = ev->exit->code;
                        if (ev->exit->error && *ev->exit->error)
                                fprintf(stderr, "error: %s\n", ev->exit->error);
                }
                berth__v1__run_event__free_unpacked(ev, NULL);
        }
        if (detach)
                return 0;
        return exit_code >= 0 ? exit_code : 125;
}

static int send_input(grpc_stream *s, const ProtobufCMessageDescriptor *desc, const char *input, berr **err) {
        /* RunRequest and ExecRequest both carry `input` as field 2 */
        Berth__V1__ProcessInput in = BERTH__V1__PROCESS_INPUT__INIT;
        Berth__V1__RunRequest req = BERTH__V1__RUN_REQUEST__INIT;
        in.data.data = (uint8_t *) input;
        in.data.len = strlen(input);
        in.close_stdin = true;
        req.input = &in;
        (void) desc;
        return grpc_stream_send(s, &req.base, err);
}

static int run(grpc_client *c, int argc, char **argv) {
        Berth__V1__RunOptions o = BERTH__V1__RUN_OPTIONS__INIT;
        char *env[MAX_LIST], *mounts[MAX_LIST], *logopts[MAX_LIST];
        const char *input = NULL;
        int i;
        for (i = 0; i < argc && argv[i][0] == '-'; i++) {
                const char *a = argv[i];
                bool has = i + 1 < argc;
                if (strcmp(a, "-d") == 0)
                        o.detach = true;
                else if (strcmp(a, "--rm") == 0)
                        o.auto_remove = true;
                else if (strcmp(a, "-t") == 0)
                        o.tty = true;
                else if (strcmp(a, "--read-only") == 0)
                        o.read_only = true;
                else if (strcmp(a, "--name") == 0 && has)
                        o.name = argv[++i];
                else if (strcmp(a, "--restart") == 0 && has)
                        o.restart = argv[++i];
                else if (strcmp(a, "--memory") == 0 && has)
                        o.memory = argv[++i];
                else if (strcmp(a, "--cpus") == 0 && has)
                        o.cpus = argv[++i];
                else if (strcmp(a, "--runtime") == 0 && has)
                        o.runtime = argv[++i];
                else if (strcmp(a, "-w") == 0 && has)
                        o.workdir = argv[++i];
                else if (strcmp(a, "-u") == 0 && has)
                        o.user = argv[++i];
                else if (strcmp(a, "-i") == 0 && has) {
                        o.stdin = true;
                        input = argv[++i];
                } else if (strcmp(a, "-e") == 0 && has && o.n_env < MAX_LIST)
                        env[o.n_env++] = argv[++i];
                else if (strcmp(a, "-v") == 0 && has && o.n_mounts < MAX_LIST)
                        mounts[o.n_mounts++] = argv[++i];
                else if (strcmp(a, "--log-opt") == 0 && has && o.n_log_opts < MAX_LIST)
                        logopts[o.n_log_opts++] = argv[++i];
                else
                        return 2;
        }
        if (i >= argc)
                return 2;
        o.env = env;
        o.mounts = mounts;
        o.log_opts = logopts;
        o.image = argv[i++];
        o.args = argv + i;
        o.n_args = (size_t) (argc - i);
        Berth__V1__RunRequest req = BERTH__V1__RUN_REQUEST__INIT;
        req.options = &o;
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_stream_open(c, "/berth.v1.Containers/Run", 0, &s, &e) < 0 ||
            grpc_stream_send(s, &req.base, &e) < 0 ||
            (input && send_input(s, &berth__v1__run_request__descriptor, input, &e) < 0) ||
            grpc_stream_close_send(s, &e) < 0) {
                grpc_stream_free(s);
                return fail(e);
        }
        int rc = follow_events(s, o.detach);
        grpc_stream_free(s);
        return rc;
}

static int exec_cmd(grpc_client *c, int argc, char **argv) {
        Berth__V1__ExecOptions o = BERTH__V1__EXEC_OPTIONS__INIT;
        char *env[MAX_LIST];
        const char *input = NULL;
        int i;
        for (i = 0; i < argc && argv[i][0] == '-'; i++) {
                const char *a = argv[i];
                bool has = i + 1 < argc;
                if (strcmp(a, "-t") == 0)
                        o.tty = true;
                else if (strcmp(a, "-d") == 0)
                        o.detach = true;
                else if (strcmp(a, "-i") == 0 && has) {
                        o.stdin = true;
                        input = argv[++i];
                } else if (strcmp(a, "-u") == 0 && has)
                        o.user = argv[++i];
                else if (strcmp(a, "-w") == 0 && has)
                        o.workdir = argv[++i];
                else if (strcmp(a, "-e") == 0 && has && o.n_env < MAX_LIST)
                        env[o.n_env++] = argv[++i];
                else
                        return 2;
        }
        if (i + 1 >= argc)
                return 2;
        o.env = env;
        o.id = argv[i++];
        o.args = argv + i;
        o.n_args = (size_t) (argc - i);
        Berth__V1__ExecRequest req = BERTH__V1__EXEC_REQUEST__INIT;
        req.options = &o;
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_stream_open(c, "/berth.v1.Containers/Exec", 0, &s, &e) < 0 ||
            grpc_stream_send(s, &req.base, &e) < 0 ||
            (input && send_input(s, &berth__v1__exec_request__descriptor, input, &e) < 0) ||
            grpc_stream_close_send(s, &e) < 0) {
                grpc_stream_free(s);
                return fail(e);
        }
        int rc = follow_events(s, o.detach);
        grpc_stream_free(s);
        return rc;
}

static int attach(grpc_client *c, const char *id) {
        Berth__V1__AttachRequest req = BERTH__V1__ATTACH_REQUEST__INIT;
        req.id = (char *) id;
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_stream_open(c, "/berth.v1.Containers/Attach", 0, &s, &e) < 0 ||
            grpc_stream_send(s, &req.base, &e) < 0 || grpc_stream_close_send(s, &e) < 0) {
                grpc_stream_free(s);
                return fail(e);
        }
        int rc = follow_events(s, false);
        grpc_stream_free(s);
        return rc;
}

static int unary(grpc_client *c, const char *method, const ProtobufCMessage *req, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/berth.v1.Containers/%s", method) < 0)
                return 2;
        _cleanup_berr_ berr *e = NULL;
        uint8_t *resp = NULL;
        size_t len = 0;
        if (grpc_client_unary(c, path, req, 0, &resp, &len, &e) < 0)
                return fail(e);
        if (ret) {
                *ret = resp;
                *ret_len = len;
        } else
                free(resp);
        return 0;
}

static int ps(grpc_client *c, int argc, char **argv) {
        Berth__V1__ListRequest req = BERTH__V1__LIST_REQUEST__INIT;
        req.all = argc > 0 && strcmp(argv[0], "-a") == 0;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int rc = unary(c, "List", &req.base, &buf, &len);
        if (rc)
                return rc;
        Berth__V1__ListResponse *r = berth__v1__list_response__unpack(NULL, len, buf);
        if (!r)
                return 2;
        for (size_t i = 0; i < r->n_containers; i++) {
                Berth__V1__ContainerInfo *in = r->containers[i];
                printf("%s %s pid=%u exit=%d restarts=%u image=%s\n", in->id, in->status, in->pid, in->exit_code,
                       in->restart_count, in->image);
        }
        berth__v1__list_response__free_unpacked(r, NULL);
        return 0;
}

static int inspect(grpc_client *c, const char *id) {
        Berth__V1__InspectRequest req = BERTH__V1__INSPECT_REQUEST__INIT;
        req.id = (char *) id;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int rc = unary(c, "Inspect", &req.base, &buf, &len);
        if (rc)
                return rc;
        Berth__V1__ContainerInfo *in = berth__v1__container_info__unpack(NULL, len, buf);
        if (!in)
                return 2;
        printf("id=%s\nname=%s\nimage=%s\nstatus=%s\nrunning=%d\npaused=%d\nrestarting=%d\npid=%u\nexit_code=%d\n", in->id,
               in->name, in->image, in->status, in->running, in->paused, in->restarting, in->pid, in->exit_code);
        printf("started_at=%" PRId64 "\nfinished_at=%" PRId64 "\nrestart_policy=%s\nrestart_count=%u\n",
               ts_ns(in->started_at), ts_ns(in->finished_at), in->restart_policy, in->restart_count);
        printf("explicitly_stopped=%d\nauto_remove=%d\ntty=%d\nruntime=%s\nsnapshotter=%s\nlog_dir=%s\n",
               in->explicitly_stopped, in->auto_remove, in->tty, in->runtime, in->snapshotter, in->log_dir);
        printf("workdir=%s\nuser=%s\nhostname=%s\nmemory=%" PRId64 "\nnano_cpus=%" PRIu64 "\nerror=%s\n", in->workdir,
               in->user, in->hostname, in->memory, in->nano_cpus, in->error);
        for (size_t i = 0; i < in->n_command; i++)
                printf("command=%s\n", in->command[i]);
        for (size_t i = 0; i < in->n_env; i++)
                printf("env=%s\n", in->env[i]);
        for (size_t i = 0; i < in->n_labels; i++)
                printf("label=%s=%s\n", in->labels[i]->key, in->labels[i]->value);
        berth__v1__container_info__free_unpacked(in, NULL);
        return 0;
}

static int logs(grpc_client *c, int argc, char **argv) {
        Berth__V1__LogsRequest req = BERTH__V1__LOGS_REQUEST__INIT;
        bool stamps = false;
        int i;
        for (i = 0; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "-f") == 0)
                        req.follow = true;
                else if (strcmp(argv[i], "-T") == 0)
                        stamps = true;
                else if (strcmp(argv[i], "--tail") == 0 && i + 1 < argc) {
                        req.tail = strtoll(argv[++i], NULL, 10);
                        req.tail_set = true;
                } else
                        return 2;
        }
        if (i != argc - 1)
                return 2;
        req.id = argv[i];
        grpc_stream *s = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_stream_open(c, "/berth.v1.Containers/Logs", 0, &s, &e) < 0 ||
            grpc_stream_send(s, &req.base, &e) < 0 || grpc_stream_close_send(s, &e) < 0) {
                grpc_stream_free(s);
                return fail(e);
        }
        int rc = 0;
        for (;;) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len = 0;
                int r = grpc_stream_recv(s, &buf, &len, &e);
                if (r < 0) {
                        rc = fail(e);
                        break;
                }
                if (r == 0)
                        break;
                Berth__V1__LogEntry *en = berth__v1__log_entry__unpack(NULL, len, buf);
                if (!en) {
                        rc = 2;
                        break;
                }
                if (stamps)
                        printf("%" PRId64 " %s ", ts_ns(en->time), en->stream);
                fwrite(en->data.data, 1, en->data.len, stdout);
                fflush(stdout);
                berth__v1__log_entry__free_unpacked(en, NULL);
        }
        grpc_stream_free(s);
        return rc;
}

static int simple(grpc_client *c, const char *cmd, int argc, char **argv) {
        if (strcmp(cmd, "stop") == 0) {
                Berth__V1__StopRequest req = BERTH__V1__STOP_REQUEST__INIT;
                req.timeout = -1;
                if (argc == 3 && strcmp(argv[0], "-t") == 0) {
                        req.timeout = atoi(argv[1]);
                        argv += 2;
                        argc -= 2;
                }
                if (argc != 1)
                        return 2;
                req.id = argv[0];
                return unary(c, "Stop", &req.base, NULL, NULL);
        }
        if (strcmp(cmd, "kill") == 0) {
                Berth__V1__KillRequest req = BERTH__V1__KILL_REQUEST__INIT;
                if (argc == 3 && strcmp(argv[0], "-s") == 0) {
                        req.signal = argv[1];
                        argv += 2;
                        argc -= 2;
                }
                if (argc != 1)
                        return 2;
                req.id = argv[0];
                return unary(c, "Kill", &req.base, NULL, NULL);
        }
        if (strcmp(cmd, "rm") == 0) {
                Berth__V1__DeleteRequest req = BERTH__V1__DELETE_REQUEST__INIT;
                if (argc == 2 && strcmp(argv[0], "-f") == 0) {
                        req.force = true;
                        argv++;
                        argc--;
                }
                if (argc != 1)
                        return 2;
                req.id = argv[0];
                return unary(c, "Delete", &req.base, NULL, NULL);
        }
        if (argc != 1)
                return 2;
        if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "unpause") == 0) {
                Berth__V1__PauseRequest req = BERTH__V1__PAUSE_REQUEST__INIT;
                req.id = argv[0];
                return unary(c, strcmp(cmd, "pause") == 0 ? "Pause" : "Unpause", &req.base, NULL, NULL);
        }
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int rc;
        if (strcmp(cmd, "wait") == 0) {
                Berth__V1__WaitRequest req = BERTH__V1__WAIT_REQUEST__INIT;
                req.id = argv[0];
                if ((rc = unary(c, "Wait", &req.base, &buf, &len)))
                        return rc;
                Berth__V1__WaitResponse *r = berth__v1__wait_response__unpack(NULL, len, buf);
                if (!r)
                        return 2;
                printf("%d\n", r->exit_code);
                berth__v1__wait_response__free_unpacked(r, NULL);
                return 0;
        }
        if (strcmp(cmd, "top") == 0) {
                Berth__V1__TopRequest req = BERTH__V1__TOP_REQUEST__INIT;
                req.id = argv[0];
                if ((rc = unary(c, "Top", &req.base, &buf, &len)))
                        return rc;
                Berth__V1__TopResponse *r = berth__v1__top_response__unpack(NULL, len, buf);
                if (!r)
                        return 2;
                for (size_t i = 0; i < r->n_processes; i++) {
                        Berth__V1__ProcessInfo *p = r->processes[i];
                        printf("%u %u %u %s %s\n", p->pid, p->ppid, p->uid, p->state, p->command);
                }
                berth__v1__top_response__free_unpacked(r, NULL);
                return 0;
        }
        if (strcmp(cmd, "stats") == 0) {
                Berth__V1__StatsRequest req = BERTH__V1__STATS_REQUEST__INIT;
                req.id = argv[0];
                if ((rc = unary(c, "Stats", &req.base, &buf, &len)))
                        return rc;
                Berth__V1__StatsResponse *r = berth__v1__stats_response__unpack(NULL, len, buf);
                if (!r)
                        return 2;
                printf("cpu_usage_ns=%" PRIu64 "\nsystem_cpu_ns=%" PRIu64 "\nonline_cpus=%u\nmemory_usage=%" PRIu64
                       "\nmemory_limit=%" PRIu64 "\npids_current=%" PRIu64 "\npids_limit=%" PRIu64 "\n",
                       r->cpu_usage_ns, r->system_cpu_ns, r->online_cpus, r->memory_usage, r->memory_limit,
                       r->pids_current, r->pids_limit);
                berth__v1__stats_response__free_unpacked(r, NULL);
                return 0;
        }
        if (strcmp(cmd, "inspect") == 0)
                return inspect(c, argv[0]);
        if (strcmp(cmd, "attach") == 0)
                return attach(c, argv[0]);
        return 2;
}

int main(int argc, char **argv) {
        const char *ns = "default";
        int i = 1;
        if (argc > 2 && strcmp(argv[1], "-n") == 0) {
                ns = argv[2];
                i = 3;
        }
        if (argc - i < 2) {
                fprintf(stderr, "usage: grpc-berth-run [-n NS] SOCKET run|ps|inspect|logs|exec|stop|kill|rm|... ...\n");
                return 2;
        }
        grpc_client *c = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (grpc_client_connect_unix(argv[i], &c, &e) < 0) {
                fprintf(stderr, "connect %s: %s\n", argv[i], e->msg);
                return 2;
        }
        grpc_md md = { "containerd-namespace", ns };
        grpc_client_set_default_metadata(c, &md, 1);
        const char *cmd = argv[i + 1];
        int n = argc - i - 2;
        char **args = argv + i + 2;
        int rc;
        if (strcmp(cmd, "run") == 0)
                rc = run(c, n, args);
        else if (strcmp(cmd, "exec") == 0)
                rc = exec_cmd(c, n, args);
        else if (strcmp(cmd, "ps") == 0)
                rc = ps(c, n, args);
        else if (strcmp(cmd, "logs") == 0)
                rc = logs(c, n, args);
        else
                rc = simple(c, cmd, n, args);
        if (rc == 2)
                fprintf(stderr, "grpc-berth-run: usage error or transport failure\n");
        fflush(stdout);
        grpc_client_free(c);
        return rc;
}
