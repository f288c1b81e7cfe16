/* libberth: the container side of the Runtime interface. Declared now so programs can be written against the
 * whole API; berthd serves containers in the next release, until then every call answers UNIMPLEMENTED. */
#include "client/client-internal.h"

struct berth_container {
        char *id;
        char *name;
        char **labels;
};

static int not_yet(berr **err, const char *what) {
        return berr_set(err, BERR_UNIMPLEMENTED, 0, "%s: not implemented yet", what);
}

int berth_run(berth_client *c, const char *image, const berth_run_opts *opts, berth_container **ret, berr **err) {
        return not_yet(err, "run");
}

int berth_stop(berth_client *c, const char *id, uint32_t timeout_sec, berr **err) {
        return not_yet(err, "stop");
}

int berth_kill(berth_client *c, const char *id, int signo, berr **err) {
        return not_yet(err, "kill");
}

int berth_delete(berth_client *c, const char *id, berr **err) {
        return not_yet(err, "delete");
}

int berth_cleanup(berth_client *c, const char *id, berr **err) {
        return not_yet(err, "cleanup");
}

int berth_containers_list(berth_client *c, const char *const *filters, berth_container ***ret, size_t *ret_n,
                          berr **err) {
        return not_yet(err, "list containers");
}

int berth_container_get(berth_client *c, const char *id, berth_container **ret, berr **err) {
        return not_yet(err, "get container");
}

int berth_container_io(berth_client *c, const char *id, int *ret_stdout, int *ret_stderr, berr **err) {
        return not_yet(err, "container io");
}

const char *berth_container_id(const berth_container *ct) {
        return ct ? ct->id : NULL;
}

const char *berth_container_name(const berth_container *ct) {
        return ct ? ct->name : NULL;
}

const char *const *berth_container_labels(const berth_container *ct) {
        return ct ? (const char *const *) ct->labels : NULL;
}

berth_container *berth_container_free(berth_container *ct) {
        if (!ct)
                return NULL;
        free(ct->id);
        free(ct->name);
        for (char **l = ct->labels; l && *l; l++)
                free(*l);
        free(ct->labels);
        free(ct);
        return NULL;
}
