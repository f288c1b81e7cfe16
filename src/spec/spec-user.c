/* User resolution against an image's /etc/passwd and /etc/group, with containerd's rules (oci/spec_opts.go
 * WithUser, WithUserID, WithUsername, WithAdditionalGIDs, ensureAdditionalGids). The image is untrusted: its
 * files are opened with RESOLVE_IN_ROOT so "/etc/passwd -> /../../host/etc/passwd" stays inside the rootfs. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "spec/spec-internal.h"
#include "basic/fileio.h"
#include "basic/strv.h"

/* An /etc/passwd larger than this is not an image file we want to parse. */
#define USER_DB_MAX (8 * 1024 * 1024)

/* passwd: name:x:uid:gid:..., group: name:x:gid:members. */
#define FIELD_UID 2
#define FIELD_GID_PASSWD 3
#define FIELD_GID_GROUP 2

void spec_user_done(spec_user *u) {
        if (!u)
                return;
        free(u->additional_gids);
        *u = (spec_user) {};
}

/* runc's (and so containerd's) limit: ids up to MaxInt32. Anything else is a name. */
static bool parse_id(const char *s, uint32_t *ret) {
        if (!*s || strlen(s) > 10)
                return false;
        uint64_t v = 0;
        for (const char *p = s; *p; p++) {
                if (!isdigit((unsigned char) *p))
                        return false;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (v > INT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

static void gids_add(spec_user *u, uint32_t gid) {
        u->additional_gids = xrealloc(u->additional_gids, (u->n_additional_gids + 1) * sizeof(uint32_t));
        u->additional_gids[u->n_additional_gids++] = gid;
}

/* ensureAdditionalGids: the primary gid goes first unless it is listed already. */
static void gids_ensure_primary(spec_user *u) {
        for (size_t i = 0; i < u->n_additional_gids; i++)
                if (u->additional_gids[i] == u->gid)
                        return;
        u->additional_gids = xrealloc(u->additional_gids, (u->n_additional_gids + 1) * sizeof(uint32_t));
        memmove(u->additional_gids + 1, u->additional_gids, u->n_additional_gids * sizeof(uint32_t));
        u->additional_gids[0] = u->gid;
        u->n_additional_gids++;
}

int spec_user_parse_numeric(const char *user, spec_user *ret, berr **err) {
        spec_user u = {};
        const char *s = user ? user : "";
        if (*s) {
                _cleanup_strv_free_ char **parts = strv_split(s, ':');
                size_t n = strv_length(parts);
                if (n > 2)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid user '%s'", s);
                if (!parse_id(parts[0], &u.uid) || (n == 2 && !parse_id(parts[1], &u.gid)))
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "user '%s' is not numeric (uid[:gid]); names need the image's rootfs",
                                        s);
        }
        gids_ensure_primary(&u);
        *ret = u;
        return 0;
}

/* Opens etc/<name> below rootfd without leaving it. ENOENT is returned as -1 with *ret_missing set. */
static int open_in_root(int rootfd, const char *name, int *ret_fd, bool *ret_missing, berr **err) {
        _cleanup_free_ char *path = xasprintf("etc/%s", name);
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        if (fd < 0 && errno == ENOSYS) {
                /* Old kernel: refuse symlinks instead of resolving them inside the root. */
                _cleanup_close_ int etc = openat(rootfd, "etc", O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
                fd = etc < 0 ? -1 : openat(etc, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        }
        *ret_missing = false;
        if (fd < 0) {
                if (errno == ENOENT || errno == ENOTDIR) {
                        *ret_missing = true;
                        return -1;
                }
                return berr_errno(err, errno, "cannot open the image's /etc/%s", name);
        }
        *ret_fd = fd;
        return 0;
}

/* Reads the image's etc/<name> into a NUL-terminated buffer. *ret = NULL when the file does not exist. */
static int read_user_db(int rootfd, const char *name, char **ret, berr **err) {
        _cleanup_close_ int fd = -1;
        bool missing;
        *ret = NULL;
        if (open_in_root(rootfd, name, &fd, &missing, err) < 0)
                return missing ? 0 : -1;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return berr_errno(err, errno, "cannot stat the image's /etc/%s", name);
        if (!S_ISREG(st.st_mode))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "the image's /etc/%s is not a regular file", name);
        if (st.st_size > USER_DB_MAX)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "the image's /etc/%s is too large", name);
        _cleanup_free_ char *buf = xmalloc((size_t) st.st_size + 1);
        ssize_t n = read_all(fd, buf, (size_t) st.st_size);
        if (n < 0)
                return berr_errno(err, errno, "cannot read the image's /etc/%s", name);
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Calls match(entry) for each well-formed line (at least min_fields fields, not a comment) until it
 * returns true; returns that entry's fields (caller frees) or NULL. */
static char **db_find(const char *db, size_t min_fields, bool (*match)(char **f, const void *key), const void *key) {
        if (!db)
                return NULL;
        for (const char *line = db; *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *copy = xstrndup(line, len);
                line += len + (line[len] == '\n');
                /* libcontainer's parser trims spaces and skips blank and '#' lines. */
                char *t = copy;
                while (isspace((unsigned char) *t))
                        t++;
                if (!*t || *t == '#')
                        continue;
                char **f = strv_split(t, ':');
                if (strv_length(f) >= min_fields && match(f, key))
                        return f;
                strv_free(f);
        }
        return NULL;
}

static bool match_name(char **f, const void *key) {
        return streq(f[0], (const char *) key);
}

static bool match_uid(char **f, const void *key) {
        uint32_t id;
        return parse_id(f[FIELD_UID], &id) && id == *(const uint32_t *) key;
}

static int entry_id(char **f, size_t field, const char *what, const char *name, uint32_t *ret, berr **err) {
        if (!parse_id(f[field], ret))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "the image's %s entry for '%s' has an invalid id",
                                what, name);
        return 0;
}

/* WithAdditionalGIDs: every group that lists username as a member, except a group of the same name. */
static void add_supplementary_groups(const char *group_db, const char *username, spec_user *u) {
        if (!group_db || !username)
                return;
        for (const char *line = group_db; *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *copy = xstrndup(line, len);
                line += len + (line[len] == '\n');
                char *t = copy;
                while (isspace((unsigned char) *t))
                        t++;
                if (!*t || *t == '#')
                        continue;
                _cleanup_strv_free_ char **f = strv_split(t, ':');
                uint32_t gid;
                if (strv_length(f) < 4 || streq(f[0], username) || !parse_id(f[FIELD_GID_GROUP], &gid))
                        continue;
                _cleanup_strv_free_ char **members = strv_split(f[3], ',');
                if (strv_contains(members, username))
                        gids_add(u, gid);
        }
}

int spec_user_resolve_at(int rootfd, const char *user, spec_user *ret, berr **err) {
        const char *s = user ? user : "";
        _cleanup_free_ char *passwd = NULL, *group = NULL;
        if (read_user_db(rootfd, "passwd", &passwd, err) < 0 || read_user_db(rootfd, "group", &group, err) < 0)
                return -1;

        spec_user u = {};
        _cleanup_free_ char *username = NULL;
        _cleanup_strv_free_ char **parts = strv_split(s, ':');
        size_t n = strv_length(parts);
        if (!*s) {
                /* No user in the image: root, with root's supplementary groups (WithAdditionalGIDs("root")). */
                username = xstrdup("root");
        } else if (n == 1) {
                uint32_t id;
                if (parse_id(s, &id)) {
                        /* WithUserID: a uid unknown to passwd (or no passwd at all) runs with gid 0. */
                        _cleanup_strv_free_ char **pw = db_find(passwd, 4, match_uid, &id);
                        u.uid = id;
                        if (pw) {
                                if (entry_id(pw, FIELD_GID_PASSWD, "passwd", pw[0], &u.gid, err) < 0)
                                        return -1;
                                username = xstrdup(pw[0]);
                        }
                } else {
                        _cleanup_strv_free_ char **pw = db_find(passwd, 4, match_name, s);
                        if (!pw)
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                "unable to find user '%s': no matching entry in the image's "
                                                "/etc/passwd", s);
                        if (entry_id(pw, FIELD_UID, "passwd", s, &u.uid, err) < 0 ||
                            entry_id(pw, FIELD_GID_PASSWD, "passwd", s, &u.gid, err) < 0)
                                return -1;
                        username = xstrdup(pw[0]);
                }
        } else if (n == 2) {
                /* user:group; each half numeric or a name. containerd looks up no supplementary groups for the
                 * numeric halves beyond what the uid's passwd entry names. */
                if (!parse_id(parts[0], &u.uid)) {
                        _cleanup_strv_free_ char **pw = db_find(passwd, 4, match_name, parts[0]);
                        if (!pw)
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                "unable to find user '%s': no matching entry in the image's "
                                                "/etc/passwd", parts[0]);
                        if (entry_id(pw, FIELD_UID, "passwd", parts[0], &u.uid, err) < 0)
                                return -1;
                }
                if (!parse_id(parts[1], &u.gid)) {
                        _cleanup_strv_free_ char **gr = db_find(group, 3, match_name, parts[1]);
                        if (!gr)
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                "unable to find group '%s': no matching entry in the image's "
                                                "/etc/group", parts[1]);
                        if (entry_id(gr, FIELD_GID_GROUP, "group", parts[1], &u.gid, err) < 0)
                                return -1;
                }
                /* WithAdditionalGIDs(uid): the supplementary groups of whoever owns that uid. */
                _cleanup_strv_free_ char **pw = db_find(passwd, 4, match_uid, &u.uid);
                if (pw)
                        username = xstrdup(pw[0]);
        } else {
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid user '%s'", s);
        }

        add_supplementary_groups(group, username, &u);
        gids_ensure_primary(&u);
        *ret = u;
        return 0;
}

int spec_user_resolve(const char *root_dir, const char *user, spec_user *ret, berr **err) {
        _cleanup_close_ int fd = open(root_dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
        if (fd < 0)
                return berr_errno(err, errno, "cannot open rootfs '%s'", root_dir);
        return spec_user_resolve_at(fd, user, ret, err);
}
