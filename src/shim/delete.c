/* The `delete` action (shim-v2.md §3.8): containerd runs it after every teardown and when a shim died. It must be
 * idempotent and quick, clean up only this id, and print a bare DeleteResponse. */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/mount.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "shim/options.h"
#include "shim/shim.h"
#include "shim/task.h"

int shim_delete(const shim_args *a) {
        char cwd[PATH_MAX];
        const char *bundle = a->bundle && a->bundle[0] ? a->bundle : getcwd(cwd, sizeof cwd);
        if (!bundle) {
                fprintf(stderr, "cannot determine the bundle directory: %m\n");
                return 1;
        }
        oci_runtime rt;
        berr *err = NULL;
        shim_options_load_runtime(bundle, a->ns, &rt, &err);
        const char *argv[] = { "delete", "--force", a->id, NULL };
        /* runc and crun keep a container's state in <root>/<id>; without it the runtime knows no such container
         * and `delete --force` could only fail. Skipping it matters: after every clean teardown the server has
         * deleted the container already, and the runtime's start-up alone costs 5-40 ms on that path. */
        _cleanup_free_ char *state_dir = xasprintf("%s/%s", rt.root, a->id);
        if (access(state_dir, F_OK) < 0 && errno == ENOENT)
                log_debug("%s: no runtime state, nothing to delete", a->id);
        else if (oci_command(&rt, argv, &err) < 0) {
                /* Usually "container does not exist": the server already deleted it. Still a success. */
                fprintf(stderr, "failed to remove runc container: %s\n", err->msg);
                berr_free(err);
                err = NULL;
        }
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
        if (unmount_all(rootfs, &err) < 0) {
                fprintf(stderr, "failed to unmount %s: %s\n", rootfs, err->msg);
                berr_free(err);
                err = NULL;
        }
        _cleanup_free_ char *pid_file = xasprintf("%s/init.pid", bundle);
        pid_t pid = 0;
        process_read_pid_file(pid_file, &pid, NULL);
        oci_runtime_done(&rt);

        int64_t now = now_realtime_nsec();
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = now / 1000000000;
        ts.nanos = (int32_t) (now % 1000000000);
        Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
        resp.pid = (uint32_t) pid;
        resp.exit_status = 128 + 9; /* the task was killed with the shim, as the runc shim reports */
        resp.exited_at = &ts;
        size_t len = protobuf_c_message_get_packed_size(&resp.base);
        _cleanup_free_ uint8_t *buf = xmalloc(len);
        protobuf_c_message_pack(&resp.base, buf);
        if (write_all(STDOUT_FILENO, buf, len) < 0)
                return 1;
        return 0;
}
