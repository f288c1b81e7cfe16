/* List and Inspect (docker's ps / inspect data from the container record, its labels, its spec and the task
 * manager's cached task state — no shim is asked), Top (the task's pids from its shim, details from /proc) and Stats
 * (the shim's cgroup metrics, plus the host's CPU time for docker's CPU % formula). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "basic/fileio.h"
#include "basic/json-scan.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "containerd/types/task/task.pb-c.h"
#include "services/berth-containers.h"
#include "services/common.h"

/* Everything a ContainerInfo borrows, freed together. */
typedef struct info_buf {
        Berth__V1__ContainerInfo info;
        Google__Protobuf__Timestamp created, started, finished;
        json_t *spec; /* the whole spec, when it had to be parsed whole */
        json_t *process, *hostname, *memory, *cpu; /* the members used, parsed alone */
        char **command, **env, **mounts;
        char *user, *status_policy;
        meta_labels user_labels;
        void *label_entries;
} info_buf;

static void info_buf_done(info_buf *b) {
        json_decref(b->spec);
        json_decref(b->process);
        json_decref(b->hostname);
        json_decref(b->memory);
        json_decref(b->cpu);
        free(b->command);
        free(b->env);
        strv_free(b->mounts);
        free(b->user);
        free(b->status_policy);
        meta_labels_done(&b->user_labels);
        free(b->label_entries);
}

/* Borrowed strings of a JSON string array (the array must outlive the vector). */
static char **json_strings(json_t *a, size_t *ret_n) {
        size_t n = json_is_array(a) ? json_array_size(a) : 0, k = 0;
        char **v = xcalloc(n + 1, sizeof *v);
        for (size_t i = 0; i < n; i++) {
                const char *s = json_string_value(json_array_get(a, i));
                if (s)
                        v[k++] = (char *) s;
        }
        *ret_n = k;
        return v;
}

/* The value of member key of the object text starts with, parsed on its own; NULL when there is none. */
static json_t *json_member(const char *text, size_t len, const char *key) {
        ssize_t off = json_scan_member(text, len, key);
        if (off < 0)
                return NULL;
        return json_loadb(text + off, len - (size_t) off, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, NULL);
}

/* The spec's members a listing shows: process, hostname, linux.resources.{memory,cpu}, each parsed alone (a
 * whole spec is ~3 KB of mounts, paths and devices nobody lists); the whole spec when the scan cannot tell. */
static void spec_members(const meta_container *c, info_buf *b) {
        const char *t = (const char *) c->spec;
        size_t len = c->spec_len;
        if (!t || !len)
                return;
        ssize_t proc_off = json_scan_member(t, len, "process");
        if (proc_off >= 0) {
                /* only the process members shown (not its capabilities, rlimits ...) */
                static const char *const shown[] = { "args", "env", "cwd", "user" };
                const char *pt = t + proc_off;
                size_t plen = len - (size_t) proc_off;
                b->process = json_object();
                for (size_t i = 0; i < ELEMENTSOF(shown); i++) {
                        json_t *v = json_member(pt, plen, shown[i]);
                        if (v)
                                json_object_set_new(b->process, shown[i], v);
                }
        } else {
                b->spec = json_loadb(t, len, 0, NULL);
                b->process = json_incref(json_object_get(b->spec, "process"));
                b->hostname = json_incref(json_object_get(b->spec, "hostname"));
                json_t *res = json_object_get(json_object_get(b->spec, "linux"), "resources");
                b->memory = json_incref(json_object_get(res, "memory"));
                b->cpu = json_incref(json_object_get(res, "cpu"));
                return;
        }
        b->hostname = json_member(t, len, "hostname");
        ssize_t linux_off = json_scan_member(t, len, "linux");
        ssize_t res_off = linux_off < 0 ? -1 : json_scan_member(t + linux_off, len - (size_t) linux_off, "resources");
        if (res_off < 0)
                return;
        const char *res = t + linux_off + res_off;
        size_t res_len = len - (size_t) (linux_off + res_off);
        b->memory = json_member(res, res_len, "memory");
        b->cpu = json_member(res, res_len, "cpu");
}

