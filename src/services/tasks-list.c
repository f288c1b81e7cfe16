/* Tasks.List and Tasks.Metrics: one State (2 s) or Stats call per task of the namespace, all in flight at once; the
 * reply goes out when the last one answered. A task whose shim fails is left out (NOT_FOUND: it is going away) or,
 * for List, shown with status UNKNOWN, as containerd does. */
#include <string.h>

#include "basic/log.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "containerd/types/metrics.pb-c.h"
#include "metadata/filters.h"
#include "services/common.h"
#include "services/tasks-internal.h"

typedef struct fanout {
        grpc_call *call;
        size_t n, pending;
        bool started; /* all calls sent: the last reply may answer */
        /* List */
        Containerd__V1__Types__Process *procs;
        Google__Protobuf__Timestamp *times;
        bool *have;
        /* Metrics */
        Containerd__Types__Metric *metrics;
        Google__Protobuf__Any *data;
} fanout;

typedef struct slot {
        fanout *f;
        size_t i;
} slot;

/* Initialised messages point their strings at protobuf-c's shared empty string; only ours are freed. */
static void free_str(char *s) {
        if (s != protobuf_c_empty_string)
                free(s);
}

static void fanout_free(fanout *f) {
        for (size_t i = 0; i < f->n; i++) {
                if (f->procs) {
                        free_str(f->procs[i].id);
                        free_str(f->procs[i].stdin);
                        free_str(f->procs[i].stdout);
                        free_str(f->procs[i].stderr);
                }
                if (f->metrics) {
                        free_str(f->metrics[i].id);
                        free_str(f->data[i].type_url);
                        free(f->data[i].value.data);
                }
        }
        free(f->procs);
        free(f->times);
        free(f->have);
        free(f->metrics);
        free(f->data);
        free(f);
}

static void list_reply(fanout *f) {
        Containerd__Services__Tasks__V1__ListTasksResponse resp =
                CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_RESPONSE__INIT;
        _cleanup_free_ Containerd__V1__Types__Process **v = xcalloc(f->n + 1, sizeof *v);
        for (size_t i = 0; i < f->n; i++)
                if (f->have[i])
                        v[resp.n_tasks++] = &f->procs[i];
        resp.tasks = v;
        grpc_call_reply(f->call, &resp.base);
        fanout_free(f);
}

static void on_list_state(rt_task *t, const berr *e, const rt_state *s, void *userdata) {
        slot *sl = userdata;
        fanout *f = sl->f;
        size_t i = sl->i;
        free(sl);
        if (e && (e->code == BERR_NOT_FOUND || e->code == BERR_UNAVAILABLE)) {
                /* racing with a delete or a dying shim: leave it out */
        } else {
                Containerd__V1__Types__Process *p = &f->procs[i];
                p->id = xstrdup(rt_task_id(t));
                if (e)
                        log_error("get state for %s: %s", rt_task_id(t), e->msg);
                else {
                        p->pid = s->pid;
                        p->status = (Containerd__V1__Types__Status) s->status;
                        p->stdin = xstrdup(s->stdin_path ? s->stdin_path : "");
                        p->stdout = xstrdup(s->stdout_path ? s->stdout_path : "");
                        p->stderr = xstrdup(s->stderr_path ? s->stderr_path : "");
                        p->terminal = s->terminal;
                        p->exit_status = s->exit_status;
                }
                tasks_exited_at(&f->times[i], e ? 0 : s->exited_at);
                p->exited_at = &f->times[i];
                f->have[i] = true;
        }
        if (--f->pending == 0 && f->started)
                list_reply(f);
}

void tasks_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Tasks__V1__ListTasksRequest *req = service_decode(
                call, &containerd__services__tasks__v1__list_tasks_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        if (!ns) {
                service_finish_error(call, e);
                return;
        }
        _cleanup_free_ rt_task **tasks = NULL;
        size_t n = ctx->runtime ? runtime_task_list(ctx->runtime, ns, &tasks) : 0;
        fanout *f = xcalloc(1, sizeof *f);
        f->call = call;
        f->n = n;
        f->procs = xcalloc(n + 1, sizeof *f->procs);
        f->times = xcalloc(n + 1, sizeof *f->times);
        f->have = xcalloc(n + 1, sizeof *f->have);
        for (size_t i = 0; i < n; i++) {
                containerd__v1__types__process__init(&f->procs[i]);
                slot *sl = xmalloc(sizeof *sl);
                *sl = (slot) { .f = f, .i = i };
                f->pending++;
                if (rt_task_state(tasks[i], NULL, on_list_state, sl, NULL) < 0) {
                        free(sl);
                        f->pending--;
                }
        }
        f->started = true;
        if (f->pending == 0)
                list_reply(f);
}

