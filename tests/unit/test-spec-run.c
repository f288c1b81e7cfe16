/* Generated specs, run for real: a bundle from the busybox test image (build/images/busybox.tar, made by
 * scripts/build-image.sh), config.json from spec_generate, then `runc run` (and `crun run` when
 * scripts/crun-usable.sh says crun works here; BERTH_TEST_CRUN_SETUP=1 lets it mount what crun needs).
 * Each container is deleted after its run and the test's cgroup parent is removed at exit. */
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "tap.h"
#include "spec/spec.h"
#include "basic/fileio.h"
#include "basic/strv.h"

#define RUN_TIMEOUT_MS 30000

static struct {
        bool ready;
        char *skip; /* why nothing can run here */
        char *work; /* temp dir: bundle/, state-<runtime>/, host dirs */
        char *bundle;
        char *rootfs;
        char *ns; /* cgroup parent "/<ns>/<id>" */
        char **img_env, **img_entrypoint, **img_cmd;
        char *img_workdir, *img_user;
        image_config_min img;
        char *runtimes[3];
        bool crun_setup;
        unsigned seq;
} fx;

/* Runs argv with stdin /dev/null, stdout+stderr into *out (if out), bounded by a timeout. Returns the exit
 * code, 128+signal, or -1 if it could not run or timed out. */
static int run_argv(char *const *argv, char **out) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int nul = open("/dev/null", O_RDONLY);
                dup2(nul, 0);
                dup2(p[1], 1);
                dup2(p[1], 2);
                execvp(argv[0], argv);
                _exit(127);
        }
        close(p[1]);
        size_t len = 0, cap = 4096;
        char *buf = xmalloc(cap);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        bool timed_out = false;
        for (;;) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                long left = RUN_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                int r = left > 0 ? poll(&pfd, 1, (int) left) : 0;
                if (r == 0) {
                        timed_out = true;
                        kill(pid, SIGKILL);
                        break;
                }
                if (r < 0 && errno == EINTR)
                        continue;
                if (len + 1024 > cap)
                        buf = xrealloc(buf, cap *= 2);
                ssize_t n = read(p[0], buf + len, cap - len - 1);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(p[0]);
        buf[len] = 0;
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (out)
                *out = buf;
        else
                free(buf);
        if (timed_out)
                return -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int sh(const char *cmd) {
        char *argv[] = { "sh", "-c", (char *) cmd, NULL };
        return run_argv(argv, NULL);
}

static json_t *load_blob(const char *layout, const char *digest) {
        if (strncmp(digest, "sha256:", 7) != 0)
                return NULL;
        _cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%s", layout, digest + 7);
        return json_load_file(p, 0, NULL);
}

static char **json_strv(json_t *a) {
        char **v = xcalloc(1, sizeof(char *));
        size_t i;
        json_t *x;
        json_array_foreach(a, i, x)
                if (json_is_string(x))
                        strv_extend(&v, json_string_value(x));
        return v;
}