static void info_fill(bc_service *s, const char *ns, const meta_container *c, info_buf *b) {
        Berth__V1__ContainerInfo *in = &b->info;
        berth__v1__container_info__init(in);
        in->id = c->id;
        in->name = c->id;
        in->image = c->image ? c->image : (char *) "";
        service_timestamp_set(&b->created, c->created_at);
        in->created_at = &b->created;
        in->runtime = c->runtime_name ? c->runtime_name : (char *) "";
        in->snapshotter = c->snapshotter ? c->snapshotter : (char *) "";
        in->snapshot_key = c->snapshot_key ? c->snapshot_key : (char *) "";

        spec_members(c, b);
        json_t *proc = b->process;
        b->command = json_strings(json_object_get(proc, "args"), &in->n_command);
        in->command = b->command;
        b->env = json_strings(json_object_get(proc, "env"), &in->n_env);
        in->env = b->env;
        const char *cwd = json_string_value(json_object_get(proc, "cwd"));
        in->workdir = (char *) (cwd ? cwd : "");
        json_t *user = json_object_get(proc, "user");
        b->user = xasprintf("%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT,
                            json_integer_value(json_object_get(user, "uid")),
                            json_integer_value(json_object_get(user, "gid")));
        in->user = b->user;
        const char *host = json_string_value(b->hostname);
        in->hostname = (char *) (host ? host : "");
        in->memory = json_integer_value(json_object_get(b->memory, "limit"));
        json_t *cpu = b->cpu;
        json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
        json_int_t period = json_integer_value(json_object_get(cpu, "period"));
        if (quota > 0 && period > 0)
                in->nano_cpus = (uint64_t) quota * 1000000000ULL / (uint64_t) period;

        in->tty = bc_label_true(c, BC_LABEL_TTY);
        in->stdin = bc_label_true(c, BC_LABEL_STDIN);
        in->auto_remove = bc_label_true(c, BC_LABEL_AUTO_REMOVE);
        const char *err = meta_labels_get(&c->labels, BC_LABEL_ERROR);
        in->error = (char *) (err ? err : "");
        const char *mounts = meta_labels_get(&c->labels, BC_LABEL_MOUNTS);
        if (mounts) {
                b->mounts = strv_split(mounts, '\n');
                in->mounts = b->mounts;
                in->n_mounts = strv_length(b->mounts);
        }

        const char *policy = meta_labels_get(&c->labels, RESTART_LABEL_POLICY);
        in->restart_policy = (char *) (policy ? policy : "no");
        in->restart_count = (uint32_t) bc_label_int(c, RESTART_LABEL_COUNT);
        const char *rs = meta_labels_get(&c->labels, RESTART_LABEL_STATUS);
        in->explicitly_stopped = rs && strcmp(rs, RESTART_STATUS_STOPPED) == 0;

        for (size_t i = 0; i < c->labels.n; i++) {
                const char *k = c->labels.v[i].key;
                if (strncmp(k, BC_LABEL_PREFIX, strlen(BC_LABEL_PREFIX)) != 0 &&
                    strncmp(k, "containerd.io/restart.", 22) != 0)
                        meta_labels_set(&b->user_labels, k, c->labels.v[i].value);
        }
        b->label_entries = service_map_from_labels(&b->user_labels,
                                                   &berth__v1__container_info__labels_entry__descriptor,
                                                   &in->n_labels);
        in->labels = b->label_entries;

        int64_t started = bc_label_int(c, BC_LABEL_STARTED), finished = bc_label_int(c, BC_LABEL_FINISHED);
        if (started > 0) {
                service_timestamp_set(&b->started, started);
                in->started_at = &b->started;
        }
        if (finished > 0) {
                service_timestamp_set(&b->finished, finished);
                in->finished_at = &b->finished;
        }
        in->exit_code = (int32_t) bc_label_int(c, BC_LABEL_EXIT_CODE);

        rt_task *t = s->ctx->runtime ? runtime_task_get(s->ctx->runtime, ns, c->id) : NULL;
        rt_task_info ti = { 0 };
        if (t)
                rt_task_info_get(t, &ti);
        if (t && !ti.exited && ti.status != RT_STATUS_STOPPED) {
                in->pid = ti.pid;
                switch (ti.status) {
                case RT_STATUS_PAUSED:
                case RT_STATUS_PAUSING:
                        in->status = (char *) "paused";
                        in->paused = true;
                        in->running = true; /* docker: a paused container is still running */
                        break;
                case RT_STATUS_CREATED:
                        in->status = (char *) "created";
                        break;
                default:
                        in->status = (char *) "running";
                        in->running = true;
                        break;
                }
        } else if (t && !bc_is_managed(c)) {
                /* another client's exited task: its exit status is the task's */
                in->status = (char *) "exited";
                in->exit_code = (int32_t) ti.exit_status;
                if (ti.exited_at > 0) {
                        service_timestamp_set(&b->finished, ti.exited_at);
                        in->finished_at = &b->finished;
                }
        } else if (task_monitor_restart_pending(s->monitor, ns, c->id) || t) {
                in->status = (char *) "restarting";
                in->restarting = true;
        } else if (finished > 0 || started > 0)
                in->status = (char *) "exited";
        else
                in->status = (char *) "created";
}

