/* Snapshotter front end: directory lifecycle shared by overlayfs and native, dispatching to their vtables. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/strv.h"
#include "basic/topdir.h"
#include "snapshots/snapshotter-internal.h"

static char *const no_capabilities[] = { NULL };

char *snapshot_path(const snapshotter *s, const char *id, const char *sub) {
        return sub ? xasprintf("%s/%s/%s", s->snapshots_dir, id, sub) : xasprintf("%s/%s", s->snapshots_dir, id);
}

void mount_fill(berth_mount *m, const char *type, const char *source, const char *const *options) {
        *m = (berth_mount) { .type = xstrdup(type), .source = xstrdup(source) };
        for (size_t i = 0; options && options[i]; i++)
                mount_add_option(m, xstrdup(options[i]));
}

void mount_add_option(berth_mount *m, char *option_taken) {
        m->options = xrealloc(m->options, (m->n_options + 1) * sizeof(char *));
        m->options[m->n_options++] = option_taken;
}

void berth_mounts_free(berth_mount *mounts, size_t n) {
        for (size_t i = 0; i < n; i++)
                berth_mount_done(&mounts[i]);
        free(mounts);
}

bool snapshot_id_is_valid(const char *id) {
        if (!id || !*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0 || strncmp(id, "new-", 4) == 0 ||
            strncmp(id, "rm-", 3) == 0 || strlen(id) > 200)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                      *p == '_' || *p == '-'))
                        return false;
        return true;
}

static int check_ids(const char *id, char *const *parent_ids, size_t n, berr **err) {
        if (!snapshot_id_is_valid(id))
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "invalid snapshot id \"%s\": invalid argument",
                                id ? id : "");
        for (size_t i = 0; i < n; i++)
                if (!snapshot_id_is_valid(parent_ids[i]))
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL,
                                        "invalid parent snapshot id \"%s\": invalid argument", parent_ids[i]);
        return 0;
}

int snapshotter_open(const char *name, const char *root, snapshotter **ret, berr **err) {
        return snapshotter_open_cached(name, root, NULL, ret, err);
}

int snapshotter_open_cached(const char *name, const char *root, const char *check_cache, snapshotter **ret,
                            berr **err) {
        const snapshotter_ops *ops = NULL;
        if (strcmp(name, "overlayfs") == 0)
                ops = &overlay_ops;
        else if (strcmp(name, "native") == 0)
                ops = &native_ops;
        else
                return berr_set(err, BERR_NOT_FOUND, ENOENT, "snapshotter %s: not found", name);
        snapshotter *s = xcalloc(1, sizeof *s);
        s->ops = ops;
        s->root = xstrdup(root);
        s->snapshots_dir = xasprintf("%s/snapshots", root);
        s->check_cache = check_cache ? xstrdup(check_cache) : NULL;
        if (mkdir_p(root, 0700, err) < 0 || mkdir_p(s->snapshots_dir, 0700, err) < 0 ||
            (ops->init && ops->init(s, err) < 0)) {
                snapshotter_free(s);
                return berr_wrap(err, "snapshotter %s at %s", name, root);
        }
        dir_mark_topdir(s->snapshots_dir); /* each snapshot in a block group of its own (basic/topdir.h) */
        *ret = s;
        return 0;
}

snapshotter *snapshotter_free(snapshotter *s) {
        if (!s)
                return NULL;
        free(s->root);
        free(s->snapshots_dir);
        free(s->check_cache);
        free(s);
        return NULL;
}

const char *snapshotter_name(const snapshotter *s) {
        return s->ops->name;
}

const char *snapshotter_root(const snapshotter *s) {
        return s->root;
}

char *const *snapshotter_capabilities(const snapshotter *s) {
        return no_capabilities;
}

char *snapshotter_fs_path(const snapshotter *s, const char *id) {
        return snapshot_path(s, id, "fs");
}

static void remove_quietly(const char *path) {
        berr *e = NULL;
        if (rm_rf(path, &e) < 0) {
                log_warn("failed to clean up %s: %s", path, e->msg);
                berr_free(e);
        }
}