/* Unpacks the OCI archive's first manifest: layers into rootfs/, config into fx.img. */
static int unpack_image(const char *tar) {
        _cleanup_free_ char *layout = xasprintf("%s/oci", fx.work);
        _cleanup_free_ char *cmd = xasprintf("mkdir -p '%s' '%s' && tar -C '%s' -xf '%s'", layout, fx.rootfs, layout,
                                             tar);
        if (sh(cmd) != 0)
                return -1;
        _cleanup_free_ char *index_path = xasprintf("%s/index.json", layout);
        json_t *index = json_load_file(index_path, 0, NULL);
        const char *mdigest = json_string_value(json_object_get(json_array_get(json_object_get(index, "manifests"), 0),
                                                                "digest"));
        json_t *manifest = mdigest ? load_blob(layout, mdigest) : NULL;
        json_decref(index);
        if (!manifest)
                return -1;
        size_t i;
        json_t *layer;
        json_array_foreach(json_object_get(manifest, "layers"), i, layer) {
                const char *d = json_string_value(json_object_get(layer, "digest"));
                _cleanup_free_ char *x = xasprintf("tar -C '%s' -xf '%s/blobs/sha256/%s'", fx.rootfs, layout,
                                                   d ? d + 7 : "missing");
                if (!d || sh(x) != 0) {
                        json_decref(manifest);
                        return -1;
                }
        }
        json_t *config = load_blob(layout, json_string_value(json_object_get(json_object_get(manifest, "config"),
                                                                             "digest")));
        json_decref(manifest);
        if (!config)
                return -1;
        json_t *c = json_object_get(config, "config");
        fx.img_env = json_strv(json_object_get(c, "Env"));
        fx.img_entrypoint = json_strv(json_object_get(c, "Entrypoint"));
        fx.img_cmd = json_strv(json_object_get(c, "Cmd"));
        const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
        const char *user = json_string_value(json_object_get(c, "User"));
        fx.img_workdir = wd ? xstrdup(wd) : NULL;
        fx.img_user = user ? xstrdup(user) : NULL;
        json_decref(config);
        fx.img = (image_config_min) { .env = fx.img_env, .entrypoint = fx.img_entrypoint, .cmd = fx.img_cmd,
                                      .working_dir = fx.img_workdir, .user = fx.img_user };
        _cleanup_free_ char *users = xasprintf("echo 'app:x:1234:1234::/:/bin/sh' >>'%s/etc/passwd' && "
                                               "printf 'app:x:1234:\\nextra:x:2345:app\\n' >>'%s/etc/group'",
                                               fx.rootfs, fx.rootfs);
        return sh(users) == 0 ? 0 : -1;
}

static void fixture_cleanup(void) {
        if (!fx.work)
                return;
        /* runc/crun remove a container's own cgroup; the parent is ours. */
        _cleanup_free_ char *cg = xasprintf("for d in /sys/fs/cgroup/*/'%s' /sys/fs/cgroup/'%s'; do "
                                            "[ -d \"$d\" ] && rmdir \"$d\"; done; true", fx.ns, fx.ns);
        (void) sh(cg);
        if (fx.crun_setup) {
                _cleanup_free_ char *td = xasprintf("BERTH_HUGETLB_OWNER=%d bash scripts/crun-usable.sh teardown",
                                                    (int) getpid());
                (void) sh(td);
        }
        (void) rm_rf(fx.work, NULL);
}

static void fixture(void) {
        if (fx.ready) {
                if (fx.skip)
                        TAP_SKIP("%s", fx.skip);
                return;
        }
        fx.ready = true;
        atexit(fixture_cleanup);
        if (geteuid() != 0) {
                fx.skip = "needs root";
                TAP_SKIP("%s", fx.skip);
        }
        if (sh("command -v runc >/dev/null") != 0) {
                fx.skip = "runc not installed";
                TAP_SKIP("%s", fx.skip);
        }
        const char *tar = getenv("BERTH_TEST_IMAGE_TAR");
        if (!tar) {
                tar = "build/images/busybox.tar";
                if (access(tar, R_OK) < 0 && sh("scripts/build-image.sh >/dev/null") != 0) {
                        fx.skip = "cannot build the busybox image (scripts/build-image.sh)";
                        TAP_SKIP("%s", fx.skip);
                }
        }
        fx.work = xstrdup("/tmp/berth-t4-spec-run.XXXXXX");
        if (!mkdtemp(fx.work))
                TAP_FAIL("mkdtemp: %m");
        fx.bundle = xasprintf("%s/bundle", fx.work);
        fx.rootfs = xasprintf("%s/rootfs", fx.bundle);
        fx.ns = xasprintf("berth-t4-spec-%d", (int) getpid());
        if (unpack_image(tar) < 0) {
                fx.skip = "cannot unpack the busybox image";
                TAP_FAIL("%s", fx.skip);
        }
        size_t n = 0;
        fx.runtimes[n++] = "runc";
        if (getenv("BERTH_TEST_CRUN_SETUP")) {
                _cleanup_free_ char *su = xasprintf("BERTH_HUGETLB_OWNER=%d bash scripts/crun-usable.sh setup "
                                                    ">/dev/null 2>&1", (int) getpid());
                fx.crun_setup = true;
                if (sh(su) == 0)
                        fx.runtimes[n++] = "crun";
        } else if (sh("bash scripts/crun-usable.sh >/dev/null 2>&1") == 0)
                fx.runtimes[n++] = "crun";
        printf("# runtimes: %s%s\n", fx.runtimes[0], n > 1 ? " crun" : " (crun is not usable on this host as it is)");
}

