/* shim-call: calls one containerd.task.v2.Task method on a shim socket, for integration tests that need methods ctr
 * 1.6 cannot send (Update, Shutdown, Connect on a grouped shim) and for checking replies exactly.
 *   shim-call SOCKET connect ID
 *   shim-call SOCKET state ID [EXEC_ID]
 *   shim-call SOCKET pids ID
 *   shim-call SOCKET update ID RESOURCES_JSON
 *   shim-call SOCKET shutdown ID
 *   shim-call SOCKET checkpoint ID IMAGE_PATH
 * Prints a line per result field; exits 0 on success, else prints "error CODE: MESSAGE" and exits 1. */
#include <stdio.h>
#include <string.h>

#include "containerd/task/v2/shim.pb-c.h"
#include "ttrpc/ttrpc.h"

static int call(ttrpc_client *c, const char *method, const ProtobufCMessage *req, uint8_t **resp, size_t *len) {
        berr *err = NULL;
        if (ttrpc_client_call_sync(c, "containerd.task.v2.Task", method, req, NULL, 0, 10LL * 1000000000, resp, len,
                                   &err) < 0) {
                printf("error %d: %s\n", err->code, err->msg);
                berr_free(err);
                return -1;
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 4) {
                fprintf(stderr, "usage: shim-call SOCKET connect|state|pids|update|shutdown|checkpoint ID [ARG]\n");
                return 2;
        }
        ev_loop *loop = NULL;
        ttrpc_client *c = NULL;
        berr *err = NULL;
        if (ev_loop_new(&loop) < 0 || ttrpc_client_connect(loop, argv[1], &c, &err) < 0) {
                printf("error %d: %s\n", err ? (int) err->code : 14, err ? err->msg : "connect");
                return 1;
        }
        const char *op = argv[2], *id = argv[3];
        uint8_t *resp = NULL;
        size_t len = 0;
        int rc = 1;
        if (strcmp(op, "connect") == 0) {
                Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
                req.id = (char *) id;
                if (call(c, "Connect", &req.base, &resp, &len) == 0) {
                        Containerd__Task__V2__ConnectResponse *r =
                                containerd__task__v2__connect_response__unpack(NULL, len, resp);
                        printf("shim_pid %u\ntask_pid %u\n", r->shim_pid, r->task_pid);
                        containerd__task__v2__connect_response__free_unpacked(r, NULL);
                        rc = 0;
                }
        } else if (strcmp(op, "state") == 0) {
                Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
                req.id = (char *) id;
                req.exec_id = argc > 4 ? argv[4] : (char *) "";
                if (call(c, "State", &req.base, &resp, &len) == 0) {
                        Containerd__Task__V2__StateResponse *r =
                                containerd__task__v2__state_response__unpack(NULL, len, resp);
                        printf("id %s\npid %u\nstatus %d\nexit_status %u\nexited_at %lld\n", r->id, r->pid,
                               r->status, r->exit_status, r->exited_at ? (long long) r->exited_at->seconds : 0LL);
                        containerd__task__v2__state_response__free_unpacked(r, NULL);
                        rc = 0;
                }
        } else if (strcmp(op, "pids") == 0) {
                Containerd__Task__V2__PidsRequest req = CONTAINERD__TASK__V2__PIDS_REQUEST__INIT;
                req.id = (char *) id;
                if (call(c, "Pids", &req.base, &resp, &len) == 0) {
                        Containerd__Task__V2__PidsResponse *r =
                                containerd__task__v2__pids_response__unpack(NULL, len, resp);
                        for (size_t i = 0; i < r->n_processes; i++)
                                printf("pid %u%s\n", r->processes[i]->pid, r->processes[i]->info ? " exec" : "");
                        containerd__task__v2__pids_response__free_unpacked(r, NULL);
                        rc = 0;
                }
        } else if (strcmp(op, "update") == 0 && argc > 4) {
                Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
                any.type_url = (char *) "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
                any.value.data = (uint8_t *) argv[4];
                any.value.len = strlen(argv[4]);
                Containerd__Task__V2__UpdateTaskRequest req = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
                req.id = (char *) id;
                req.resources = &any;
                rc = call(c, "Update", &req.base, &resp, &len) == 0 ? 0 : 1;
        } else if (strcmp(op, "shutdown") == 0) {
                Containerd__Task__V2__ShutdownRequest req = CONTAINERD__TASK__V2__SHUTDOWN_REQUEST__INIT;
                req.id = (char *) id;
                rc = call(c, "Shutdown", &req.base, &resp, &len) == 0 ? 0 : 1;
        } else if (strcmp(op, "checkpoint") == 0 && argc > 4) {
                Containerd__Task__V2__CheckpointTaskRequest req = CONTAINERD__TASK__V2__CHECKPOINT_TASK_REQUEST__INIT;
                req.id = (char *) id;
                req.path = argv[4];
                rc = call(c, "Checkpoint", &req.base, &resp, &len) == 0 ? 0 : 1;
        } else {
                fprintf(stderr, "shim-call: unknown operation %s\n", op);
                rc = 2;
        }
        free(resp);
        ttrpc_client_free(c);
        ev_loop_free(loop);
        return rc;
}