void bc_inspect(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__InspectRequest *req = service_decode(call, &berth__v1__inspect_request__descriptor,
                                                                     msg, len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        meta_container c = { 0 };
        berr *e = NULL;
        if (bc_container_get(s, ns, req->id, &c, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        info_buf b = { 0 };
        info_fill(s, ns, &c, &b);
        _cleanup_free_ char *logs = log_dir_path(s->ctx->root, ns, c.id);
        b.info.log_dir = logs;
        grpc_call_reply(call, &b.info.base);
        info_buf_done(&b);
        meta_container_done(&c);
}

void bc_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__ListRequest *req = service_decode(call, &berth__v1__list_request__descriptor, msg,
                                                                  len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        meta_container *cs = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_container_list(s->ctx->db, ns, (const char *const *) req->filters, req->n_filters, &cs, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        info_buf *bufs = xcalloc(n + 1, sizeof *bufs);
        char **dirs = xcalloc(n + 1, sizeof *dirs);
        Berth__V1__ContainerInfo **infos = xcalloc(n + 1, sizeof *infos);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
                if (bc_removal_pending(s, ns, cs[i].id))
                        continue;
                info_fill(s, ns, &cs[i], &bufs[i]);
                Berth__V1__ContainerInfo *in = &bufs[i].info;
                if (!req->all && !in->running && !in->restarting)
                        continue;
                dirs[i] = log_dir_path(s->ctx->root, ns, cs[i].id);
                in->log_dir = dirs[i];
                infos[k++] = in;
        }
        Berth__V1__ListResponse resp = BERTH__V1__LIST_RESPONSE__INIT;
        resp.containers = infos;
        resp.n_containers = k;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++) {
                info_buf_done(&bufs[i]);
                free(dirs[i]);
        }
        free(bufs);
        free(dirs);
        free(infos);
        meta_containers_free(cs, n);
}

/* ---- Top ---- */

typedef struct proc_stat {
        char state;
        uint32_t ppid;
        uint64_t utime, stime, starttime, vsize, rss_pages;
} proc_stat;

static int read_proc_stat(uint32_t pid, proc_stat *ret) {
        char path[64], *buf = NULL;
        snprintf(path, sizeof path, "/proc/%u/stat", pid);
        if (read_file(path, &buf, NULL, 4096, NULL) < 0)
                return -1;
        /* comm may hold spaces and parentheses: fields start after the last ')' */
        char *p = strrchr(buf, ')');
        int r = -1;
        if (p) {
                unsigned long long f[22] = { 0 };
                char st = '?';
                int n = sscanf(p + 2,
                               "%c %llu %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu %*s %*s %*s %*s %*s %*s %llu %llu "
                               "%llu",
                               &st, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5]);
                if (n == 7) {
                        *ret = (proc_stat) { .state = st, .ppid = (uint32_t) f[0], .utime = f[1], .stime = f[2],
                                             .starttime = f[3], .vsize = f[4], .rss_pages = f[5] };
                        r = 0;
                }
        }
        free(buf);
        return r;
}

static char *read_cmdline(uint32_t pid) {
        char path[64], *buf = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
        if (read_file(path, &buf, &len, 64 * 1024, NULL) < 0)
                return xstrdup("");
        for (size_t i = 0; i + 1 < len; i++)
                if (buf[i] == '\0')
                        buf[i] = ' ';
        if (len == 0) {
                free(buf);
                snprintf(path, sizeof path, "/proc/%u/comm", pid);
                if (read_file(path, &buf, &len, 4096, NULL) < 0)
                        return xstrdup("");
                while (len > 0 && isspace((unsigned char) buf[len - 1]))
                        buf[--len] = '\0';
                char *bracketed = xasprintf("[%s]", buf);
                free(buf);
                return bracketed;
        }
        return buf;
}

static uint32_t read_uid(uint32_t pid) {
        char path[64], *buf = NULL;
        snprintf(path, sizeof path, "/proc/%u/status", pid);
        if (read_file(path, &buf, NULL, 64 * 1024, NULL) < 0)
                return 0;
        unsigned uid = 0;
        char *p = strstr(buf, "\nUid:");
        if (p)
                sscanf(p + 5, "%u", &uid);
        free(buf);
        return uid;
}

static int64_t boot_time_ns(void) {
        char *buf = NULL;
        int64_t bt = 0;
        if (read_file("/proc/stat", &buf, NULL, 1 << 20, NULL) < 0)
                return 0;
        char *p = strstr(buf, "\nbtime ");
        if (p)
                bt = strtoll(p + 7, NULL, 10) * INT64_C(1000000000);
        free(buf);
        return bt;
}

static void on_pids(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                bc_finish_error_copy(call, e);
                return;
        }
        Containerd__Task__V2__PidsResponse *r = containerd__task__v2__pids_response__unpack(NULL, len, payload);
        if (!r) {
                grpc_call_finish(call, BERR_INTERNAL, "cannot decode the shim's Pids reply");
                return;
        }
        long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
        int64_t bt = boot_time_ns();
        Berth__V1__ProcessInfo *procs = xcalloc(r->n_processes + 1, sizeof *procs);
        Berth__V1__ProcessInfo **ptrs = xcalloc(r->n_processes + 1, sizeof *ptrs);
        Google__Protobuf__Timestamp *ts = xcalloc(r->n_processes + 1, sizeof *ts);
        char **cmds = xcalloc(r->n_processes + 1, sizeof *cmds);
        char(*states)[2] = xcalloc(r->n_processes + 1, sizeof *states);
        size_t k = 0;
        for (size_t i = 0; i < r->n_processes; i++) {
                uint32_t pid = r->processes[i]->pid;
                proc_stat st;
                if (read_proc_stat(pid, &st) < 0)
                        continue; /* gone meanwhile */
                Berth__V1__ProcessInfo *p = &procs[k];
                berth__v1__process_info__init(p);
                p->pid = pid;
                p->ppid = st.ppid;
                p->uid = read_uid(pid);
                states[k][0] = st.state;
                p->state = states[k];
                p->rss_bytes = st.rss_pages * (uint64_t) page;
                p->vsz_bytes = st.vsize;
                p->cpu_ns = tick > 0 ? (st.utime + st.stime) * (1000000000ULL / (uint64_t) tick) : 0;
                if (bt > 0 && tick > 0) {
                        service_timestamp_set(&ts[k], bt + (int64_t) (st.starttime * (1000000000ULL / (uint64_t) tick)));
                        p->started_at = &ts[k];
                }
                cmds[k] = read_cmdline(pid);
                p->command = cmds[k];
                ptrs[k] = p;
                k++;
        }
        Berth__V1__TopResponse resp = BERTH__V1__TOP_RESPONSE__INIT;
        resp.processes = ptrs;
        resp.n_processes = k;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < k; i++)
                free(cmds[i]);
        free(cmds);
        free(states);
        free(ts);
        free(ptrs);
        free(procs);
        containerd__task__v2__pids_response__free_unpacked(r, NULL);
}

