/* src/spec: parsers, the default Unix spec (compared with containerd 1.6's), image config and user options,
 * user resolution against an image's /etc/passwd and /etc/group. test-spec-run.c runs generated specs. */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"
#include "spec/spec-default.h"
#include "basic/fileio.h"
#include "basic/strv.h"

static json_t *gen(const spec_options *o, const image_config_min *img) {
        json_t *spec = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (spec_generate_json(o, img, &spec, &e) < 0)
                TAP_FAIL("spec_generate_json: %s", e->msg);
        return spec;
}

static int gen_fails(const spec_options *o, const image_config_min *img, berr_code code, const char *needle) {
        json_t *spec = NULL;
        _cleanup_berr_ berr *e = NULL;
        int r = spec_generate_json(o, img, &spec, &e);
        json_decref(spec);
        if (r >= 0 || !e || e->code != code || (needle && !strstr(e->msg, needle))) {
                printf("# unexpected: r=%d code=%d msg=%s\n", r, e ? (int) e->code : -1, e ? e->msg : "(none)");
                return 0;
        }
        return 1;
}

static const char *path_str(json_t *root, const char *path) {
        json_t *j = root;
        _cleanup_strv_free_ char **parts = strv_split(path, '.');
        for (char **p = parts; *p && j; p++)
                j = json_is_array(j) ? json_array_get(j, (size_t) atoi(*p)) : json_object_get(j, *p);
        return json_string_value(j);
}

static json_t *path_get(json_t *root, const char *path) {
        json_t *j = root;
        _cleanup_strv_free_ char **parts = strv_split(path, '.');
        for (char **p = parts; *p && j; p++)
                j = json_is_array(j) ? json_array_get(j, (size_t) atoi(*p)) : json_object_get(j, *p);
        return j;
}

/* The array as "a,b,c" for compact comparisons. */
static char *joined(json_t *arr) {
        _cleanup_strv_free_ char **v = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(arr, i, x) {
                if (json_is_string(x))
                        strv_extend(&v, json_string_value(x));
                else
                        strv_push(&v, xasprintf("%lld", (long long) json_integer_value(x)));
        }
        return strv_join(v, ",");
}

#define ASSERT_JOINED(arr, expect)                      \
        do {                                            \
                _cleanup_free_ char *_j = joined(arr);  \
                ASSERT_STREQ(_j, expect);               \
        } while (0)

static void opts_basic(spec_options *o) {
        spec_options_init(o);
        o->ns = "default";
        o->id = "c1";
}

static char *const sh_cmd[] = { "sh", NULL };
static const image_config_min busybox_img = { .cmd = sh_cmd };

