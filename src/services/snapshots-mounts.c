#include <string.h>

#include "services/snapshots-mounts.h"

Containerd__Types__Mount **service_mounts_to_pb(const berth_mount *mounts, size_t n) {
        if (n == 0)
                return NULL;
        Containerd__Types__Mount **v = xcalloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++) {
                Containerd__Types__Mount *m = xmalloc(sizeof *m);
                containerd__types__mount__init(m);
                m->type = mounts[i].type ? mounts[i].type : (char *) "";
                m->source = mounts[i].source ? mounts[i].source : (char *) "";
                m->target = mounts[i].target ? mounts[i].target : (char *) "";
                m->options = mounts[i].options;
                m->n_options = mounts[i].n_options;
                v[i] = m;
        }
        return v;
}

void service_mounts_pb_free(Containerd__Types__Mount **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

void service_mounts_from_pb(Containerd__Types__Mount *const *v, size_t n, berth_mount **ret) {
        *ret = NULL;
        if (n == 0)
                return;
        berth_mount *mounts = xcalloc(n, sizeof *mounts);
        for (size_t i = 0; i < n; i++) {
                const Containerd__Types__Mount *m = v[i];
                mounts[i].type = xstrdup(m->type ? m->type : "");
                mounts[i].source = xstrdup(m->source ? m->source : "");
                mounts[i].target = m->target && *m->target ? xstrdup(m->target) : NULL;
                mounts[i].n_options = m->n_options;
                mounts[i].options = xcalloc(m->n_options + 1, sizeof(char *));
                for (size_t j = 0; j < m->n_options; j++)
                        mounts[i].options[j] = xstrdup(m->options[j] ? m->options[j] : "");
        }
        *ret = mounts;
}
