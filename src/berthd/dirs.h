/* berthd's hold on its directories: creating them with the right modes, one daemon per root and per state
 * directory (an flock'ed berthd.lock in each), a socket address nobody else is serving, and the persistent
 * server uuid introspection reports. */
#pragma once

#include <sys/types.h>

#include "basic/error.h"

#define BERTHD_LOCK_NAME "berthd.lock"

/* Creates path with its parents; a directory made here gets exactly mode (umask aside), an existing one is left
 * as it is. */
int berthd_make_dir(const char *path, mode_t mode, berr **err);

/* Takes an exclusive, non-blocking flock on <dir>/berthd.lock and writes our pid into it; returns the fd, which
 * holds the lock until closed. Another live holder: FAILED_PRECONDITION naming what (e.g. "root"), the directory
 * and the holder's pid. */
int berthd_lock_dir(const char *dir, const char *what, berr **err);

/* ALREADY_EXISTS if a process accepts connections on the unix socket path (a stale socket file is fine: the
 * listener replaces it). */
int berthd_check_address_free(const char *path, berr **err);

/* The server uuid kept in <root>/uuid, created (random, version 4) on first use. */
int berthd_load_uuid(const char *root, char **ret, berr **err);
