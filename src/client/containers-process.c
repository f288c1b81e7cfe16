/* libberth: attached processes — berth.v1.Containers Run (foreground and detached), Exec and Attach. Each is one
 * bidirectional call: the first request carries the options, later ones stdin / resize / close; the daemon answers
 * with RunEvents (started, output, exit). */
#include <poll.h>
#include <string.h>

#include "berth/v1/containers.pb-c.h"
#include "client/client-internal.h"
#include "client/containers-internal.h"

typedef enum process_kind {
        PROCESS_RUN,
        PROCESS_EXEC,
        PROCESS_ATTACH,
} process_kind;

struct berth_process {
        berth_client *c;
        grpc_stream *s;
        process_kind kind;
        Berth__V1__RunEvent *cur; /* the message being handed out, field by field */
        unsigned cur_step;        /* next field of cur to hand out: 0 started, 1 stdout, 2 stderr, 3 exit */
        bool stdin_closed;        /* no more stdin bytes go out */
        bool send_closed;         /* our side of the call is half-closed: not even a resize can go out */
        bool ended;               /* the call ended (OK or not) */
};

static void process_drop_current(berth_process *p) {
        if (p->cur)
                berth__v1__run_event__free_unpacked(p->cur, NULL);
        p->cur = NULL;
        p->cur_step = 0;
}

/* Hands out the next field of the current message; false when it has none left. */
static bool process_step(berth_process *p, berth_process_event *ev) {
        const Berth__V1__RunEvent *m = p->cur;
        while (m && p->cur_step < 4) {
                unsigned step = p->cur_step++;
                *ev = (berth_process_event) { .id = "", .error = "" };
                if (step == 0 && m->started) {
                        ev->kind = BERTH_PROCESS_STARTED;
                        ev->id = m->started->id ? m->started->id : "";
                        ev->pid = m->started->pid;
                        return true;
                }
                if (step == 1 && m->stdout.len > 0) {
                        ev->kind = BERTH_PROCESS_STDOUT;
                        ev->data = m->stdout.data;
                        ev->len = m->stdout.len;
                        return true;
                }
                if (step == 2 && m->stderr.len > 0) {
                        ev->kind = BERTH_PROCESS_STDERR;
                        ev->data = m->stderr.data;
                        ev->len = m->stderr.len;
                        return true;
                }
                if (step == 3 && m->exit) {
                        ev->kind = BERTH_PROCESS_EXIT;
                        ev->exit_code = m->exit->code;
                        ev->exited_at = client_timestamp_ns(m->exit->exited_at);
                        ev->error = m->exit->error ? m->exit->error : "";
                        return true;
                }
        }
        return false;
}

int berth_process_next(berth_process *p, int timeout_ms, berth_process_event *ev, berr **err) {
        if (process_step(p, ev))
                return 1;
        process_drop_current(p);
        for (;;) {
                if (p->ended)
                        return 2;
                _cleanup_free_ uint8_t *msg = NULL;
                size_t len = 0;
                int r = timeout_ms < 0 ? grpc_stream_recv(p->s, &msg, &len, err)
                                       : grpc_stream_recv_timeout(p->s, (uint64_t) timeout_ms * 1000, &msg, &len,
                                                                  err);
                if (r == 2)
                        return 0;
                if (r <= 0) {
                        p->ended = true;
                        return r < 0 ? -1 : 2;
                }
                p->cur = berth__v1__run_event__unpack(NULL, len, msg);
                if (!p->cur) {
                        p->ended = true;
                        return berr_set(err, BERR_INTERNAL, 0, "undecodable RunEvent from the daemon");
                }
                if (process_step(p, ev))
                        return 1;
                process_drop_current(p); /* an empty message: keep reading */
        }
}

int berth_process_pollfd(const berth_process *p, short *ret_events) {
        return grpc_client_pollfd(p->c->grpc, ret_events);
}

static int process_send_input(berth_process *p, const Berth__V1__ProcessInput *in, berr **err) {
        if (p->ended)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "the process's call has ended");
        switch (p->kind) {
        case PROCESS_RUN: {
                Berth__V1__RunRequest req = BERTH__V1__RUN_REQUEST__INIT;
                req.input = (Berth__V1__ProcessInput *) in;
                return grpc_stream_send(p->s, &req.base, err);
        }
        case PROCESS_EXEC: {
                Berth__V1__ExecRequest req = BERTH__V1__EXEC_REQUEST__INIT;
                req.input = (Berth__V1__ProcessInput *) in;
                return grpc_stream_send(p->s, &req.base, err);
        }
        case PROCESS_ATTACH: {
                Berth__V1__AttachRequest req = BERTH__V1__ATTACH_REQUEST__INIT;
                req.input = (Berth__V1__ProcessInput *) in;
                return grpc_stream_send(p->s, &req.base, err);
        }
        }
        return 0;
}