TEST(parse_size) {
        static const struct { const char *s; int64_t v; } ok[] = {
                { "100", 100 }, { "1b", 1 }, { "512k", 512 << 10 }, { "64m", 64 << 20 }, { "64M", 64 << 20 },
                { "64mb", 64 << 20 }, { "64MiB", 64 << 20 }, { "1g", 1LL << 30 }, { "1.5g", 3LL << 29 },
                { "2 m", 2 << 20 }, { "1t", 1LL << 40 }, { "0", 0 }, { "0.5k", 512 },
        };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                int64_t v = -1;
                ASSERT_OK(spec_parse_size(ok[i].s, &v, NULL));
                ASSERT_EQ(v, ok[i].v);
        }
        static const char *bad[] = { "", "m", "-1", "10x", "1.", ".5m", "1mm", "1ib", "64 mb x",
                                     "99999999999999999999", "9999999999p", "1e3" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t v = 0;
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(spec_parse_size(bad[i], &v, &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                ASSERT_TRUE(strstr(e->msg, "invalid size"));
        }
}

TEST(parse_cpus) {
        uint64_t v;
        ASSERT_OK(spec_parse_cpus("1.5", &v, NULL));
        ASSERT_EQ(v, 1500000000ULL);
        ASSERT_OK(spec_parse_cpus("2", &v, NULL));
        ASSERT_EQ(v, 2000000000ULL);
        ASSERT_OK(spec_parse_cpus("0.01", &v, NULL));
        ASSERT_EQ(v, 10000000ULL);
        static const char *bad[] = { "", "0", "0.001", "abc", "-1", "1.5x", "0.0000000001", "1,5" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(spec_parse_cpus(bad[i], &v, &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        }
}

TEST(parse_bind) {
        spec_bind b;
        ASSERT_OK(spec_bind_parse("/src:/dst", &b, NULL));
        ASSERT_STREQ(b.source, "/src");
        ASSERT_STREQ(b.destination, "/dst");
        ASSERT_FALSE(b.readonly);
        ASSERT_NULL(b.propagation);
        spec_bind_done(&b);
        ASSERT_OK(spec_bind_parse("/a b:/data:ro", &b, NULL));
        ASSERT_STREQ(b.source, "/a b");
        ASSERT_TRUE(b.readonly);
        spec_bind_done(&b);
        ASSERT_OK(spec_bind_parse("/a:/b:rw,rshared", &b, NULL));
        ASSERT_FALSE(b.readonly);
        ASSERT_STREQ(b.propagation, "rshared");
        spec_bind_done(&b);
        static const char *bad[] = { "", "/a", "a:/b", "/a:b", "/a:/b:/c:ro", "/a:/b:xx", "/a:/b:ro,rw",
                                     "/a:/b:private,shared", "/a:/b:", "vol:/data" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(spec_bind_parse(bad[i], &b, &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                ASSERT_TRUE(strstr(e->msg, "invalid volume"));
                ASSERT_NULL(b.source);
        }
}

TEST(env_merge) {
        char *defaults[] = { "PATH=/bin", "A=1", "B=2", NULL };
        char *over[] = { "A=x", "C=3", "B", "D", "PATH=/usr/bin", NULL };
        _cleanup_strv_free_ char **m = spec_env_merge(defaults, over);
        _cleanup_free_ char *s = strv_join(m, " ");
        ASSERT_STREQ(s, "PATH=/usr/bin A=x C=3");
        /* Unset then set again: back in its place (containerd keeps the slot). */
        char *over2[] = { "A", "A=again", "E=", NULL };
        _cleanup_strv_free_ char **m2 = spec_env_merge(defaults, over2);
        _cleanup_free_ char *s2 = strv_join(m2, " ");
        ASSERT_STREQ(s2, "PATH=/bin A=again B=2 E=");
        _cleanup_strv_free_ char **m3 = spec_env_merge(NULL, NULL);
        ASSERT_EQ(strv_length(m3), 0);
}

TEST(default_spec_matches_containerd) {
        spec_options o;
        opts_basic(&o);
        json_t *s = gen(&o, &busybox_img);
        ASSERT_STREQ(path_str(s, "ociVersion"), "1.0.2-dev");
        ASSERT_STREQ(path_str(s, "root.path"), "rootfs");
        ASSERT_NULL(path_get(s, "root.readonly"));
        ASSERT_NULL(path_get(s, "hostname"));
        ASSERT_TRUE(json_is_true(path_get(s, "process.noNewPrivileges")));
        ASSERT_NULL(path_get(s, "process.terminal"));
        ASSERT_STREQ(path_str(s, "process.cwd"), "/");
        ASSERT_JOINED(path_get(s, "process.args"), "sh");
        ASSERT_JOINED(path_get(s, "process.env"), SPEC_DEFAULT_PATH_ENV);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.uid")), 0);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.gid")), 0);
        ASSERT_JOINED(path_get(s, "process.user.additionalGids"), "0");
        const char *caps = "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FSETID,CAP_FOWNER,CAP_MKNOD,CAP_NET_RAW,CAP_SETGID,"
                           "CAP_SETUID,CAP_SETFCAP,CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_SYS_CHROOT,CAP_KILL,"
                           "CAP_AUDIT_WRITE";
        ASSERT_JOINED(path_get(s, "process.capabilities.bounding"), caps);
        ASSERT_JOINED(path_get(s, "process.capabilities.effective"), caps);
        ASSERT_JOINED(path_get(s, "process.capabilities.permitted"), caps);
        ASSERT_NULL(path_get(s, "process.capabilities.inheritable"));
        ASSERT_NULL(path_get(s, "process.capabilities.ambient"));
        ASSERT_STREQ(path_str(s, "process.rlimits.0.type"), "RLIMIT_NOFILE");

        json_t *mounts = path_get(s, "mounts");
        ASSERT_EQ(json_array_size(mounts), 8);
        static const char *expect[][4] = {
                { "/proc", "proc", "proc", "nosuid,noexec,nodev" },
                { "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k" },
                { "/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5" },
                { "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777,size=65536k" },
                { "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev" },
                { "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro" },
                { "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro" },
                { "/run", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k" },
        };
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                json_t *m = json_array_get(mounts, i);
                ASSERT_STREQ(json_string_value(json_object_get(m, "destination")), expect[i][0]);
                ASSERT_STREQ(json_string_value(json_object_get(m, "type")), expect[i][1]);
                ASSERT_STREQ(json_string_value(json_object_get(m, "source")), expect[i][2]);
                ASSERT_JOINED(json_object_get(m, "options"), expect[i][3]);
        }

        ASSERT_STREQ(path_str(s, "linux.cgroupsPath"), "/default/c1");
        json_t *ns = path_get(s, "linux.namespaces");
        ASSERT_EQ(json_array_size(ns), 5);
        static const char *nss[] = { "pid", "ipc", "uts", "mount", "network" };
        for (size_t i = 0; i < 5; i++)
                ASSERT_STREQ(json_string_value(json_object_get(json_array_get(ns, i), "type")), nss[i]);
        ASSERT_JOINED(path_get(s, "linux.maskedPaths"),
                      "/proc/acpi,/proc/asound,/proc/kcore,/proc/keys,/proc/latency_stats,/proc/timer_list,"
                      "/proc/timer_stats,/proc/sched_debug,/sys/firmware,/proc/scsi");
        ASSERT_JOINED(path_get(s, "linux.readonlyPaths"),
                      "/proc/bus,/proc/fs,/proc/irq,/proc/sys,/proc/sysrq-trigger");

        json_t *devs = path_get(s, "linux.resources.devices");
        ASSERT_EQ(json_array_size(devs), 10);
        ASSERT_TRUE(json_is_false(path_get(s, "linux.resources.devices.0.allow")));
        ASSERT_STREQ(path_str(s, "linux.resources.devices.0.access"), "rwm");
        ASSERT_NULL(path_get(s, "linux.resources.devices.0.type"));
        static const int expect_dev[][2] = { { 1, 3 }, { 1, 8 }, { 1, 7 }, { 5, 0 }, { 1, 5 },
                                             { 1, 9 }, { 5, 1 }, { 136, -1 }, { 5, 2 } };
        for (size_t i = 0; i < ELEMENTSOF(expect_dev); i++) {
                json_t *d = json_array_get(devs, i + 1);
                ASSERT_TRUE(json_is_true(json_object_get(d, "allow")));
                ASSERT_STREQ(json_string_value(json_object_get(d, "type")), "c");
                ASSERT_EQ(json_integer_value(json_object_get(d, "major")), expect_dev[i][0]);
                if (expect_dev[i][1] < 0)
                        ASSERT_NULL(json_object_get(d, "minor"));
                else
                        ASSERT_EQ(json_integer_value(json_object_get(d, "minor")), expect_dev[i][1]);
                ASSERT_STREQ(json_string_value(json_object_get(d, "access")), "rwm");
        }
        ASSERT_NULL(path_get(s, "linux.resources.memory"));
        ASSERT_NULL(path_get(s, "linux.resources.cpu"));
        ASSERT_NULL(path_get(s, "linux.resources.pids"));
        json_decref(s);
}

TEST(spec_string_is_json) {
        spec_options o;
        opts_basic(&o);
        _cleanup_free_ char *text = NULL;
        ASSERT_OK(spec_generate(&o, &busybox_img, &text, NULL));
        ASSERT_TRUE(strncmp(text, "{\"ociVersion\":\"1.0.2-dev\",\"process\":{", 36) == 0);
        json_t *back = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(back);
        ASSERT_STREQ(path_str(back, "linux.cgroupsPath"), "/default/c1");
        json_decref(back);
}

/* The hard limit never goes above ours: checked in a child that lowered its own hard limit (irreversible). */
TEST(rlimit_clamped_to_current_hard_limit) {
        uint64_t soft, hard;
        struct rlimit rl;
        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
        spec_nofile_limits(&soft, &hard);
        ASSERT_TRUE(hard <= 1024 && soft <= hard);
        if (rl.rlim_max >= 1024)
                ASSERT_EQ(hard, 1024);

        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                struct rlimit low = { .rlim_cur = 300, .rlim_max = 512 };
                if (setrlimit(RLIMIT_NOFILE, &low) < 0)
                        _exit(2);
                spec_options o;
                opts_basic(&o);
                json_t *s = NULL;
                if (spec_generate_json(&o, &busybox_img, &s, NULL) < 0)
                        _exit(3);
                json_int_t h = json_integer_value(path_get(s, "process.rlimits.0.hard"));
                json_int_t so = json_integer_value(path_get(s, "process.rlimits.0.soft"));
                _exit(h == 512 && so == 512 ? 0 : 4);
        }
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(image_config_applied) {
        char *env[] = { "PATH=/custom/bin", "LANG=C", "KEEP=1", NULL };
        char *ep[] = { "/entry", "--flag", NULL };
        char *cmd[] = { "serve", "--port=80", NULL };
        image_config_min img = { .env = env, .entrypoint = ep, .cmd = cmd, .working_dir = "/srv", .user = "12:34" };
        spec_options o;
        opts_basic(&o);
        json_t *s = gen(&o, &img);
        ASSERT_JOINED(path_get(s, "process.args"), "/entry,--flag,serve,--port=80");
        ASSERT_JOINED(path_get(s, "process.env"), "PATH=/custom/bin,LANG=C,KEEP=1");
        ASSERT_STREQ(path_str(s, "process.cwd"), "/srv");
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.uid")), 12);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.gid")), 34);
        ASSERT_JOINED(path_get(s, "process.user.additionalGids"), "34");
        json_decref(s);

        /* User options on top: args replace Cmd only, env overrides and unsets, workdir and user win. */
        char *args[] = { "debug", NULL };
        char *uenv[] = { "LANG=en_US.UTF-8", "KEEP", "NEW=v", NULL };
        o.args = args;
        o.env = uenv;
        o.workdir = "/tmp";
        o.user = "1000";
        o.hostname = "box";
        o.terminal = true;
        s = gen(&o, &img);
        ASSERT_JOINED(path_get(s, "process.args"), "/entry,--flag,debug");
        ASSERT_JOINED(path_get(s, "process.env"), "PATH=/custom/bin,LANG=en_US.UTF-8,NEW=v,TERM=xterm");
        ASSERT_STREQ(path_str(s, "process.cwd"), "/tmp");
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.uid")), 1000);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.gid")), 0);
        ASSERT_STREQ(path_str(s, "hostname"), "box");
        ASSERT_TRUE(json_is_true(path_get(s, "process.terminal")));
        json_decref(s);

        /* An image env without PATH gets the default one; a user TERM is kept with a terminal. */
        char *env2[] = { "A=1", NULL };
        char *uenv2[] = { "TERM=vt100", NULL };
        image_config_min img2 = { .env = env2, .cmd = cmd };
        spec_options o2;
        opts_basic(&o2);
        o2.env = uenv2;
        o2.terminal = true;
        s = gen(&o2, &img2);
        ASSERT_JOINED(path_get(s, "process.env"), SPEC_DEFAULT_PATH_ENV ",A=1,TERM=vt100");
        json_decref(s);
}