static void opts_for(spec_options *o, char **args) {
        spec_options_init(o);
        o->ns = fx.ns;
        o->id = NULL; /* set by run_in */
        o->args = args;
}

/* Writes the spec for o into the bundle, runs it with runtime, deletes it. Returns the runtime's exit code
 * (the container's), output in *out. */
static int run_in(const char *runtime, spec_options *o, char **out) {
        _cleanup_free_ char *id = xasprintf("t4-%d-%u", (int) getpid(), fx.seq++);
        o->id = id;
        _cleanup_free_ char *json = NULL;
        _cleanup_berr_ berr *e = NULL;
        if (spec_generate(o, &fx.img, &json, &e) < 0)
                TAP_FAIL("spec_generate: %s", e->msg);
        _cleanup_free_ char *cfg = xasprintf("%s/config.json", fx.bundle);
        if (write_file_atomic(cfg, json, strlen(json), 0644, NULL) < 0)
                TAP_FAIL("write config.json: %m");
        _cleanup_free_ char *state = xasprintf("%s/state-%s", fx.work, runtime);
        char *argv[] = { (char *) runtime, "--root", state, "run", "--bundle", fx.bundle, id, NULL };
        int rc = run_argv(argv, out);
        char *del[] = { (char *) runtime, "--root", state, "delete", "--force", id, NULL };
        (void) run_argv(del, NULL);
        o->id = NULL;
        return rc;
}

static char *const img_defaults_args[] = { NULL };

#define FOR_EACH_RUNTIME(rt) for (char **rt = fx.runtimes; *rt; rt++)

#define EXPECT_RUN(rt, o, code, expect)                                                                  \
        do {                                                                                             \
                _cleanup_free_ char *_out = NULL;                                                        \
                int _rc = run_in(*(rt), (o), &_out);                                                     \
                if (_rc != (code) || strcmp(_out, (expect)) != 0)                                        \
                        TAP_FAIL("%s: exit %d (want %d), output:\n%s\nwant:\n%s", *(rt), _rc, (code), _out, \
                                 (expect));                                                              \
        } while (0)

TEST(image_defaults_run) {
        fixture();
        /* The image's own Cmd ("sh") with no stdin exits 0 at once. */
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, (char **) img_defaults_args);
                EXPECT_RUN(rt, &o, 0, "");
        }
}

TEST(env_user_cwd_hostname) {
        fixture();
        char *args[] = { "sh", "-c", "echo \"$FOO|$(id -u):$(id -g)|$(pwd)|$(hostname)|$PATH|$$\"", NULL };
        char *env[] = { "FOO=bar baz", NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                o.env = env;
                o.user = "1000:1000";
                o.workdir = "/tmp";
                o.hostname = "t4host";
                EXPECT_RUN(rt, &o, 0, "bar baz|1000:1000|/tmp|t4host|/bin:/sbin:/usr/bin:/usr/sbin|1\n");
        }
}

TEST(user_name_from_image_passwd) {
        fixture();
        char *args[] = { "sh", "-c", "id -u; id -g; id -G", NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                o.user = "app";
                o.rootfs_dir = fx.rootfs;
                EXPECT_RUN(rt, &o, 0, "1234\n1234\n1234 2345\n");
        }
}

TEST(exit_code_passes_through) {
        fixture();
        char *args[] = { "sh", "-c", "exit 7", NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                EXPECT_RUN(rt, &o, 7, "");
        }
}