int berth_process_write_stdin(berth_process *p, const void *data, size_t len, berr **err) {
        if (p->stdin_closed)
                return berr_set(err, BERR_FAILED_PRECONDITION, 0, "stdin is closed");
        if (len == 0)
                return 0;
        Berth__V1__ProcessInput in = BERTH__V1__PROCESS_INPUT__INIT;
        in.data.data = (uint8_t *) data;
        in.data.len = len;
        return process_send_input(p, &in, err);
}

int berth_process_close_stdin(berth_process *p, berr **err) {
        if (p->stdin_closed || p->ended)
                return 0;
        p->stdin_closed = true;
        /* The explicit close, then the half-close: either tells the daemon. */
        Berth__V1__ProcessInput in = BERTH__V1__PROCESS_INPUT__INIT;
        in.close_stdin = true;
        if (process_send_input(p, &in, err) < 0)
                return -1;
        p->send_closed = true;
        return grpc_stream_close_send(p->s, err);
}

int berth_process_resize(berth_process *p, uint32_t width, uint32_t height, berr **err) {
        if (width == 0 || height == 0 || p->send_closed)
                return 0; /* nothing to say, or no way to say it after the half-close */
        Berth__V1__ProcessInput in = BERTH__V1__PROCESS_INPUT__INIT;
        in.width = width;
        in.height = height;
        return process_send_input(p, &in, err);
}

berth_process *berth_process_free(berth_process *p) {
        if (!p)
                return NULL;
        process_drop_current(p);
        grpc_stream_free(p->s);
        free(p);
        return NULL;
}

/* A process without stdin (no -i). Without a terminal our side is done: the half-close now (the daemon takes it
 * as stdin's end too). With one (-t alone, as docker's) the call stays open for window sizes, and an explicit
 * close tells the daemon that no stdin comes. */
static int process_no_stdin(berth_process *p, bool tty, berr **err) {
        p->stdin_closed = true;
        if (tty) {
                Berth__V1__ProcessInput in = BERTH__V1__PROCESS_INPUT__INIT;
                in.close_stdin = true;
                return process_send_input(p, &in, err);
        }
        p->send_closed = true;
        return grpc_stream_close_send(p->s, err);
}

/* Opens the call and sends its first message. */
static int process_open(berth_client *c, process_kind kind, const char *path, const ProtobufCMessage *first,
                        berth_process **ret, berr **err) {
        grpc_stream *s = NULL;
        if (grpc_client_stream_open(c->grpc, path, 0, &s, err) < 0)
                return -1;
        if (grpc_stream_send(s, first, err) < 0) {
                grpc_stream_free(s);
                return -1;
        }
        berth_process *p = xcalloc(1, sizeof *p);
        p->c = c;
        p->s = s;
        p->kind = kind;
        *ret = p;
        return 0;
}

static size_t strv_len(const char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

/* The initial terminal size goes out only as a pair, and only for a terminal: the daemon would ignore the rest. */
static void set_console_size(bool tty, uint32_t width, uint32_t height, uint32_t *ret_width, uint32_t *ret_height) {
        bool known = tty && width > 0 && height > 0;
        *ret_width = known ? width : 0;
        *ret_height = known ? height : 0;
}

static int run_open(berth_client *c, const char *image, const berth_run_opts *opts, bool detach,
                    berth_process **ret, berr **err) {
        static const berth_run_opts defaults = {};
        if (!opts)
                opts = &defaults;
        if (!image || !*image)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "run: no image given");
        _cleanup_free_ char *ref = berth_reference_normalize(image);

        size_t n_labels = strv_len(opts->labels);
        _cleanup_free_ Berth__V1__RunOptions__LabelsEntry *entries = xcalloc(n_labels + 1, sizeof *entries);
        _cleanup_free_ Berth__V1__RunOptions__LabelsEntry **labels = xcalloc(n_labels + 1, sizeof *labels);
        _cleanup_free_ char *keys = NULL;
        size_t total = 0;
        for (size_t i = 0; i < n_labels; i++)
                total += strlen(opts->labels[i]) + 1;
        keys = xmalloc(total + 1);
        char *k = keys;
        for (size_t i = 0; i < n_labels; i++) {
                /* "key=value": the key is copied out, the value points into the caller's string. */
                const char *eq = strchr(opts->labels[i], '=');
                size_t klen = eq ? (size_t) (eq - opts->labels[i]) : strlen(opts->labels[i]);
                memcpy(k, opts->labels[i], klen);
                k[klen] = '\0';
                entries[i] = (Berth__V1__RunOptions__LabelsEntry) BERTH__V1__RUN_OPTIONS__LABELS_ENTRY__INIT;
                entries[i].key = k;
                entries[i].value = (char *) (eq ? eq + 1 : "");
                labels[i] = &entries[i];
                k += klen + 1;
        }

        Berth__V1__RunOptions o = BERTH__V1__RUN_OPTIONS__INIT;
        o.image = ref;
        const char *name = opts->id && *opts->id ? opts->id : opts->name;
        if (name)
                o.name = (char *) name;
        o.args = (char **) opts->args;
        o.n_args = strv_len(opts->args);
        o.env = (char **) opts->env;
        o.n_env = strv_len(opts->env);
        o.mounts = (char **) opts->mounts;
        o.n_mounts = strv_len(opts->mounts);
        o.log_opts = (char **) opts->log_opts;
        o.n_log_opts = strv_len(opts->log_opts);
        o.labels = labels;
        o.n_labels = n_labels;
#define STR(field, value)                                                                                        \
        do {                                                                                                     \
                if (value)                                                                                       \
                        o.field = (char *) (value);                                                              \
        } while (0)
        STR(workdir, opts->workdir);
        STR(user, opts->user);
        STR(restart, opts->restart);
        STR(memory, opts->memory);
        STR(cpus, opts->cpus);
        STR(runtime, opts->runtime);
        STR(hostname, opts->hostname);
        STR(snapshotter, opts->snapshotter);
#undef STR
        o.tty = opts->tty;
        o.stdin = opts->stdin_open; /* detached: kept open for later attaches */
        o.auto_remove = opts->auto_remove;
        o.read_only = opts->read_only;
        o.detach = detach;
        set_console_size(opts->tty, opts->console_width, opts->console_height, &o.console_width,
                         &o.console_height);

        Berth__V1__RunRequest req = BERTH__V1__RUN_REQUEST__INIT;
        req.options = &o;
        if (process_open(c, PROCESS_RUN, "/berth.v1.Containers/Run", &req.base, ret, err) < 0)
                return -1;
        if (!o.stdin && process_no_stdin(*ret, o.tty && !detach, err) < 0) {
                *ret = berth_process_free(*ret);
                return -1;
        }
        return 0;
}

