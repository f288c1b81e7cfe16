/* Packing the stats into the google.protobuf.Any that StatsResponse carries. The type URL is the
 * bare message name (no type.googleapis.com/ prefix), which is what containerd's typeurl resolves. */
#include "cgroups/cgroup-stats.h"

static Google__Protobuf__Any *pack_any(const ProtobufCMessage *msg) {
        Google__Protobuf__Any *a = xmalloc(sizeof *a);
        google__protobuf__any__init(a);
        a->type_url = xstrdup(msg->descriptor->name);
        a->value.len = protobuf_c_message_get_packed_size(msg);
        a->value.data = xmalloc(a->value.len ? a->value.len : 1);
        protobuf_c_message_pack(msg, a->value.data);
        return a;
}

int cg_stats_any_for_paths(const cg_paths *p, Google__Protobuf__Any **ret, berr **err) {
        if (p->mode == CG_MODE_UNIFIED) {
                if (!p->unified)
                        return berr_set(err, BERR_FAILED_PRECONDITION, 0, "process has no cgroup2 directory");
                Io__Containerd__Cgroups__V2__Metrics *m = cg_stats_v2(p->unified);
                *ret = pack_any(&m->base);
                io__containerd__cgroups__v2__metrics__free_unpacked(m, NULL);
                return 0;
        }
        if (p->n_v1 == 0)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "process has no cgroup v1 controllers");
        Io__Containerd__Cgroups__V1__Metrics *m = cg_stats_v1(p);
        *ret = pack_any(&m->base);
        io__containerd__cgroups__v1__metrics__free_unpacked(m, NULL);
        return 0;
}

int cg_stats_any_for_pid(pid_t pid, Google__Protobuf__Any **ret, berr **err) {
        _cleanup_cg_paths_ cg_paths *p = NULL;
        if (cg_paths_for_pid(pid, &p, err) < 0)
                return -1;
        return cg_stats_any_for_paths(p, ret, err);
}