/* process.consoleSize {height, width}: only with a terminal and a known size (crun and runc size the pty with it). */
TEST(console_size_only_with_terminal_and_size) {
        spec_options o;
        opts_basic(&o);
        o.terminal = true;
        o.console_width = 120;
        o.console_height = 40;
        json_t *s = gen(&o, &busybox_img);
        json_t *cs = path_get(s, "process.consoleSize");
        ASSERT_TRUE(json_is_object(cs));
        ASSERT_EQ(json_object_size(cs), 2);
        ASSERT_EQ(json_integer_value(path_get(s, "process.consoleSize.height")), 40);
        ASSERT_EQ(json_integer_value(path_get(s, "process.consoleSize.width")), 120);
        ASSERT_TRUE(json_is_true(path_get(s, "process.terminal")));
        json_decref(s);
        /* the runtime's spelling, in the serialized spec */
        _cleanup_free_ char *text = NULL;
        ASSERT_OK(spec_generate(&o, &busybox_img, &text, NULL));
        ASSERT_TRUE(strstr(text, "\"consoleSize\":{\"height\":40,\"width\":120}") != NULL);

        /* the largest size a struct winsize holds */
        o.console_width = 65535;
        o.console_height = 1;
        s = gen(&o, &busybox_img);
        ASSERT_EQ(json_integer_value(path_get(s, "process.consoleSize.width")), 65535);
        ASSERT_EQ(json_integer_value(path_get(s, "process.consoleSize.height")), 1);
        json_decref(s);

        /* Left out: no terminal; no size; half a size; a size a winsize cannot hold. */
        static const struct {
                bool terminal;
                uint32_t width, height;
        } absent[] = {
                { false, 120, 40 }, { true, 0, 0 }, { true, 120, 0 }, { true, 0, 40 },
                { true, 65536, 40 }, { true, 120, 70000 }, { false, 0, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(absent); i++) {
                o.terminal = absent[i].terminal;
                o.console_width = absent[i].width;
                o.console_height = absent[i].height;
                s = gen(&o, &busybox_img);
                if (path_get(s, "process.consoleSize"))
                        printf("# case %zu: consoleSize present\n", i);
                ASSERT_NULL(path_get(s, "process.consoleSize"));
                ASSERT_EQ(json_is_true(path_get(s, "process.terminal")), absent[i].terminal);
                json_decref(s);
        }
}

/* The helper Exec uses on the container's process copy: set, replaced, removed. */
TEST(console_size_on_a_process_copy) {
        json_t *proc = json_pack("{s:b, s:{s:i, s:i}}", "terminal", 1, "consoleSize", "height", 10, "width", 20);
        spec_process_set_console_size(proc, true, 93, 27);
        ASSERT_EQ(json_integer_value(path_get(proc, "consoleSize.width")), 93);
        ASSERT_EQ(json_integer_value(path_get(proc, "consoleSize.height")), 27);
        ASSERT_EQ(json_object_size(json_object_get(proc, "consoleSize")), 2);
        /* exec -t without a known size: the run's size must not stay */
        spec_process_set_console_size(proc, true, 0, 0);
        ASSERT_NULL(json_object_get(proc, "consoleSize"));
        spec_process_set_console_size(proc, true, 93, 27);
        spec_process_set_console_size(proc, false, 93, 27);
        ASSERT_NULL(json_object_get(proc, "consoleSize"));
        /* removing what is not there is fine */
        spec_process_set_console_size(proc, false, 0, 0);
        ASSERT_NULL(json_object_get(proc, "consoleSize"));
        json_decref(proc);
}

TEST(user_options) {
        spec_options o;
        opts_basic(&o);
        static spec_bind binds[] = {
                { .source = "/tmp", .destination = "/data", .readonly = true },
                { .source = "/", .destination = "/run", .propagation = "rslave" },
        };
        o.binds = binds;
        o.n_binds = 2;
        o.memory_bytes = 64 << 20;
        o.nano_cpus = 500000000;
        o.pids_limit = 42;
        o.readonly_rootfs = true;
        o.root_path = "/abs/rootfs";
        o.cgroups_path = "system.slice:berth:c1";
        json_t *s = gen(&o, &busybox_img);
        json_t *mounts = path_get(s, "mounts");
        ASSERT_EQ(json_array_size(mounts), 9); /* /run replaced, /data added */
        json_t *data = json_array_get(mounts, 7), *run = json_array_get(mounts, 8);
        ASSERT_STREQ(json_string_value(json_object_get(data, "destination")), "/data");
        ASSERT_STREQ(json_string_value(json_object_get(data, "type")), "bind");
        ASSERT_STREQ(json_string_value(json_object_get(data, "source")), "/tmp");
        ASSERT_JOINED(json_object_get(data, "options"), "rbind,ro");
        ASSERT_STREQ(json_string_value(json_object_get(run, "destination")), "/run");
        ASSERT_JOINED(json_object_get(run, "options"), "rbind,rslave,rw");
        for (size_t i = 0; i < 7; i++)
                ASSERT_TRUE(strcmp(json_string_value(json_object_get(json_array_get(mounts, i), "destination")),
                                   "/run") != 0);
        ASSERT_EQ(json_integer_value(path_get(s, "linux.resources.memory.limit")), 64 << 20);
        ASSERT_EQ(json_integer_value(path_get(s, "linux.resources.cpu.quota")), 50000);
        ASSERT_EQ(json_integer_value(path_get(s, "linux.resources.cpu.period")), 100000);
        ASSERT_EQ(json_integer_value(path_get(s, "linux.resources.pids.limit")), 42);
        ASSERT_TRUE(json_is_true(path_get(s, "root.readonly")));
        ASSERT_STREQ(path_str(s, "root.path"), "/abs/rootfs");
        ASSERT_STREQ(path_str(s, "linux.cgroupsPath"), "system.slice:berth:c1");
        ASSERT_EQ(json_array_size(path_get(s, "linux.resources.devices")), 10);
        json_decref(s);
}

TEST(invalid_options_rejected) {
        spec_options o;
        opts_basic(&o);
        image_config_min empty = {};
        ASSERT_TRUE(gen_fails(&o, &empty, BERR_INVALID_ARGUMENT, "no command"));
        ASSERT_TRUE(gen_fails(&o, NULL, BERR_INVALID_ARGUMENT, "no command"));
        char *blank[] = { "", NULL };
        o.args = blank;
        ASSERT_TRUE(gen_fails(&o, &empty, BERR_INVALID_ARGUMENT, "no command"));
        opts_basic(&o);
        o.workdir = "relative/dir";
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "absolute"));
        opts_basic(&o);
        o.memory_bytes = 1024;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "6 MiB"));
        opts_basic(&o);
        o.nano_cpus = 100000ULL * 1000000000ULL;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "CPU"));
        opts_basic(&o);
        o.pids_limit = -2;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "pids"));
        opts_basic(&o);
        o.user = "nobody";
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "not numeric"));
        o.user = "1:2:3";
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "invalid user"));
        opts_basic(&o);
        spec_bind missing = { .source = "/nonexistent/berth-t4", .destination = "/x" };
        o.binds = &missing;
        o.n_binds = 1;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_NOT_FOUND, "/nonexistent/berth-t4"));
        opts_basic(&o);
        o.id = NULL;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "container id"));
        opts_basic(&o);
        char *latin1[] = { "caf\xe9", NULL };
        o.args = latin1;
        ASSERT_TRUE(gen_fails(&o, &busybox_img, BERR_INVALID_ARGUMENT, "UTF-8"));
}