static rt_task *running_or_finish(grpc_call *call, bc_service *s, const char *ns, const char *id) {
        meta_container c = { 0 };
        berr *e = NULL;
        if (bc_container_get(s, ns, id, &c, &e) < 0) {
                service_finish_error(call, e);
                return NULL;
        }
        meta_container_done(&c);
        rt_task *t = bc_live_task(s, ns, id);
        if (!t) {
                berr_set(&e, BERR_FAILED_PRECONDITION, 0, "container %s is not running", id);
                service_finish_error(call, e);
        }
        return t;
}

void bc_top(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__TopRequest *req = service_decode(call, &berth__v1__top_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        rt_task *t = running_or_finish(call, s, ns, req->id);
        if (!t)
                return;
        Containerd__Task__V2__PidsRequest pr = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
        pr.id = req->id;
        berr *e = NULL;
        if (rt_task_call(t, "Pids", &pr.base, 0, on_pids, call, &e) < 0)
                service_finish_error(call, e);
}

/* ---- Stats ---- */

static uint64_t host_cpu_ns(void) {
        char *buf = NULL;
        if (read_file("/proc/stat", &buf, NULL, 1 << 20, NULL) < 0)
                return 0;
        unsigned long long v[8] = { 0 };
        uint64_t total = 0;
        if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) == 8)
                for (int i = 0; i < 8; i++)
                        total += v[i];
        free(buf);
        long tick = sysconf(_SC_CLK_TCK);
        return tick > 0 ? total * (1000000000ULL / (uint64_t) tick) : 0;
}