/* ---- Metrics ---- */

typedef struct task_fields {
        const char *id, *ns;
} task_fields;

static const char *task_field(const char *const *path, size_t n, void *obj) {
        task_fields *tf = obj;
        if (n != 1)
                return NULL;
        if (strcmp(path[0], "id") == 0)
                return tf->id;
        if (strcmp(path[0], "namespace") == 0)
                return tf->ns;
        return NULL;
}

static void metrics_reply(fanout *f) {
        Containerd__Services__Tasks__V1__MetricsResponse resp =
                CONTAINERD__SERVICES__TASKS__V1__METRICS_RESPONSE__INIT;
        _cleanup_free_ Containerd__Types__Metric **v = xcalloc(f->n + 1, sizeof *v);
        for (size_t i = 0; i < f->n; i++)
                if (f->have[i])
                        v[resp.n_metrics++] = &f->metrics[i];
        resp.metrics = v;
        grpc_call_reply(f->call, &resp.base);
        fanout_free(f);
}

static void on_stats(rt_task *t, const berr *e, const uint8_t *p, size_t len, void *userdata) {
        slot *sl = userdata;
        fanout *f = sl->f;
        size_t i = sl->i;
        free(sl);
        Containerd__Task__V2__StatsResponse *r =
                e ? NULL : containerd__task__v2__stats_response__unpack(NULL, len, p);
        if (e && e->code != BERR_NOT_FOUND && e->code != BERR_UNAVAILABLE)
                log_error("collecting metrics for %s: %s", rt_task_id(t), e->msg);
        if (r && r->stats) {
                Containerd__Types__Metric *m = &f->metrics[i];
                m->id = xstrdup(rt_task_id(t));
                f->data[i].type_url = xstrdup(r->stats->type_url);
                f->data[i].value.len = r->stats->value.len;
                f->data[i].value.data = xmalloc(r->stats->value.len + 1);
                memcpy(f->data[i].value.data, r->stats->value.data, r->stats->value.len);
                m->data = &f->data[i];
                f->have[i] = true;
        }
        if (r)
                containerd__task__v2__stats_response__free_unpacked(r, NULL);
        if (--f->pending == 0 && f->started)
                metrics_reply(f);
}

void tasks_metrics(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Tasks__V1__MetricsRequest *req = service_decode(
                call, &containerd__services__tasks__v1__metrics_request__descriptor, msg, len);
        if (!req)
                return;
        berr *e = NULL;
        const char *ns = service_namespace(call, &e);
        _cleanup_meta_filter_ meta_filter *filter = NULL;
        if (!ns || meta_filter_parse((const char *const *) req->filters, req->n_filters, &filter, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        _cleanup_free_ rt_task **tasks = NULL;
        size_t n = ctx->runtime ? runtime_task_list(ctx->runtime, ns, &tasks) : 0;
        fanout *f = xcalloc(1, sizeof *f);
        f->call = call;
        f->n = n;
        f->metrics = xcalloc(n + 1, sizeof *f->metrics);
        f->data = xcalloc(n + 1, sizeof *f->data);
        f->times = xcalloc(n + 1, sizeof *f->times);
        f->have = xcalloc(n + 1, sizeof *f->have);
        int64_t collected = now_realtime_nsec();
        for (size_t i = 0; i < n; i++) {
                containerd__types__metric__init(&f->metrics[i]);
                google__protobuf__any__init(&f->data[i]);
                service_timestamp_set(&f->times[i], collected);
                f->metrics[i].timestamp = &f->times[i];
                task_fields tf = { .id = rt_task_id(tasks[i]), .ns = ns };
                if (!meta_filter_match(filter, task_field, &tf))
                        continue;
                Containerd__Task__V2__StatsRequest r = CONTAINERD__TASK__V2__STATS_REQUEST__INIT;
                r.id = (char *) rt_task_id(tasks[i]);
                slot *sl = xmalloc(sizeof *sl);
                *sl = (slot) { .f = f, .i = i };
                f->pending++;
                if (rt_task_call(tasks[i], "Stats", &r.base, 0, on_stats, sl, NULL) < 0) {
                        free(sl);
                        f->pending--;
                }
        }
        f->started = true;
        if (f->pending == 0)
                metrics_reply(f);
}
