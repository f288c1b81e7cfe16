/* The `start` action (shim-v2.md §3.2–§3.4): bind the task socket (or find the group's server), record its address in
 * the bundle, launch the server detached from containerd's pipes, and print the address. */
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "basic/fileio.h"
#include "basic/log.h"
#include "basic/sha256.h"
#include "shim/options.h"
#include "shim/shim.h"

#define SOCKET_DIR "/run/containerd/s"
#define OPTIONS_MAX (1u << 20)

/* The group a container's server is shared with: the runc shim's annotations, in this order. */
static char *group_id_from_spec(void) {
        const char *keys[] = { "io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id" };
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (read_file("config.json", &data, &len, 64u << 20, NULL) < 0)
                return NULL;
        /* Most specs name neither key: then there is nothing to parse for. (Nothing in the keys needs escaping,
         * so encoders write them literally; one that escaped them anyway would only lose the grouping.) */
        bool maybe = false;
        for (size_t i = 0; i < ELEMENTSOF(keys) && !maybe; i++)
                maybe = memmem(data, len, keys[i], strlen(keys[i])) != NULL;
        if (!maybe)
                return NULL;
        json_t *spec = json_loadb(data, len, 0, NULL);
        if (!spec)
                return NULL;
        json_t *ann = json_object_get(spec, "annotations");
        char *group = NULL;
        for (size_t i = 0; i < ELEMENTSOF(keys) && !group; i++) {
                const char *v = json_string_value(json_object_get(ann, keys[i]));
                if (v && v[0])
                        group = xstrdup(v);
        }
        json_decref(spec);
        return group;
}

/* Go's filepath.Join for our three parts: join with '/' and collapse repeated slashes. */
static char *path_join3(const char *a, const char *b, const char *c) {
        _cleanup_free_ char *raw = xasprintf("%s/%s/%s", a, b, c);
        char *out = xmalloc(strlen(raw) + 1);
        size_t n = 0;
        for (const char *p = raw[0] == '/' ? raw : raw + (a[0] == '\0'); *p; p++) {
                if (*p == '/' && n > 0 && out[n - 1] == '/')
                        continue;
                out[n++] = *p;
        }
        if (n > 1 && out[n - 1] == '/')
                n--;
        out[n] = '\0';
        return out;
}

char *shim_socket_path(const char *address, const char *ns, const char *group) {
        _cleanup_free_ char *joined = path_join3(address, ns, group);
        char hex[65];
        sha256_hex(joined, strlen(joined), hex);
        return xasprintf("%s/%s", SOCKET_DIR, hex);
}

static int socket_bind(const char *path, berr **err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof sa.sun_path)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "socket path too long: %s", path);
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return berr_errno(err, errno, "socket");
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
                int e = errno;
                close(fd);
                unlink(path);
                return berr_errno(err, e, "listen on %s", path);
        }
        return fd;
}

static bool socket_alive(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
}

static int read_stdin_all(uint8_t **ret, size_t *ret_len) {
        size_t cap = 4096, len = 0;
        uint8_t *buf = xmalloc(cap);
        for (;;) {
                if (len == cap) {
                        if (cap >= OPTIONS_MAX) {
                                free(buf);
                                return -1;
                        }
                        cap *= 2;
                        buf = xrealloc(buf, cap);
                }
                ssize_t r = read(STDIN_FILENO, buf + len, cap - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                len += (size_t) r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* The server's OOM score is containerd's + 1: under memory pressure the kernel picks a shim before the daemon. */
static void set_oom_score(pid_t server) {
        _cleanup_free_ char *parent_path = xasprintf("/proc/%d/oom_score_adj", (int) getppid());
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (read_file(parent_path, &data, &len, 64, NULL) < 0)
                return;
        long score = strtol(data, NULL, 10) + 1;
        if (score > 1000)
                score = 1000;
        if (score < -1000)
                score = -1000;
        _cleanup_free_ char *path = xasprintf("/proc/%d/oom_score_adj", (int) server);
        _cleanup_free_ char *text = xasprintf("%ld", score);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) write_all(fd, text, strlen(text));
                close(fd);
        }
}

/* Options.shim_cgroup: move the server into that cgroup (each v1 hierarchy that has it, or the v2 tree). */
static void join_shim_cgroup(const char *cgroup, pid_t pid) {
        const char *roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu",
                                "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/blkio",
                                "/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/cpuset",
                                "/sys/fs/cgroup/unified" };
        _cleanup_free_ char *text = xasprintf("%d", (int) pid);
        for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
                _cleanup_free_ char *procs = xasprintf("%s/%s/cgroup.procs", roots[i], cgroup);
                int fd = open(procs, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                (void) write_all(fd, text, strlen(text));
                close(fd);
        }
}