/* ---- users ---- */

static char *make_root(void) {
        char *root = xstrdup("/tmp/berth-t4-spec-root.XXXXXX");
        if (!mkdtemp(root))
                TAP_FAIL("mkdtemp: %m");
        _cleanup_free_ char *etc = xasprintf("%s/etc", root);
        mkdir(etc, 0755);
        return root;
}

static void put(const char *root, const char *rel, const char *content) {
        _cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
        if (write_file_atomic(p, content, strlen(content), 0644, NULL) < 0)
                TAP_FAIL("write %s: %m", p);
}

static void check_user(int rootfd, const char *user, uint32_t uid, uint32_t gid, const char *gids) {
        spec_user u;
        _cleanup_berr_ berr *e = NULL;
        if (spec_user_resolve_at(rootfd, user, &u, &e) < 0)
                TAP_FAIL("resolve '%s': %s", user ? user : "(null)", e->msg);
        _cleanup_strv_free_ char **v = NULL;
        for (size_t i = 0; i < u.n_additional_gids; i++)
                strv_push(&v, xasprintf("%u", u.additional_gids[i]));
        _cleanup_free_ char *j = strv_join(v, ",");
        if (u.uid != uid || u.gid != gid || strcmp(j, gids) != 0)
                TAP_FAIL("user '%s': got %u:%u [%s], want %u:%u [%s]", user ? user : "(null)", u.uid, u.gid, j, uid,
                         gid, gids);
        spec_user_done(&u);
}