TEST(bind_mounts_ro_and_rw) {
        fixture();
        _cleanup_free_ char *ro = xasprintf("%s/host-ro", fx.work), *rw = xasprintf("%s/host-rw", fx.work);
        ASSERT_OK(mkdir_p(ro, 0755, NULL));
        ASSERT_OK(mkdir_p(rw, 0755, NULL));
        _cleanup_free_ char *f = xasprintf("%s/hello", ro);
        ASSERT_OK(write_file_atomic(f, "from host\n", 10, 0644, NULL));
        char *args[] = { "sh", "-c",
                         "cat /data/hello; touch /data/x 2>/dev/null && echo writable || echo readonly; "
                         "echo written >/out/file && echo ok",
                         NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_bind binds[2];
                _cleanup_free_ char *b0 = xasprintf("%s:/data:ro", ro), *b1 = xasprintf("%s:/out", rw);
                ASSERT_OK(spec_bind_parse(b0, &binds[0], NULL));
                ASSERT_OK(spec_bind_parse(b1, &binds[1], NULL));
                spec_options o;
                opts_for(&o, args);
                o.binds = binds;
                o.n_binds = 2;
                EXPECT_RUN(rt, &o, 0, "from host\nreadonly\nok\n");
                spec_bind_done(&binds[0]);
                spec_bind_done(&binds[1]);
                _cleanup_free_ char *outf = xasprintf("%s/file", rw), *content = NULL;
                ASSERT_OK(read_file(outf, &content, NULL, 1024, NULL));
                ASSERT_STREQ(content, "written\n");
                ASSERT_OK(unlink(outf));
        }
}

TEST(readonly_rootfs) {
        fixture();
        char *args[] = { "sh", "-c",
                         "touch /newfile 2>/dev/null && echo root-rw || echo root-ro; "
                         "touch /dev/shm/x && echo shm-rw",
                         NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                o.readonly_rootfs = true;
                EXPECT_RUN(rt, &o, 0, "root-ro\nshm-rw\n");
        }
}

/* The limits as the container itself sees them in its cgroup (v1 here; v2 file names as a fallback). */
TEST(resource_limits_visible_in_cgroup) {
        fixture();
        char *args[] = { "sh", "-c",
                         "c=/sys/fs/cgroup; "
                         "if [ -f $c/memory.max ]; then cat $c/memory.max; "
                         "  set -- $(cat $c/cpu.max); echo $1; cat $c/pids.max; "
                         "else cat $c/memory/memory.limit_in_bytes; cat $c/cpu/cpu.cfs_quota_us; "
                         "  cat $c/pids/pids.max; fi; "
                         "(echo x >$c/pids/pids.max) 2>/dev/null && echo cgroup-rw || echo cgroup-ro",
                         NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                ASSERT_OK(spec_parse_size("64m", &o.memory_bytes, NULL));
                ASSERT_OK(spec_parse_cpus("0.5", &o.nano_cpus, NULL));
                o.pids_limit = 50;
                EXPECT_RUN(rt, &o, 0, "67108864\n50000\n50\ncgroup-ro\n");
        }
}

TEST(rlimits_caps_masks) {
        fixture();
        /* 0xa80425fb = containerd's (and docker's) 14 default capabilities. */
        char *args[] = { "sh", "-c",
                         "ulimit -n; ulimit -Hn; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr -s '\\t' ' '; "
                         "test -s /proc/keys && echo keys-visible || echo keys-masked; "
                         "(echo 1 >/proc/sys/vm/drop_caches) 2>/dev/null && echo procsys-rw || echo procsys-ro; "
                         "touch /sys/x 2>/dev/null && echo sys-rw || echo sys-ro",
                         NULL };
        struct rlimit rl;
        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
        unsigned long hard = rl.rlim_max < 1024 ? (unsigned long) rl.rlim_max : 1024;
        _cleanup_free_ char *expect = xasprintf("%lu\n%lu\nCapEff: 00000000a80425fb\nCapBnd: 00000000a80425fb\n"
                                                "NoNewPrivs: 1\nkeys-masked\nprocsys-ro\nsys-ro\n",
                                                hard, hard);
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                EXPECT_RUN(rt, &o, 0, expect);
        }
}

TEST(command_not_found_fails) {
        fixture();
        char *args[] = { "/no/such/binary", NULL };
        FOR_EACH_RUNTIME(rt) {
                spec_options o;
                opts_for(&o, args);
                _cleanup_free_ char *out = NULL;
                int rc = run_in(*rt, &o, &out);
                ASSERT_NE(rc, 0);
        }
}