static pid_t spawn_server(const shim_args *a, const char *socket_path, int listen_fd, berr **err) {
        pid_t pid = fork();
        if (pid < 0)
                return berr_errno(err, errno, "fork shim server");
        if (pid > 0)
                return pid;
        /* Child: its own process group, no pipe of containerd's (it waits for them to close), the socket on fd 3. */
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
                _exit(1);
        if (listen_fd == 3)
                fcntl(3, F_SETFD, 0);
        else if (dup2(listen_fd, 3) < 0)
                _exit(1);
        setenv("BERTH_SHIM_SOCKET", socket_path, 1);
        const char *argv[] = { "containerd-shim-berth-v2", "-namespace", a->ns, "-id", a->id, "-address",
                               a->address, a->debug ? "-debug" : NULL, NULL };
        /* Exec our own file by its real path, so the server shows up as containerd-shim-berth-v2 (not "exe"). */
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
                self[n] = '\0';
                execv(self, (char *const *) argv);
        }
        execv("/proc/self/exe", (char *const *) argv);
        _exit(127);
}

int shim_start(const shim_args *a) {
        _cleanup_free_ uint8_t *opts_bytes = NULL;
        size_t opts_len = 0;
        if (read_stdin_all(&opts_bytes, &opts_len) < 0) {
                fprintf(stdout, "io.containerd.berth.v2: runtime options larger than %u bytes", OPTIONS_MAX);
                return 1;
        }
        shim_options opts = { 0 };
        berr *err = NULL;
        _cleanup_free_ char *group = NULL, *path = NULL, *address = NULL;
        if (shim_options_from_any_bytes(opts_bytes, opts_len, &opts, &err) < 0)
                goto fail;

        group = group_id_from_spec();
        path = shim_socket_path(a->address, a->ns, group ? group : a->id);
        address = xasprintf("unix://%s", path);
        if (mkdir_p(SOCKET_DIR, 0700, &err) < 0)
                goto fail;

        int fd = socket_bind(path, &err);
        if (fd < 0 && !err && errno == EADDRINUSE) {
                if (socket_alive(path)) {
                        /* The group's server is already running: this container joins it. */
                        if (write_file_replace("address", address, strlen(address), 0600, &err) < 0)
                                goto fail;
                        fputs(address, stdout);
                        shim_options_done(&opts);
                        return 0;
                }
                unlink(path);
                fd = socket_bind(path, &err);
        }
        if (fd < 0) {
                if (!err)
                        berr_errno(&err, errno, "bind %s", path);
                goto fail;
        }
        /* Written before the server exists, so a restarted containerd always finds it (§3.4 step 2). Without fsync
         * (write_file_replace): the rename already makes it atomic for a daemon that crashes; after a reboot the
         * shim is gone anyway, and an empty file reads as no address. */
        if (write_file_replace("address", address, strlen(address), 0600, &err) < 0) {
                close(fd);
                unlink(path);
                goto fail;
        }
        pid_t server = spawn_server(a, path, fd, &err);
        close(fd);
        if (server < 0) {
                unlink(path);
                goto fail;
        }
        set_oom_score(server);
        if (opts.shim_cgroup)
                join_shim_cgroup(opts.shim_cgroup, server);
        shim_options_done(&opts);
        fputs(address, stdout);
        return 0;
fail:
        shim_options_done(&opts);
        /* containerd shows the combined output as the error: one line, on stdout (§3.2). */
        fprintf(stdout, "io.containerd.berth.v2: %s", err ? err->msg : "start failed");
        berr_free(err);
        return 1;
}