static int resolve_fails(int rootfd, const char *user, const char *needle) {
        spec_user u = {};
        _cleanup_berr_ berr *e = NULL;
        int r = spec_user_resolve_at(rootfd, user, &u, &e);
        spec_user_done(&u);
        return r < 0 && e->code == BERR_INVALID_ARGUMENT && strstr(e->msg, needle);
}

TEST(user_resolution_containerd_rules) {
        _cleanup_free_ char *root = make_root();
        put(root, "etc/passwd",
            "# comment\nroot:x:0:0:root:/root:/bin/sh\n\napp:x:1000:1001::/home/app:/bin/sh\n"
            "svc:x:2000:2000::/:/bin/false\nbroken:x:notanumber:1::/:/bin/sh\n");
        put(root, "etc/group",
            "root:x:0:\nwheel:x:10:root,app\napp:x:1001:app\nextra:x:3000:svc,app\naudio:x:29:svc\n");
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);

        check_user(fd, NULL, 0, 0, "0,10");      /* root with root's supplementary groups */
        check_user(fd, "", 0, 0, "0,10");
        check_user(fd, "0", 0, 0, "0,10");
        check_user(fd, "app", 1000, 1001, "1001,10,3000"); /* group "app" itself is not supplementary */
        check_user(fd, "1000", 1000, 1001, "1001,10,3000");
        check_user(fd, "svc", 2000, 2000, "2000,3000,29");
        check_user(fd, "4242", 4242, 0, "0");    /* unknown uid: gid 0, no error */
        check_user(fd, "app:audio", 1000, 29, "29,10,3000");
        check_user(fd, "svc:5", 2000, 5, "5,3000,29");
        check_user(fd, "7:8", 7, 8, "8");
        /* Above MaxInt32 a number is taken as a name (runc's limit), which then is not found. */
        ASSERT_TRUE(resolve_fails(fd, "2147483648", "unable to find user '2147483648'"));
        ASSERT_TRUE(resolve_fails(fd, "ghost", "unable to find user 'ghost'"));
        ASSERT_TRUE(resolve_fails(fd, "app:ghosts", "unable to find group 'ghosts'"));
        ASSERT_TRUE(resolve_fails(fd, "ghost:0", "unable to find user 'ghost'"));
        ASSERT_TRUE(resolve_fails(fd, "broken", "invalid id"));
        ASSERT_TRUE(resolve_fails(fd, "a:b:c", "invalid user"));

        /* Through the spec, with a dirfd or with a path. */
        spec_options o;
        opts_basic(&o);
        o.user = "app";
        o.rootfs_fd = fd;
        json_t *s = gen(&o, &busybox_img);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.uid")), 1000);
        ASSERT_JOINED(path_get(s, "process.user.additionalGids"), "1001,10,3000");
        json_decref(s);
        image_config_min img = { .cmd = sh_cmd, .user = "svc" };
        opts_basic(&o);
        o.rootfs_dir = root;
        s = gen(&o, &img);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.uid")), 2000);
        ASSERT_EQ(json_integer_value(path_get(s, "process.user.gid")), 2000);
        json_decref(s);
        ASSERT_OK(rm_rf(root, NULL));
}