static uint64_t host_memory(void) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        return pages > 0 && page > 0 ? (uint64_t) pages * (uint64_t) page : 0;
}

static void on_stats(rt_task *t, const berr *e, const uint8_t *payload, size_t len, void *userdata) {
        grpc_call *call = userdata;
        if (e) {
                bc_finish_error_copy(call, e);
                return;
        }
        Containerd__Task__V2__StatsResponse *r = containerd__task__v2__stats_response__unpack(NULL, len, payload);
        if (!r) {
                grpc_call_finish(call, BERR_INTERNAL, "cannot decode the shim's Stats reply");
                return;
        }
        Berth__V1__StatsResponse resp = BERTH__V1__STATS_RESPONSE__INIT;
        Google__Protobuf__Timestamp ts;
        service_timestamp_set(&ts, now_realtime_nsec());
        resp.read_at = &ts;
        resp.system_cpu_ns = host_cpu_ns();
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        resp.online_cpus = cpus > 0 ? (uint32_t) cpus : 1;
        const char *type = r->stats && r->stats->type_url ? r->stats->type_url : "";
        if (strstr(type, "cgroups.v1.Metrics")) {
                Io__Containerd__Cgroups__V1__Metrics *m = io__containerd__cgroups__v1__metrics__unpack(
                        NULL, r->stats->value.len, r->stats->value.data);
                if (m) {
                        if (m->cpu && m->cpu->usage)
                                resp.cpu_usage_ns = m->cpu->usage->total;
                        if (m->memory) {
                                resp.memory_cache = m->memory->total_inactive_file;
                                if (m->memory->usage) {
                                        uint64_t u = m->memory->usage->usage;
                                        resp.memory_usage = u > resp.memory_cache ? u - resp.memory_cache : u;
                                        resp.memory_limit = m->memory->usage->limit;
                                }
                        }
                        if (m->pids) {
                                resp.pids_current = m->pids->current;
                                resp.pids_limit = m->pids->limit;
                        }
                        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
                }
        } else if (strstr(type, "cgroups.v2.Metrics")) {
                Io__Containerd__Cgroups__V2__Metrics *m = io__containerd__cgroups__v2__metrics__unpack(
                        NULL, r->stats->value.len, r->stats->value.data);
                if (m) {
                        if (m->cpu)
                                resp.cpu_usage_ns = m->cpu->usage_usec * 1000;
                        if (m->memory) {
                                resp.memory_cache = m->memory->inactive_file;
                                uint64_t u = m->memory->usage;
                                resp.memory_usage = u > resp.memory_cache ? u - resp.memory_cache : u;
                                resp.memory_limit = m->memory->usage_limit;
                        }
                        if (m->pids) {
                                resp.pids_current = m->pids->current;
                                resp.pids_limit = m->pids->limit;
                        }
                        io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
                }
        }
        uint64_t mem = host_memory();
        if (resp.memory_limit == 0 || (mem && resp.memory_limit > mem))
                resp.memory_limit = mem;
        grpc_call_reply(call, &resp.base);
        containerd__task__v2__stats_response__free_unpacked(r, NULL);
}

void bc_stats(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        bc_service *s = userdata;
        _cleanup_pb_ Berth__V1__StatsRequest *req = service_decode(call, &berth__v1__stats_request__descriptor, msg,
                                                                   len);
        if (!req)
                return;
        const char *ns = bc_namespace(call);
        if (!ns)
                return;
        rt_task *t = running_or_finish(call, s, ns, req->id);
        if (!t)
                return;
        Containerd__Task__V2__StatsRequest sr = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
        sr.id = req->id;
        berr *e = NULL;
        if (rt_task_call(t, "Stats", &sr.base, 0, on_stats, call, &e) < 0)
                service_finish_error(call, e);
}
