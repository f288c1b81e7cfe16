/* Layer application driver: source -> libarchive -> extractor, plus media types and mount targets. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>

#include "basic/strv.h"
#include "images/apply-extract.h"
#include "images/apply-internal.h"
#include "images/archive-lib.h"

static const struct {
        const char *media_type;
        apply_compression compression;
} media_types[] = {
        { "application/vnd.oci.image.layer.v1.tar", APPLY_COMPRESSION_NONE },
        { "application/vnd.oci.image.layer.v1.tar+gzip", APPLY_COMPRESSION_GZIP },
        { "application/vnd.oci.image.layer.v1.tar+zstd", APPLY_COMPRESSION_ZSTD },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar", APPLY_COMPRESSION_NONE },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", APPLY_COMPRESSION_GZIP },
        { "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", APPLY_COMPRESSION_ZSTD },
        { "application/vnd.docker.image.rootfs.diff.tar", APPLY_COMPRESSION_NONE },
        { "application/vnd.docker.image.rootfs.diff.tar.gzip", APPLY_COMPRESSION_GZIP },
        { "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", APPLY_COMPRESSION_GZIP },
};

int apply_compression_from_media_type(const char *media_type, apply_compression *ret, berr **err) {
        for (size_t i = 0; i < ELEMENTSOF(media_types); i++)
                if (media_type && strcmp(media_type, media_types[i].media_type) == 0) {
                        *ret = media_types[i].compression;
                        return 0;
                }
        return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP,
                        "failed to get stream processor for %s: no processor for media-type: not implemented",
                        media_type ? media_type : "");
}

static la_ssize_t archive_read_cb(struct archive *a, void *userdata, const void **buf) {
        layer_source *src = userdata;
        ssize_t n = layer_source_next(src, buf);
        if (n < 0) {
                archive_set_error(a, src->err->errnum > 0 ? src->err->errnum : EIO, "%s", src->err->msg);
                return -1;
        }
        return n;
}

/* The reason a libarchive call failed: our source's own error if the read failed, else libarchive's text. */
static int archive_failure(struct archive *a, layer_source *src, const char *what, berr **err) {
        if (src->err)
                return berr_set(err, src->err->code, src->err->errnum, "%s", src->err->msg);
        return berr_set(err, BERR_INVALID_ARGUMENT, archive_errno(a) > 0 ? archive_errno(a) : EINVAL,
                        "%s: %s: invalid argument", what, archive_error_string(a) ? archive_error_string(a) : "error");
}

