/* The shim's command line, in Go `flag` syntax as containerd invokes it (shared/protocol/shim-v2.md §3.2, §3.8):
 *   <shim> -namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR] [-socket PATH] [-debug] [start|delete]
 * No action word means "run the server" (how `start` re-executes the binary). */
#pragma once

#include <stdbool.h>

typedef struct shim_args {
        const char *ns;
        const char *address;        /* containerd's gRPC socket path: hashed into the shim socket name */
        const char *publish_binary; /* unused: events go over ttrpc (TTRPC_ADDRESS) */
        const char *id;
        const char *bundle;
        const char *socket;
        bool debug;
        bool version;
        const char *action; /* "start", "delete" or NULL */
} shim_args;

/* Returns 0, or -1 after printing a usage error. Accepts "-flag value", "--flag value", "-flag=value". */
int shim_args_parse(int argc, char **argv, shim_args *ret);
