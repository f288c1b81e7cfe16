/* libberth: containers as records (berth.v1.Containers List, Inspect) and the calls that act on one container
 * (Stop, Kill, Delete, Pause, Unpause, Wait). Attached processes are in containers-process.c. */
#include <stdio.h>
#include <string.h>

#include "berth/v1/containers.pb-c.h"
#include "client/client-internal.h"
#include "client/containers-internal.h"
#include "google/protobuf/empty.pb-c.h"

struct berth_container {
        Berth__V1__ContainerInfo *pb; /* owns the strings info points to */
        berth_container_info info;
        char **labels;                /* "k=v", owned */
        const char **command, **env, **mounts; /* pointer arrays into pb */
};

int64_t client_timestamp_ns(const Google__Protobuf__Timestamp *ts) {
        if (!ts)
                return 0;
        return ts->seconds * 1000000000LL + ts->nanos;
}

static const char **strv_view(char **v, size_t n) {
        const char **r = xcalloc(n + 1, sizeof *r);
        for (size_t i = 0; i < n; i++)
                r[i] = v[i];
        return r;
}

static const char *str(const char *s) {
        return s ? s : "";
}

/* Takes pb over. */
static berth_container *container_new(Berth__V1__ContainerInfo *pb) {
        berth_container *ct = xcalloc(1, sizeof *ct);
        ct->pb = pb;
        ct->labels = xcalloc(pb->n_labels + 1, sizeof *ct->labels);
        for (size_t i = 0; i < pb->n_labels; i++)
                ct->labels[i] = xasprintf("%s=%s", str(pb->labels[i]->key), str(pb->labels[i]->value));
        ct->command = strv_view(pb->command, pb->n_command);
        ct->env = strv_view(pb->env, pb->n_env);
        ct->mounts = strv_view(pb->mounts, pb->n_mounts);
        ct->info = (berth_container_info) {
                .id = str(pb->id),
                .name = pb->name && *pb->name ? pb->name : str(pb->id),
                .image = str(pb->image),
                .command = ct->command,
                .created_at = client_timestamp_ns(pb->created_at),
                .started_at = client_timestamp_ns(pb->started_at),
                .finished_at = client_timestamp_ns(pb->finished_at),
                .status = str(pb->status),
                .running = pb->running,
                .paused = pb->paused,
                .restarting = pb->restarting,
                .oom_killed = pb->oom_killed,
                .explicitly_stopped = pb->explicitly_stopped,
                .pid = pb->pid,
                .exit_code = pb->exit_code,
                .restart_policy = pb->restart_policy && *pb->restart_policy ? pb->restart_policy : "no",
                .restart_count = pb->restart_count,
                .labels = (const char *const *) ct->labels,
                .env = ct->env,
                .mounts = ct->mounts,
                .workdir = str(pb->workdir),
                .user = str(pb->user),
                .hostname = str(pb->hostname),
                .runtime = str(pb->runtime),
                .snapshotter = str(pb->snapshotter),
                .snapshot_key = str(pb->snapshot_key),
                .log_dir = str(pb->log_dir),
                .error = str(pb->error),
                .tty = pb->tty,
                .stdin_open = pb->stdin,
                .auto_remove = pb->auto_remove,
                .memory = pb->memory,
                .nano_cpus = pb->nano_cpus,
        };
        return ct;
}

/* A standalone copy of one message of a bigger reply. */
static Berth__V1__ContainerInfo *info_copy(const Berth__V1__ContainerInfo *src) {
        size_t len = berth__v1__container_info__get_packed_size(src);
        _cleanup_free_ uint8_t *buf = xmalloc(len + 1);
        berth__v1__container_info__pack(src, buf);
        Berth__V1__ContainerInfo *r = berth__v1__container_info__unpack(NULL, len, buf);
        if (!r)
                abort(); /* only on OOM: we packed it ourselves */
        return r;
}

int berth_container_get(berth_client *c, const char *id, berth_container **ret, berr **err) {
        Berth__V1__InspectRequest req = BERTH__V1__INSPECT_REQUEST__INIT;
        req.id = (char *) id;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/berth.v1.Containers/Inspect", &req.base, &berth__v1__container_info__descriptor, &m,
                         err) < 0)
                return -1;
        *ret = container_new((Berth__V1__ContainerInfo *) m);
        return 0;
}

static int by_created_desc(const void *a, const void *b) {
        const berth_container *x = *(berth_container *const *) a, *y = *(berth_container *const *) b;
        if (x->info.created_at != y->info.created_at)
                return x->info.created_at < y->info.created_at ? 1 : -1;
        return strcmp(x->info.id, y->info.id);
}

int berth_containers_list(berth_client *c, const char *const *filters, berth_container ***ret, size_t *ret_n,
                          berr **err) {
        size_t n_filters = 0;
        while (filters && filters[n_filters])
                n_filters++;
        Berth__V1__ListRequest req = BERTH__V1__LIST_REQUEST__INIT;
        req.all = true;
        req.filters = (char **) filters;
        req.n_filters = n_filters;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/berth.v1.Containers/List", &req.base, &berth__v1__list_response__descriptor, &m,
                         err) < 0)
                return -1;
        Berth__V1__ListResponse *r = (Berth__V1__ListResponse *) m;
        berth_container **v = xcalloc(r->n_containers + 1, sizeof *v);
        for (size_t i = 0; i < r->n_containers; i++)
                v[i] = container_new(info_copy(r->containers[i]));
        qsort(v, r->n_containers, sizeof *v, by_created_desc);
        *ret_n = r->n_containers;
        *ret = v;
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

