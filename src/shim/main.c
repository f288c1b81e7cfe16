/* containerd-shim-berth-v2: a containerd runtime v2 shim (runtime name io.containerd.berth.v2). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "basic/identifier.h"
#include "basic/log.h"
#include "shim/sealed-runtime.h"
#include "shim/shim.h"
#include "shim/task.h"

int main(int argc, char **argv) {
        shim_args a;
        if (shim_args_parse(argc, argv, &a) < 0)
                return 2;
        if (a.version) {
                printf("containerd-shim-berth-v2:\n  Version: %s\n  Revision: berth\n  Go version: none (C)\n",
                       SHIM_VERSION);
                return 0;
        }
        if (!a.ns[0] || !identifier_is_valid(a.ns)) {
                fprintf(a.action && strcmp(a.action, "start") == 0 ? stdout : stderr,
                        "io.containerd.berth.v2: invalid or missing -namespace \"%s\"", a.ns);
                return 1;
        }
        if (!a.id[0]) {
                fprintf(stderr, "io.containerd.berth.v2: -id is required\n");
                return 1;
        }
        /* Every invocation is a child subreaper, as containerd's shim library does before dispatching: processes the
         * OCI runtime double-forks (the container's init) are re-parented to us, so we see their exit. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (a.action && strcmp(a.action, "start") == 0)
                return shim_start(&a);
        if (a.action && strcmp(a.action, "delete") == 0)
                return shim_delete(&a);
        shim_sealed_runtime_init();
        return shim_server_run(a.ns, a.id, getenv("BERTH_SHIM_SOCKET"), 3, a.debug);
}
