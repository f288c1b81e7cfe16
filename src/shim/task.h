/* The shim server's state: the containers it serves (one, or several when grouped), each with its init process and
 * its execs, and the exits that arrive before the process they belong to is known. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/event.h"
#include "shim/oci.h"
#include "shim/options.h"
#include "shim/publisher.h"
#include "shim/stdio.h"
#include "ttrpc/ttrpc.h"

typedef enum proc_state {
        PROC_CREATED,
        PROC_RUNNING,
        PROC_STOPPED,
} proc_state;

typedef struct wait_call {
        struct wait_call *next;
        ttrpc_call *call;
} wait_call;

typedef struct container container;

typedef struct process {
        struct process *next; /* in the container's exec list */
        container *container;
        char *id; /* exec id, or the container id for init */
        bool is_init;
        proc_state state;
        pid_t pid;
        char *stdin_path, *stdout_path, *stderr_path;
        bool terminal;
        char *spec_json; /* exec: the OCI Process JSON, terminal already set */
        shim_stdio *io;
        uint32_t exit_status;
        int64_t exited_at_ns;
        bool exit_reported;   /* TaskExit published and Wait callers answered */
        ev_source *drain_timer;
        wait_call *waiters;
} process;

struct container {
        struct container *next;
        struct shim_server *server;
        char *id;
        char *bundle;
        shim_options options;
        oci_runtime rt;
        process *init;
        process *execs;
        bool paused;
        bool rootfs_mounted;
        bool private_pid_ns; /* false: kill every process of the container when init exits */
        bool has_hooks;      /* config.json has OCI hooks: always start through the runtime binary */
        struct oom_watch *oom; /* cgroups/oom.h */
};

#define EXIT_TABLE_SIZE 256

typedef struct shim_server {
        ev_loop *loop;
        ttrpc_server *ttrpc;
        publisher *pub;
        char *ns;
        char *id; /* the id the server was started for (also the group id's first member) */
        char *socket_path;
        container *containers;
        /* Exits of pids not (yet) known as a process: the init or an exec may exit before its pid file was read. */
        struct {
                pid_t pid;
                int status;
                int64_t when_ns;
        } exits[EXIT_TABLE_SIZE];
        size_t exit_next;
        bool shutdown_requested;
        ev_source *shutdown_timer;
        ev_source *trim_timer; /* idle memory trim, re-armed by every request */
} shim_server;

/* container.c */
container *server_find_container(shim_server *s, const char *id);
process *container_find_process(container *c, const char *exec_id); /* "" or NULL → init */
void container_free(container *c);
void server_remove_container(shim_server *s, container *c);
/* A pid was reaped. */
void server_handle_exit(shim_server *s, pid_t pid, int wait_status);
/* Looks up and removes a recorded early exit for pid; returns true and the status when found. */
bool server_take_early_exit(shim_server *s, pid_t pid, int *ret_status);
void process_set_exited(process *p, int wait_status);
void process_free(process *p);
int process_read_pid_file(const char *path, pid_t *ret, berr **err);
/* Answer all pending Wait calls of p with its exit. */
void process_answer_waiters(process *p);
/* Publish TaskExit and answer Wait callers, once (normally after the output drained). */
void process_report_exit(process *p);

/* service.c */
extern const ttrpc_method task_service_methods[];
extern const size_t task_service_n_methods;
#define TASK_SERVICE_NAME "containerd.task.v2.Task"

/* server.c */
int shim_server_run(const char *ns, const char *id, const char *socket_path, int listen_fd, bool debug);
void shim_server_maybe_exit(shim_server *s);