TEST(user_resolution_without_files) {
        _cleanup_free_ char *root = make_root();
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        check_user(fd, NULL, 0, 0, "0");
        check_user(fd, "33", 33, 0, "0");
        check_user(fd, "33:44", 33, 44, "44");
        ASSERT_TRUE(resolve_fails(fd, "www", "unable to find user 'www'"));
        ASSERT_TRUE(resolve_fails(fd, "33:www", "unable to find group 'www'"));
        /* A directory where the file should be is refused, not parsed. */
        _cleanup_free_ char *dir = xasprintf("%s/etc/passwd", root);
        ASSERT_OK(mkdir(dir, 0755));
        spec_user u;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(spec_user_resolve_at(fd, "www", &u, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "not a regular file"));
        ASSERT_OK(rm_rf(root, NULL));
        berr *e2 = NULL;
        ASSERT_EQ(spec_user_resolve("/nonexistent/berth-t4", "0", &u, &e2), -1);
        ASSERT_EQ(e2->code, BERR_NOT_FOUND);
        berr_free(e2);
}

TEST(user_numeric_only) {
        spec_user u;
        ASSERT_OK(spec_user_parse_numeric(NULL, &u, NULL));
        ASSERT_EQ(u.uid, 0);
        ASSERT_EQ(u.n_additional_gids, 1);
        spec_user_done(&u);
        ASSERT_OK(spec_user_parse_numeric("1000", &u, NULL));
        ASSERT_EQ(u.uid, 1000);
        ASSERT_EQ(u.gid, 0);
        spec_user_done(&u);
        ASSERT_OK(spec_user_parse_numeric("1000:100", &u, NULL));
        ASSERT_EQ(u.gid, 100);
        ASSERT_EQ(u.additional_gids[0], 100);
        spec_user_done(&u);
        static const char *bad[] = { "app", "1:grp", "1:2:3", "-1", "1:", "99999999999" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_berr_ berr *e = NULL;
                ASSERT_EQ(spec_user_parse_numeric(bad[i], &u, &e), -1);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        }
}

