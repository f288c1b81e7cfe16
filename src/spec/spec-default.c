/* containerd 1.6's default Unix spec: oci/spec.go populateDefaultUnixSpec, oci/mounts.go defaultMounts and
 * oci/spec_opts.go WithDefaultUnixDevices (what `ctr run` starts from). Keys follow the Go struct order of
 * runtime-spec so the JSON reads like containerd's. */
#include <sys/resource.h>

#include "spec/spec-default.h"

static const char *const default_caps[] = {
        "CAP_CHOWN",       "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",     "CAP_MKNOD",
        "CAP_NET_RAW",     "CAP_SETGID",       "CAP_SETUID",           "CAP_SETFCAP",    "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",          "CAP_AUDIT_WRITE",
};

static const char *const default_namespaces[] = { "pid", "ipc", "uts", "mount", "network" };

static const char *const masked_paths[] = {
        "/proc/acpi",        "/proc/asound",    "/proc/kcore",       "/proc/keys",    "/proc/latency_stats",
        "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

typedef struct default_mount {
        const char *destination, *type, *source;
        const char *options[7];
} default_mount;

static const default_mount default_mounts[] = {
        { "/proc", "proc", "proc", { "nosuid", "noexec", "nodev" } },
        { "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
        { "/dev/pts", "devpts", "devpts", { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
        { "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
        { "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
        { "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
        /* Not in ctr's defaults; docker and containerd's CRI add it. Read-only: the container sees its own cgroup
         * (runc and crun bind the container's cgroup directories there without a cgroup namespace). */
        { "/sys/fs/cgroup", "cgroup", "cgroup", { "nosuid", "noexec", "nodev", "relatime", "ro" } },
        { "/run", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
};

/* WithDefaultUnixDevices; minor -1 means "any" (the JSON leaves minor out). */
typedef struct default_device {
        int64_t major, minor;
} default_device;

static const default_device default_devices[] = {
        { 1, 3 },  /* /dev/null */
        { 1, 8 },  /* /dev/random */
        { 1, 7 },  /* /dev/full */
        { 5, 0 },  /* /dev/tty */
        { 1, 5 },  /* /dev/zero */
        { 1, 9 },  /* /dev/urandom */
        { 5, 1 },  /* /dev/console */
        { 136, -1 }, /* /dev/pts/N */
        { 5, 2 },  /* /dev/ptmx */
};

json_t *spec_string_array(const char *const *v, size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; i < n && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

json_t *spec_mount_new(const char *destination, const char *type, const char *source, json_t *options) {
        return json_pack("{s:s, s:s, s:s, s:o}", "destination", destination, "type", type, "source", source,
                         "options", options);
}

json_t *spec_default_mounts(void) {
        json_t *mounts = json_array();
        for (size_t i = 0; i < ELEMENTSOF(default_mounts); i++) {
                const default_mount *m = &default_mounts[i];
                json_array_append_new(mounts, spec_mount_new(m->destination, m->type, m->source,
                                                             spec_string_array(m->options,
                                                                               ELEMENTSOF(m->options))));
        }
        return mounts;
}

/* containerd's 1024/1024, but never above our own hard limit: raising a hard limit needs CAP_SYS_RESOURCE,
 * which berthd may not have, and the runtime's setrlimit would then fail the container's start. */
void spec_nofile_limits(uint64_t *ret_soft, uint64_t *ret_hard) {
        uint64_t hard = SPEC_DEFAULT_NOFILE;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < hard)
                hard = rl.rlim_max;
        *ret_hard = hard;
        *ret_soft = hard < SPEC_DEFAULT_NOFILE ? hard : SPEC_DEFAULT_NOFILE;
}

static json_t *default_process(void) {
        json_t *caps = json_object();
        json_object_set_new(caps, "bounding", spec_string_array(default_caps, ELEMENTSOF(default_caps)));
        json_object_set_new(caps, "effective", spec_string_array(default_caps, ELEMENTSOF(default_caps)));
        json_object_set_new(caps, "permitted", spec_string_array(default_caps, ELEMENTSOF(default_caps)));

        uint64_t soft, hard;
        spec_nofile_limits(&soft, &hard);
        json_t *rlimits = json_pack("[{s:s, s:I, s:I}]", "type", "RLIMIT_NOFILE", "hard", (json_int_t) hard,
                                    "soft", (json_int_t) soft);

        return json_pack("{s:{s:i, s:i}, s:[], s:[], s:s, s:o, s:o, s:b}", "user", "uid", 0, "gid", 0, "args",
                         "env", "cwd", "/", "capabilities", caps, "rlimits", rlimits, "noNewPrivileges", 1);
}

static json_t *default_devices_cgroup(void) {
        json_t *devs = json_array();
        json_array_append_new(devs, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
        for (size_t i = 0; i < ELEMENTSOF(default_devices); i++) {
                json_t *d = json_pack("{s:b, s:s, s:I}", "allow", 1, "type", "c", "major",
                                      (json_int_t) default_devices[i].major);
                if (default_devices[i].minor >= 0)
                        json_object_set_new(d, "minor", json_integer(default_devices[i].minor));
                json_object_set_new(d, "access", json_string("rwm"));
                json_array_append_new(devs, d);
        }
        return devs;
}

static json_t *default_linux(const char *cgroups_path) {
        json_t *namespaces = json_array();
        for (size_t i = 0; i < ELEMENTSOF(default_namespaces); i++)
                json_array_append_new(namespaces, json_pack("{s:s}", "type", default_namespaces[i]));
        return json_pack("{s:{s:o}, s:s, s:o, s:o, s:o}", "resources", "devices", default_devices_cgroup(),
                         "cgroupsPath", cgroups_path, "namespaces", namespaces, "maskedPaths",
                         spec_string_array(masked_paths, ELEMENTSOF(masked_paths)), "readonlyPaths",
                         spec_string_array(readonly_paths, ELEMENTSOF(readonly_paths)));
}

json_t *spec_default_unix(const char *cgroups_path) {
        return json_pack("{s:s, s:o, s:{s:s}, s:o, s:o}", "ociVersion", SPEC_OCI_VERSION, "process",
                         default_process(), "root", "path", "rootfs", "mounts", spec_default_mounts(), "linux",
                         default_linux(cgroups_path));
}