static int extract(int root_fd, layer_source *src, const apply_options *opts, berr **err) {
        if (archive_lib_load(err) < 0)
                return -1;
        struct archive *a = archive_read_new();
        if (!a)
                abort();
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        /* A zero-length layer is a valid empty layer, as for Go's tar reader. */
        archive_read_support_format_empty(a);
        extractor *x = extractor_new(root_fd, opts);
        int r = 0;
        if (archive_read_open(a, src, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
                r = archive_failure(a, src, "invalid layer", err);
        while (r == 0) {
                struct archive_entry *e;
                int ar = archive_read_next_header(a, &e);
                if (ar == ARCHIVE_EOF)
                        break;
                if (ar < ARCHIVE_WARN) {
                        r = archive_failure(a, src, "invalid tar header", err);
                        break;
                }
                r = extractor_entry(x, a, e, err);
        }
        if (r == 0)
                r = extractor_finish(x, err);
        else if (src->err)
                /* A failed read surfaces in libarchive's words; the source knows the real reason. */
                berr_set(err, src->err->code, src->err->errnum, "%s", src->err->msg);
        extractor_free(x);
        archive_read_free(a);
        return r;
}

int apply_layer(int root_fd, apply_read_fn fn, void *userdata, const apply_options *opts, apply_result *ret,
                berr **err) {
        static const apply_options defaults = { 0 };
        if (!opts)
                opts = &defaults;
        layer_source src;
        if (layer_source_init(&src, fn, userdata, opts->compression, !opts->compressed_verified, err) < 0)
                return -1;
        int r = extract(root_fd, &src, opts, err);
        if (r == 0)
                r = layer_source_drain(&src, err);
        if (r == 0 && ret)
                layer_source_result(&src, ret);
        layer_source_done(&src);
        return r;
}

static ssize_t fd_read(void *userdata, void *buf, size_t len) {
        return read(*(int *) userdata, buf, len);
}

int apply_layer_fd(int root_fd, int fd, const apply_options *opts, apply_result *ret, berr **err) {
        return apply_layer(root_fd, fd_read, &fd, opts, ret, err);
}

int layer_diff_id(apply_read_fn fn, void *userdata, apply_compression compression, apply_result *ret, berr **err) {
        layer_source src;
        if (layer_source_init(&src, fn, userdata, compression, true, err) < 0)
                return -1;
        int r = layer_source_drain(&src, err);
        if (r == 0)
                layer_source_result(&src, ret);
        layer_source_done(&src);
        return r;
}

void apply_target_done(apply_target *t) {
        if (!t)
                return;
        safe_close(t->root_fd);
        for (size_t i = 0; i < t->n_parent_fds; i++)
                safe_close(t->parent_fds[i]);
        free(t->parent_fds);
        *t = (apply_target) { .root_fd = -1 };
}

apply_options apply_target_options(const apply_target *t, bool allow_devices) {
        return (apply_options) {
                .whiteouts = t->whiteouts,
                .allow_devices = allow_devices,
                .parent_fds = t->parent_fds,
                .n_parent_fds = t->n_parent_fds,
        };
}

static int open_dir(const char *path, int *ret, berr **err) {
        *ret = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*ret < 0)
                return berr_errno(err, errno, "open %s", path);
        return 0;
}

int apply_target_from_mounts(const berth_mount *mounts, size_t n, apply_target *ret, berr **err) {
        apply_target t = { .root_fd = -1 };
        if (n != 1 || !mounts[0].type)
                return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP,
                                "cannot apply a layer onto %zu mounts: not implemented", n);
        const berth_mount *m = &mounts[0];
        if (strcmp(m->type, "overlay") == 0) {
                const char *upper = NULL, *lower = NULL;
                for (size_t i = 0; i < m->n_options; i++) {
                        if (strncmp(m->options[i], "upperdir=", 9) == 0)
                                upper = m->options[i] + 9;
                        else if (strncmp(m->options[i], "lowerdir=", 9) == 0)
                                lower = m->options[i] + 9;
                }
                if (!upper)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "upperdir not found: invalid argument");
                if (open_dir(upper, &t.root_fd, err) < 0)
                        return -1;
                t.whiteouts = APPLY_WHITEOUT_OVERLAY;
                _cleanup_strv_free_ char **lowers = lower ? strv_split(lower, ':') : NULL;
                for (size_t i = 0; lowers && lowers[i]; i++) {
                        t.parent_fds = xrealloc(t.parent_fds, (t.n_parent_fds + 1) * sizeof(int));
                        if (open_dir(lowers[i], &t.parent_fds[t.n_parent_fds], err) < 0) {
                                apply_target_done(&t);
                                return -1;
                        }
                        t.n_parent_fds++;
                }
        } else if (strcmp(m->type, "bind") == 0 || strcmp(m->type, "rbind") == 0) {
                for (size_t i = 0; i < m->n_options; i++)
                        if (strcmp(m->options[i], "ro") == 0)
                                return berr_set(err, BERR_INVALID_ARGUMENT, EROFS,
                                                "cannot apply a layer onto read-only mount %s: invalid argument",
                                                m->source ? m->source : "");
                if (!m->source || open_dir(m->source, &t.root_fd, err) < 0)
                        return m->source ? -1 : berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "bind mount without source");
                t.whiteouts = APPLY_WHITEOUT_DELETE;
        } else
                return berr_set(err, BERR_UNIMPLEMENTED, EOPNOTSUPP,
                                "cannot apply a layer onto a %s mount: not implemented", m->type);
        *ret = t;
        return 0;
}