/* The image is untrusted: its /etc/passwd may be a symlink pointing at the host's files. Resolution stays in
 * the root, so the link's absolute target is looked up inside the rootfs. */
TEST(user_resolution_symlink_stays_in_root) {
        _cleanup_free_ char *root = make_root();
        _cleanup_free_ char *outside = xstrdup("/tmp/berth-t4-spec-outside.XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(outside));
        put(outside, "passwd", "evil:x:666:666::/:/bin/sh\n");
        put(outside, "group", "evil:x:666:evil\nevilgrp:x:777:evil\n");
        _cleanup_free_ char *target = xasprintf("%s/passwd", outside);
        _cleanup_free_ char *link = xasprintf("%s/etc/passwd", root);
        ASSERT_OK(symlink(target, link));
        _cleanup_free_ char *rel = xasprintf("../../../../../../..%s/group", outside);
        _cleanup_free_ char *link2 = xasprintf("%s/etc/group", root);
        ASSERT_OK(symlink(rel, link2));
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(resolve_fails(fd, "evil", "unable to find user 'evil'"));
        ASSERT_TRUE(resolve_fails(fd, "0:evilgrp", "unable to find group 'evilgrp'"));

        /* The same link target inside the root is followed (RESOLVE_IN_ROOT, as containerd's fs.RootPath). */
        _cleanup_free_ char *inside = xasprintf("%s%s", root, outside);
        ASSERT_OK(mkdir_p(inside, 0755, NULL));
        put(inside, "passwd", "good:x:55:56::/:/bin/sh\n");
        check_user(fd, "good", 55, 56, "56");
        ASSERT_OK(rm_rf(root, NULL));
        ASSERT_OK(rm_rf(outside, NULL));
}