void berth_containers_free(berth_container **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                berth_container_free(v[i]);
        free(v);
}

static int call_empty(berth_client *c, const char *method, const ProtobufCMessage *req, berr **err) {
        _cleanup_free_ char *path = xasprintf("/berth.v1.Containers/%s", method);
        ProtobufCMessage *m = NULL;
        if (client_unary(c, path, req, &google__protobuf__empty__descriptor, &m, err) < 0)
                return -1;
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

/* Stop and Wait last as long as the container takes: no client deadline. */
static int call_long(berth_client *c, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret, berr **err) {
        _cleanup_free_ char *path = xasprintf("/berth.v1.Containers/%s", method);
        _cleanup_free_ uint8_t *resp = NULL;
        size_t len = 0;
        if (grpc_client_unary(c->grpc, path, req, 0, &resp, &len, err) < 0)
                return -1;
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, resp);
        if (!m)
                return berr_set(err, BERR_INTERNAL, 0, "%s: cannot decode the reply (%s)", path, desc->name);
        if (ret)
                *ret = m;
        else
                protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

int berth_stop(berth_client *c, const char *id, int timeout_sec, berr **err) {
        Berth__V1__StopRequest req = BERTH__V1__STOP_REQUEST__INIT;
        req.id = (char *) id;
        req.timeout = timeout_sec < 0 ? -1 : timeout_sec;
        return call_long(c, "Stop", &req.base, &google__protobuf__empty__descriptor, NULL, err);
}

int berth_kill_named(berth_client *c, const char *id, const char *signal, berr **err) {
        Berth__V1__KillRequest req = BERTH__V1__KILL_REQUEST__INIT;
        req.id = (char *) id;
        req.signal = (char *) (signal ? signal : "");
        return call_empty(c, "Kill", &req.base, err);
}

int berth_kill(berth_client *c, const char *id, int signo, berr **err) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", signo);
        return berth_kill_named(c, id, signo > 0 ? buf : NULL, err);
}

int berth_container_remove(berth_client *c, const char *id, bool force, berr **err) {
        Berth__V1__DeleteRequest req = BERTH__V1__DELETE_REQUEST__INIT;
        req.id = (char *) id;
        req.force = force;
        /* Removing a running container stops it first: as long as that takes. */
        return call_long(c, "Delete", &req.base, &google__protobuf__empty__descriptor, NULL, err);
}

int berth_delete(berth_client *c, const char *id, berr **err) {
        return berth_container_remove(c, id, true, err);
}

int berth_cleanup(berth_client *c, const char *id, berr **err) {
        _cleanup_berr_ berr *e = NULL;
        if (berth_delete(c, id, &e) == 0 || e->code == BERR_NOT_FOUND)
                return 0;
        *err = TAKE_PTR(e);
        return -1;
}

int berth_pause(berth_client *c, const char *id, berr **err) {
        Berth__V1__PauseRequest req = BERTH__V1__PAUSE_REQUEST__INIT;
        req.id = (char *) id;
        return call_empty(c, "Pause", &req.base, err);
}

int berth_unpause(berth_client *c, const char *id, berr **err) {
        Berth__V1__PauseRequest req = BERTH__V1__PAUSE_REQUEST__INIT;
        req.id = (char *) id;
        return call_empty(c, "Unpause", &req.base, err);
}

int berth_wait(berth_client *c, const char *id, int32_t *ret_code, int64_t *ret_exited_at, berr **err) {
        Berth__V1__WaitRequest req = BERTH__V1__WAIT_REQUEST__INIT;
        req.id = (char *) id;
        ProtobufCMessage *m = NULL;
        if (call_long(c, "Wait", &req.base, &berth__v1__wait_response__descriptor, &m, err) < 0)
                return -1;
        Berth__V1__WaitResponse *r = (Berth__V1__WaitResponse *) m;
        if (ret_code)
                *ret_code = r->exit_code;
        if (ret_exited_at)
                *ret_exited_at = client_timestamp_ns(r->exited_at);
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}

const char *berth_container_id(const berth_container *ct) {
        return ct ? ct->info.id : NULL;
}

const char *berth_container_name(const berth_container *ct) {
        return ct ? ct->info.name : NULL;
}

const char *const *berth_container_labels(const berth_container *ct) {
        return ct ? (const char *const *) ct->labels : NULL;
}

const berth_container_info *berth_container_get_info(const berth_container *ct) {
        return ct ? &ct->info : NULL;
}

berth_container *berth_container_free(berth_container *ct) {
        if (!ct)
                return NULL;
        for (char **l = ct->labels; l && *l; l++)
                free(*l);
        free(ct->labels);
        free(ct->command);
        free(ct->env);
        free(ct->mounts);
        if (ct->pb)
                berth__v1__container_info__free_unpacked(ct->pb, NULL);
        free(ct);
        return NULL;
}