int snapshotter_prepare(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                        size_t n_parents, berth_mount **ret_mounts, size_t *ret_n, berr **err) {
        if (check_ids(id, parent_ids, n_parents, err) < 0)
                return -1;
        if (kind != SNAPSHOT_KIND_ACTIVE && kind != SNAPSHOT_KIND_VIEW)
                return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "snapshot %s: can only prepare active or view "
                                "snapshots: invalid argument", id);
        _cleanup_free_ char *path = snapshot_path(s, id, NULL);
        struct stat st;
        if (lstat(path, &st) == 0)
                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "snapshot directory %s: already exists", path);
        for (size_t i = 0; i < n_parents; i++) {
                _cleanup_free_ char *pfs = snapshot_path(s, parent_ids[i], "fs");
                if (stat(pfs, &st) < 0 || !S_ISDIR(st.st_mode))
                        return berr_set(err, BERR_NOT_FOUND, ENOENT, "parent snapshot %s has no directory %s: not found",
                                        parent_ids[i], pfs);
        }
        if (s->ops->needs_dir(kind, n_parents)) {
                _cleanup_free_ char *td = xasprintf("%s/new-XXXXXX", s->snapshots_dir);
                if (!mkdtemp(td))
                        return berr_errno(err, errno, "failed to create temp dir in %s", s->snapshots_dir);
                if (chmod(td, 0755) < 0) {
                        berr_errno(err, errno, "chmod %s", td);
                        remove_quietly(td);
                        return -1;
                }
                if (s->ops->populate(s, td, kind, parent_ids, n_parents, err) < 0) {
                        remove_quietly(td);
                        return berr_wrap(err, "prepare snapshot %s", id);
                }
                if (rename(td, path) < 0) {
                        int saved = errno;
                        remove_quietly(td);
                        if (saved == EEXIST || saved == ENOTEMPTY)
                                return berr_set(err, BERR_ALREADY_EXISTS, EEXIST,
                                                "snapshot directory %s: already exists", path);
                        return berr_errno(err, saved, "failed to rename %s to %s", td, path);
                }
        }
        if (s->ops->mounts(s, id, kind, parent_ids, n_parents, ret_mounts, ret_n, err) < 0) {
                remove_quietly(path);
                return -1;
        }
        return 0;
}

int snapshotter_mounts(snapshotter *s, const char *id, snapshot_kind kind, char *const *parent_ids,
                       size_t n_parents, berth_mount **ret_mounts, size_t *ret_n, berr **err) {
        if (check_ids(id, parent_ids, n_parents, err) < 0)
                return -1;
        return s->ops->mounts(s, id, kind, parent_ids, n_parents, ret_mounts, ret_n, err);
}

int snapshotter_usage(snapshotter *s, const char *id, snapshot_usage *ret, berr **err) {
        if (check_ids(id, NULL, 0, err) < 0)
                return -1;
        _cleanup_free_ char *fs = snapshot_path(s, id, "fs");
        struct stat st;
        if (lstat(fs, &st) < 0 && errno == ENOENT) {
                *ret = (snapshot_usage) { 0 };
                return 0;
        }
        return disk_usage(fs, ret, err);
}

int snapshotter_commit(snapshotter *s, const char *id, snapshot_usage *ret_usage, berr **err) {
        if (check_ids(id, NULL, 0, err) < 0)
                return -1;
        _cleanup_free_ char *fs = snapshot_path(s, id, "fs");
        snapshot_usage u;
        if (disk_usage(fs, &u, err) < 0)
                return berr_wrap(err, "commit snapshot %s", id);
        if (s->ops->commit && s->ops->commit(s, id, err) < 0)
                return berr_wrap(err, "commit snapshot %s", id);
        if (ret_usage)
                *ret_usage = u;
        return 0;
}

int snapshotter_remove(snapshotter *s, const char *id, berr **err) {
        if (check_ids(id, NULL, 0, err) < 0)
                return -1;
        _cleanup_free_ char *path = snapshot_path(s, id, NULL);
        _cleanup_free_ char *renamed = xasprintf("%s/rm-%s", s->snapshots_dir, id);
        /* Rename first so a half-deleted tree is never mistaken for the snapshot (and Cleanup finishes it). */
        if (rename(path, renamed) < 0) {
                if (errno == ENOENT)
                        return 0;
                return berr_errno(err, errno, "failed to rename %s", path);
        }
        if (rm_rf(renamed, err) < 0)
                return berr_wrap(err, "remove snapshot %s", id);
        return 0;
}

int snapshotter_cleanup(snapshotter *s, char *const *live_ids, size_t n_live, berr **err) {
        DIR *d = opendir(s->snapshots_dir);
        if (!d)
                return berr_errno(err, errno, "open %s", s->snapshots_dir);
        _cleanup_strv_free_ char **doomed = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                bool live = false;
                for (size_t i = 0; i < n_live && !live; i++)
                        live = strcmp(live_ids[i], de->d_name) == 0;
                if (!live)
                        strv_push(&doomed, xasprintf("%s/%s", s->snapshots_dir, de->d_name));
        }
        closedir(d);
        for (size_t i = 0; doomed && doomed[i]; i++)
                remove_quietly(doomed[i]);
        return 0;
}