int berth_run_attach(berth_client *c, const char *image, const berth_run_opts *opts, berth_process **ret,
                     berr **err) {
        return run_open(c, image, opts, false, ret, err);
}

int berth_run(berth_client *c, const char *image, const berth_run_opts *opts, berth_container **ret, berr **err) {
        berth_process *p = NULL;
        if (run_open(c, image, opts, true, &p, err) < 0)
                return -1;
        _cleanup_free_ char *id = NULL;
        _cleanup_free_ char *start_error = NULL;
        berth_process_event ev;
        int r;
        while ((r = berth_process_next(p, -1, &ev, err)) == 1) {
                if (ev.kind == BERTH_PROCESS_STARTED && !id)
                        id = xstrdup(ev.id);
                else if (ev.kind == BERTH_PROCESS_EXIT && *ev.error && !start_error)
                        start_error = xstrdup(ev.error);
        }
        berth_process_free(p);
        if (r < 0)
                return -1;
        if (!id)
                return berr_set(err, BERR_INTERNAL, 0, "run: the daemon ended the call without starting %s",
                                start_error ? start_error : "the container");
        if (ret)
                return berth_container_get(c, id, ret, err);
        return 0;
}

int berth_run_exit_code(const berr *e) {
        /* The daemon's texts for a command that could not be run (the OCI runtime's, as docker maps them). */
        const char *m = e && e->msg ? e->msg : "";
        if (strcasestr(m, "executable file not found") || strcasestr(m, "not found in $PATH") ||
            strcasestr(m, "no such file or directory"))
                return 127;
        if (strcasestr(m, "permission denied") || strcasestr(m, "is a directory"))
                return 126;
        return 125;
}

int berth_exec(berth_client *c, const char *id, const berth_exec_opts *opts, berth_process **ret, berr **err) {
        if (!opts || strv_len(opts->args) == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "exec: no command given");
        Berth__V1__ExecOptions o = BERTH__V1__EXEC_OPTIONS__INIT;
        o.id = (char *) id;
        o.args = (char **) opts->args;
        o.n_args = strv_len(opts->args);
        o.env = (char **) opts->env;
        o.n_env = strv_len(opts->env);
        if (opts->workdir)
                o.workdir = (char *) opts->workdir;
        if (opts->user)
                o.user = (char *) opts->user;
        if (opts->exec_id)
                o.exec_id = (char *) opts->exec_id;
        o.tty = opts->tty;
        o.stdin = opts->stdin_open && !opts->detach;
        o.detach = opts->detach;
        set_console_size(opts->tty, opts->console_width, opts->console_height, &o.console_width,
                         &o.console_height);
        Berth__V1__ExecRequest req = BERTH__V1__EXEC_REQUEST__INIT;
        req.options = &o;
        if (process_open(c, PROCESS_EXEC, "/berth.v1.Containers/Exec", &req.base, ret, err) < 0)
                return -1;
        if (!o.stdin && process_no_stdin(*ret, o.tty && !opts->detach, err) < 0) {
                *ret = berth_process_free(*ret);
                return -1;
        }
        return 0;
}

int berth_attach(berth_client *c, const char *id, berth_process **ret, berr **err) {
        Berth__V1__AttachRequest req = BERTH__V1__ATTACH_REQUEST__INIT;
        req.id = (char *) id;
        return process_open(c, PROCESS_ATTACH, "/berth.v1.Containers/Attach", &req.base, ret, err);
}
