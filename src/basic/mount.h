/* Mounting the way containerd's mount package does it (mount/mount_linux.go), so a rootfs described by a
 * snapshotter mounts identically under berth: fstab-style option words become MS_* flags, the rest becomes
 * the data string, propagation is applied in a second mount(2), bind+ro gets the read-only remount, and an
 * overlay whose options approach one page is mounted with lowerdirs relative to their common parent. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

/* One entry of CreateTaskRequest.rootfs (containerd.types.Mount). */
typedef struct berth_mount {
        char *type;
        char *source;
        /* Optional subdirectory of the mount point to mount onto (containerd 2.x Mount.Target); NULL or ""
         * means the mount point itself. Must be relative and free of "..". */
        char *target;
        char **options;
        size_t n_options;
} berth_mount;

/* Frees the members (not m itself); accepts a zeroed struct. */
void berth_mount_done(berth_mount *m);

/* Splits option words into mount(2) flags (MS_RDONLY, MS_BIND, MS_BIND|MS_REC for rbind, ...), the
 * propagation flags (MS_SHARED/MS_PRIVATE/MS_SLAVE/MS_UNBINDABLE, with MS_REC for the r* forms; the last
 * propagation word wins), and everything else joined with ',' into *ret_data (always a new string, possibly
 * ""). "loop" sets *ret_loop. Clearing words (rw, suid, dev, exec, atime, ...) clear what came before them,
 * in order, as containerd does. Any ret_ pointer may be NULL. */
int mount_options_parse(char *const *options, size_t n, unsigned long *ret_flags, unsigned long *ret_propagation,
                        char **ret_data, bool *ret_loop, berr **err);

/* containerd's compactLowerdirOption over a data string: if data is at least pagesize-512 bytes and its
 * first lowerdir= option lists two or more dirs sharing a parent other than "/", returns the data with that
 * option moved to the end holding paths relative to that parent, and the parent (with a trailing '/') in
 * *ret_chdir. Otherwise *ret_data is a copy of data and *ret_chdir is NULL. */
int overlay_compact_lowerdirs(const char *data, char **ret_data, char **ret_chdir, berr **err);

/* Mounts m at target (joined with m->target if set). Overlay lowerdir compaction mounts from a forked child
 * that fchdir()s into the common parent, so the caller's cwd never changes, not even for a moment.
 * fuse.*, fuse3.* types and the "loop" option are not supported (BERR_UNIMPLEMENTED). */
int mount_apply(const berth_mount *m, const char *target, berr **err);

/* Mounts all n entries in order onto target. If one fails, the ones already mounted are detached again
 * (newest first) and the error names the failing entry. */
int mount_apply_all(const berth_mount *mounts, size_t n, const char *target, berr **err);

/* Unmounts everything mounted at or below target, deepest first (stacked mounts newest first), as listed in
 * /proc/self/mountinfo; a mount that is busy is detached lazily (MNT_DETACH). Symlinks in target are resolved
 * first, the mount points themselves are never followed. Nothing mounted, or target missing: success.
 * target "/" is refused. */
int unmount_all(const char *target, berr **err);
