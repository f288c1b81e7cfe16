/* libberth: what a container says and does — berth.v1.Containers Logs (streamed), Top and Stats. */
#include <string.h>

#include "berth/v1/containers.pb-c.h"
#include "client/client-internal.h"
#include "client/containers-internal.h"

static void timestamp_set(Google__Protobuf__Timestamp *ts, int64_t ns) {
        *ts = (Google__Protobuf__Timestamp) GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts->seconds = ns / 1000000000LL;
        ts->nanos = (int32_t) (ns % 1000000000LL);
}

int berth_logs(berth_client *c, const char *id, const berth_logs_opts *opts, berth_log_fn fn, void *userdata,
               berr **err) {
        static const berth_logs_opts defaults = { .tail = -1 };
        if (!opts)
                opts = &defaults;
        Google__Protobuf__Timestamp since, until;
        Berth__V1__LogsRequest req = BERTH__V1__LOGS_REQUEST__INIT;
        req.id = (char *) id;
        req.follow = opts->follow;
        if (opts->tail >= 0) {
                req.tail = opts->tail;
                req.tail_set = true;
        }
        if (opts->since > 0) {
                timestamp_set(&since, opts->since);
                req.since = &since;
        }
        if (opts->until > 0) {
                timestamp_set(&until, opts->until);
                req.until = &until;
        }
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, "/berth.v1.Containers/Logs", 0, &s, err) < 0)
                return -1;
        int r = grpc_stream_send(s, &req.base, err);
        if (r >= 0)
                r = grpc_stream_close_send(s, err);
        while (r >= 0) {
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len = 0;
                r = grpc_stream_recv(s, &msg, &len, err);
                if (r <= 0)
                        break;
                Berth__V1__LogEntry *e = berth__v1__log_entry__unpack(NULL, len, msg);
                if (!e) {
                        r = berr_set(err, BERR_INTERNAL, 0, "logs %s: undecodable LogEntry", id);
                        break;
                }
                berth_log_entry le = {
                        .is_stderr = e->stream && strcmp(e->stream, "stderr") == 0,
                        .time = client_timestamp_ns(e->time),
                        .data = e->data.data,
                        .len = e->data.len,
                        .partial = e->partial,
                };
                int stop = fn(&le, userdata);
                berth__v1__log_entry__free_unpacked(e, NULL);
                if (stop)
                        break; /* freeing the stream cancels the call */
        }
        grpc_stream_free(s);
        return r < 0 ? -1 : 0;
}

int berth_top(berth_client *c, const char *id, berth_process_info **ret, size_t *ret_n, berr **err) {
        Berth__V1__TopRequest req = BERTH__V1__TOP_REQUEST__INIT;
        req.id = (char *) id;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/berth.v1.Containers/Top", &req.base, &berth__v1__top_response__descriptor, &m, err) <
            0)
                return -1;
        Berth__V1__TopResponse *r = (Berth__V1__TopResponse *) m;
        berth_process_info *v = xcalloc(r->n_processes + 1, sizeof *v);
        for (size_t i = 0; i < r->n_processes; i++) {
                const Berth__V1__ProcessInfo *p = r->processes[i];
                v[i] = (berth_process_info) {
                        .pid = p->pid,
                        .ppid = p->ppid,
                        .uid = p->uid,
                        .state = xstrdup(p->state ? p->state : ""),
                        .rss_bytes = p->rss_bytes,
                        .vsz_bytes = p->vsz_bytes,
                        .cpu_ns = p->cpu_ns,
                        .started_at = client_timestamp_ns(p->started_at),
                        .command = xstrdup(p->command ? p->command : ""),
                };
        }
        *ret = v;
        *ret_n = r->n_processes;
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

void berth_process_infos_free(berth_process_info *v, size_t n) {
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].state);
                free(v[i].command);
        }
        free(v);
}

int berth_container_stats(berth_client *c, const char *id, berth_stats *ret, berr **err) {
        Berth__V1__StatsRequest req = BERTH__V1__STATS_REQUEST__INIT;
        req.id = (char *) id;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/berth.v1.Containers/Stats", &req.base, &berth__v1__stats_response__descriptor, &m,
                         err) < 0)
                return -1;
        Berth__V1__StatsResponse *r = (Berth__V1__StatsResponse *) m;
        *ret = (berth_stats) {
                .read_at = client_timestamp_ns(r->read_at),
                .cpu_usage_ns = r->cpu_usage_ns,
                .system_cpu_ns = r->system_cpu_ns,
                .online_cpus = r->online_cpus,
                .memory_usage = r->memory_usage,
                .memory_limit = r->memory_limit,
                .memory_cache = r->memory_cache,
                .pids_current = r->pids_current,
                .pids_limit = r->pids_limit,
        };
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

double berth_stats_cpu_percent(const berth_stats *prev, const berth_stats *now) {
        /* docker's calculateCPUPercentUnix: container delta / system delta * online CPUs * 100. */
        if (!prev || !now || now->cpu_usage_ns < prev->cpu_usage_ns || now->system_cpu_ns <= prev->system_cpu_ns)
                return 0.0;
        double cpu = (double) (now->cpu_usage_ns - prev->cpu_usage_ns);
        double sys = (double) (now->system_cpu_ns - prev->system_cpu_ns);
        unsigned cpus = now->online_cpus ? now->online_cpus : 1;
        return cpu / sys * cpus * 100.0;
}
