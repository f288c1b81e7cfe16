/* The shim's actions. */
#pragma once

#include "shim/args.h"

#define SHIM_VERSION "0.1.0"

int shim_start(const shim_args *a);
int shim_delete(const shim_args *a);
/* /run/containerd/s/<sha256(address/ns/group)>, as containerd's shims name their sockets. */
char *shim_socket_path(const char *address, const char *ns, const char *group);
