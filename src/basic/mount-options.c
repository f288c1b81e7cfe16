/* Option parsing and overlay lowerdir compaction: the pure, side-effect-free half of mount.h. */
#include <string.h>
#include <sys/mount.h>

#include "basic/mount.h"
#include "basic/strv.h"

static const struct mount_flag_word {
        const char *word;
        bool clear;
        unsigned long flag;
} flag_words[] = {
        { "async", true, MS_SYNCHRONOUS },    { "atime", true, MS_NOATIME },
        { "bind", false, MS_BIND },           { "defaults", false, 0 },
        { "dev", true, MS_NODEV },            { "diratime", true, MS_NODIRATIME },
        { "dirsync", false, MS_DIRSYNC },     { "exec", true, MS_NOEXEC },
        { "mand", false, MS_MANDLOCK },       { "noatime", false, MS_NOATIME },
        { "nodev", false, MS_NODEV },         { "nodiratime", false, MS_NODIRATIME },
        { "noexec", false, MS_NOEXEC },       { "nomand", true, MS_MANDLOCK },
        { "norelatime", true, MS_RELATIME },  { "nostrictatime", true, MS_STRICTATIME },
        { "nosuid", false, MS_NOSUID },       { "rbind", false, MS_BIND | MS_REC },
        { "relatime", false, MS_RELATIME },   { "remount", false, MS_REMOUNT },
        { "ro", false, MS_RDONLY },           { "rw", true, MS_RDONLY },
        { "strictatime", false, MS_STRICTATIME }, { "suid", true, MS_NOSUID },
        { "sync", false, MS_SYNCHRONOUS },
};

static const struct {
        const char *word;
        unsigned long flags;
} propagation_words[] = {
        { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
        { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
        { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
        { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

int mount_options_parse(char *const *options, size_t n, unsigned long *ret_flags, unsigned long *ret_propagation,
                        char **ret_data, bool *ret_loop, berr **err) {
        unsigned long flags = 0, propagation = 0;
        bool loop = false;
        _cleanup_strv_free_ char **data = NULL;

        for (size_t i = 0; i < n; i++) {
                const char *o = options[i];
                if (!o)
                        return berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "mount option %zu is NULL", i);
                bool known = false;
                for (size_t j = 0; j < ELEMENTSOF(flag_words) && !known; j++) {
                        /* "defaults" sets nothing. containerd passes it on as data (where most filesystems reject
                         * it); we swallow it like mount(8) does. */
                        if (strcmp(o, flag_words[j].word) != 0)
                                continue;
                        if (flag_words[j].clear)
                                flags &= ~flag_words[j].flag;
                        else
                                flags |= flag_words[j].flag;
                        known = true;
                }
                for (size_t j = 0; j < ELEMENTSOF(propagation_words) && !known; j++)
                        if (strcmp(o, propagation_words[j].word) == 0) {
                                propagation = propagation_words[j].flags;
                                known = true;
                        }
                if (known)
                        continue;
                if (strcmp(o, "loop") == 0)
                        loop = true;
                else
                        strv_extend(&data, o);
        }
        if (ret_flags)
                *ret_flags = flags;
        if (ret_propagation)
                *ret_propagation = propagation;
        if (ret_data)
                *ret_data = strv_join(data, ",");
        if (ret_loop)
                *ret_loop = loop;
        return 0;
}

/* Longest common prefix of all strings, by characters (containerd compares the min and max only). */
static size_t common_prefix_len(char *const *l) {
        size_t len = strlen(l[0]);
        for (size_t i = 1; l[i]; i++) {
                size_t k = 0;
                while (k < len && l[i][k] == l[0][k])
                        k++;
                len = k;
        }
        return len;
}

/* Returns true and sets the results if compaction applies; false leaves them untouched. */
static bool compact(const char *data, char **ret_data, char **ret_chdir) {
        _cleanup_strv_free_ char **opts = strv_split(data, ',');
        size_t idx = 0;
        while (opts[idx] && strncmp(opts[idx], "lowerdir=", 9) != 0)
                idx++;
        if (!opts[idx])
                return false;
        _cleanup_strv_free_ char **dirs = strv_split(opts[idx] + 9, ':');
        if (strv_length(dirs) < 2)
                return false;

        /* containerd steps back to the parent of the common prefix: snapshot ids are numbers, so the prefix of
         * ".../snapshots/12" and ".../snapshots/13" is ".../snapshots/1", a partial name. */
        size_t plen = common_prefix_len(dirs);
        const char *slash = memrchr(dirs[0], '/', plen);
        if (!slash || slash == dirs[0])
                return false; /* no common parent, or it is "/" */
        size_t dlen = (size_t) (slash - dirs[0]) + 1;

        _cleanup_strv_free_ char **rel = NULL;
        for (size_t i = 0; dirs[i]; i++)
                strv_extend(&rel, dirs[i] + dlen);
        _cleanup_free_ char *joined = strv_join(rel, ":");
        /* Like containerd: the lowerdir option moves to the end. */
        free(opts[idx]);
        memmove(opts + idx, opts + idx + 1, (strv_length(opts + idx + 1) + 1) * sizeof(char *));
        strv_push(&opts, xasprintf("lowerdir=%s", joined));
        *ret_data = strv_join(opts, ",");
        *ret_chdir = xstrndup(dirs[0], dlen);
        return true;
}

int overlay_compact_lowerdirs(const char *data, char **ret_data, char **ret_chdir, berr **err) {
        *ret_chdir = NULL;
        if ((long) strlen(data) >= sysconf(_SC_PAGESIZE) - 512 && compact(data, ret_data, ret_chdir))
                return 0;
        *ret_data = xstrdup(data);
        return 0;
}
