/* The generated protocol messages must produce exactly the bytes containerd puts on the wire.
 * Expected bytes come from the observed frames in shared/protocol/shim-v2.md (§1.5, §2.2, §3.2, §3.8)
 * or are derived by hand from the field numbers. */
#include <stdint.h>
#include <string.h>

#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "containerd/runc/options/oci.pb-c.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "containerd/task/v2/shim.pb-c.h"
#include "ttrpc/request.pb-c.h"
#include "tap.h"

/* Packs msg and compares against want; fails the test with a hex dump on mismatch. */
#define ASSERT_PACKS_TO(msg, want)                                                              \
        do {                                                                                    \
                uint8_t _buf[512];                                                              \
                size_t _n = protobuf_c_message_get_packed_size((const ProtobufCMessage *) (msg)); \
                ASSERT_TRUE(_n <= sizeof _buf);                                                 \
                ASSERT_EQ(protobuf_c_message_pack((const ProtobufCMessage *) (msg), _buf), _n); \
                if (_n != sizeof(want) - 1 || memcmp(_buf, (want), _n) != 0) {                  \
                        printf("# got:");                                                       \
                        for (size_t _i = 0; _i < _n; _i++)                                      \
                                printf(" %02x", _buf[_i]);                                      \
                        printf("\n");                                                           \
                        TAP_FAIL("packed bytes differ from %s", #want);                         \
                }                                                                               \
        } while (0)

static const char TASK_SERVICE[] = "containerd.task.v2.Task";

TEST(connect_request_frame) {
        /* Observed Connect request data (40 bytes). */
        static const char want[] = "\x0a\x17"
                                   "containerd.task.v2.Task"
                                   "\x12\x07"
                                   "Connect"
                                   "\x1a\x04\x0a\x02"
                                   "p1";
        Containerd__Task__V2__ConnectRequest req = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
        req.id = "p1";
        uint8_t payload[16];
        size_t plen = containerd__task__v2__connect_request__pack(&req, payload);
        ASSERT_EQ(plen, 4);

        Ttrpc__Request r = TTRPC__REQUEST__INIT;
        r.service = (char *) TASK_SERVICE;
        r.method = "Connect";
        r.payload.data = payload;
        r.payload.len = plen;
        ASSERT_EQ(sizeof want - 1, 40);
        ASSERT_PACKS_TO(&r, want);

        /* And back: the request decodes to the same fields. */
        Ttrpc__Request *d = ttrpc__request__unpack(NULL, sizeof want - 1, (const uint8_t *) want);
        ASSERT_NOT_NULL(d);
        ASSERT_STREQ(d->service, TASK_SERVICE);
        ASSERT_STREQ(d->method, "Connect");
        ASSERT_EQ(d->timeout_nano, 0);
        ASSERT_EQ(d->n_metadata, 0);
        Containerd__Task__V2__ConnectRequest *cr =
                containerd__task__v2__connect_request__unpack(NULL, d->payload.len, d->payload.data);
        ASSERT_NOT_NULL(cr);
        ASSERT_STREQ(cr->id, "p1");
        containerd__task__v2__connect_request__free_unpacked(cr, NULL);
        ttrpc__request__free_unpacked(d, NULL);
}

TEST(connect_response_frame) {
        /* Observed: Response{payload=ConnectResponse{shim_pid=12456, task_pid=12480}}, no status. */
        static const char want[] = "\x12\x06\x08\xa8\x61\x10\xc0\x61";
        Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
        resp.shim_pid = 12456;
        resp.task_pid = 12480;
        uint8_t payload[16];
        size_t plen = containerd__task__v2__connect_response__pack(&resp, payload);

        Ttrpc__Response r = TTRPC__RESPONSE__INIT;
        r.payload.data = payload;
        r.payload.len = plen;
        ASSERT_PACKS_TO(&r, want);

        Ttrpc__Response *d = ttrpc__response__unpack(NULL, sizeof want - 1, (const uint8_t *) want);
        ASSERT_NOT_NULL(d);
        ASSERT_NULL(d->status);
        Containerd__Task__V2__ConnectResponse *c =
                containerd__task__v2__connect_response__unpack(NULL, d->payload.len, d->payload.data);
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(c->shim_pid, 12456);
        ASSERT_EQ(c->task_pid, 12480);
        ASSERT_STREQ(c->version, "");
        containerd__task__v2__connect_response__free_unpacked(c, NULL);
        ttrpc__response__free_unpacked(d, NULL);
}

TEST(empty_result_is_zero_bytes) {
        /* A successful call returning Empty: no status, no payload, so the frame has no data. */
        Ttrpc__Response r = TTRPC__RESPONSE__INIT;
        ASSERT_EQ(ttrpc__response__get_packed_size(&r), 0);
}

TEST(kill_request_frame) {
        static const char want[] = "\x0a\x17"
                                   "containerd.task.v2.Task"
                                   "\x12\x04"
                                   "Kill"
                                   "\x1a\x06\x0a\x02"
                                   "p1"
                                   "\x18\x09";
        Containerd__Task__V2__KillRequest k = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
        k.id = "p1";
        k.signal = 9;
        uint8_t payload[16];
        size_t plen = containerd__task__v2__kill_request__pack(&k, payload);

        Ttrpc__Request r = TTRPC__REQUEST__INIT;
        r.service = (char *) TASK_SERVICE;
        r.method = "Kill";
        r.payload.data = payload;
        r.payload.len = plen;
        ASSERT_PACKS_TO(&r, want);
}

TEST(shutdown_request_timeout) {
        /* timeout_nano 2999978990 is a 5-byte varint after tag 0x20. */
        Ttrpc__Request r = TTRPC__REQUEST__INIT;
        r.service = "s";
        r.method = "m";
        r.timeout_nano = 2999978990LL;
        static const char want[] = "\x0a\x01s\x12\x01m\x20\xee\x97\xc0\x96\x0b";
        ASSERT_PACKS_TO(&r, want);
}

TEST(state_response_not_exited_timestamp) {
        /* Go's zero time as exited_at (field 10): 52 0b 08 <10-byte negative varint>. */
        static const char want[] = "\x52\x0b\x08\x80\x92\xb8\xc3\x98\xfe\xff\xff\xff\x01";
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = -62135596800LL;
        Containerd__Task__V2__StateResponse s = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
        s.exited_at = &ts;
        ASSERT_PACKS_TO(&s, want);

        s.status = CONTAINERD__V1__TYPES__STATUS__RUNNING;
        s.pid = 7;
        uint8_t buf[64];
        size_t n = containerd__task__v2__state_response__pack(&s, buf);
        Containerd__Task__V2__StateResponse *d = containerd__task__v2__state_response__unpack(NULL, n, buf);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(d->status, 2);
        ASSERT_EQ(d->pid, 7);
        ASSERT_NOT_NULL(d->exited_at);
        ASSERT_EQ(d->exited_at->seconds, -62135596800LL);
        containerd__task__v2__state_response__free_unpacked(d, NULL);
}

TEST(delete_action_output_decodes) {
        /* Observed stdout of `containerd-shim-runc-v2 ... delete`. */
        static const uint8_t out[] = { 0x08, 0xa5, 0x56, 0x10, 0x89, 0x01, 0x1a, 0x0b, 0x08, 0xc3, 0x98,
                                       0xa0, 0xd8, 0x06, 0x10, 0xb2, 0x83, 0xd0, 0x1e };
        Containerd__Task__V2__DeleteResponse *d =
                containerd__task__v2__delete_response__unpack(NULL, sizeof out, out);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(d->pid, 11045);
        ASSERT_EQ(d->exit_status, 137);
        ASSERT_NOT_NULL(d->exited_at);
        ASSERT_TRUE(d->exited_at->seconds > 1600000000);
        ASSERT_TRUE(d->exited_at->nanos > 0 && d->exited_at->nanos < 1000000000);
        uint8_t buf[32];
        ASSERT_EQ(containerd__task__v2__delete_response__pack(d, buf), sizeof out);
        ASSERT_EQ(memcmp(buf, out, sizeof out), 0);
        containerd__task__v2__delete_response__free_unpacked(d, NULL);
}

TEST(runc_options_any_from_start_stdin) {
        static const char want[] = "\x0a\x1a"
                                   "containerd.runc.v1.Options"
                                   "\x12\x0f\x32\x0d"
                                   "/usr/bin/crun";
        Containerd__Runc__V1__Options o = CONTAINERD__RUNC__V1__OPTIONS__INIT;
        o.binary_name = "/usr/bin/crun";
        uint8_t val[32];
        size_t vlen = containerd__runc__v1__options__pack(&o, val);
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        /* The type URL is the bare full message name, which the descriptor carries. */
        ASSERT_STREQ(containerd__runc__v1__options__descriptor.name, "containerd.runc.v1.Options");
        any.type_url = (char *) containerd__runc__v1__options__descriptor.name;
        any.value.data = val;
        any.value.len = vlen;
        ASSERT_PACKS_TO(&any, want);
}

TEST(forward_request_envelope) {
        /* ForwardRequest{Envelope{timestamp{1,2}, "ns", "/tasks/oom", Any{TaskOOM{"c1"}}}}. */
        static const char want[] = "\x0a\x39"                           /* envelope, 57 bytes */
                                   "\x0a\x04\x08\x01\x10\x02"           /* timestamp */
                                   "\x12\x02ns"                         /* namespace */
                                   "\x1a\x0a/tasks/oom"                 /* topic */
                                   "\x22\x21"                           /* event Any, 33 bytes */
                                   "\x0a\x19"
                                   "containerd.events.TaskOOM"
                                   "\x12\x04\x0a\x02"
                                   "c1";
        Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
        oom.container_id = "c1";
        uint8_t val[16];
        size_t vlen = containerd__events__task_oom__pack(&oom, val);

        Google__Protobuf__Any ev = GOOGLE__PROTOBUF__ANY__INIT;
        ev.type_url = (char *) containerd__events__task_oom__descriptor.name;
        ev.value.data = val;
        ev.value.len = vlen;
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        ts.seconds = 1;
        ts.nanos = 2;
        Containerd__Services__Events__Ttrpc__V1__Envelope env = CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
        env.timestamp = &ts;
        env.namespace_ = "ns";
        env.topic = "/tasks/oom";
        env.event = &ev;
        Containerd__Services__Events__Ttrpc__V1__ForwardRequest fr =
                CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
        fr.envelope = &env;
        ASSERT_PACKS_TO(&fr, want);

        Containerd__Services__Events__Ttrpc__V1__ForwardRequest *d =
                containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, sizeof want - 1,
                                                                                  (const uint8_t *) want);
        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(d->envelope);
        ASSERT_STREQ(d->envelope->namespace_, "ns");
        ASSERT_STREQ(d->envelope->topic, "/tasks/oom");
        ASSERT_STREQ(d->envelope->event->type_url, "containerd.events.TaskOOM");
        Containerd__Events__TaskOOM *o = containerd__events__task_oom__unpack(
                NULL, d->envelope->event->value.len, d->envelope->event->value.data);
        ASSERT_NOT_NULL(o);
        ASSERT_STREQ(o->container_id, "c1");
        containerd__events__task_oom__free_unpacked(o, NULL);
        containerd__services__events__ttrpc__v1__forward_request__free_unpacked(d, NULL);
}

TEST(service_descriptors_match_wire_names) {
        const ProtobufCServiceDescriptor *t = &containerd__task__v2__task__descriptor;
        ASSERT_STREQ(t->name, TASK_SERVICE);
        ASSERT_EQ(t->n_methods, 17);
        static const char *const methods[] = { "State",  "Create",    "Start",   "Delete",    "Pids", "Pause",
                                               "Resume", "Checkpoint", "Kill",   "Exec",      "ResizePty",
                                               "CloseIO", "Update",    "Wait",   "Stats",     "Connect",
                                               "Shutdown" };
        for (unsigned i = 0; i < 17; i++)
                ASSERT_STREQ(t->methods[i].name, methods[i]);
        ASSERT_STREQ(containerd__services__events__ttrpc__v1__events__descriptor.name,
                     "containerd.services.events.ttrpc.v1.Events");
        ASSERT_STREQ(containerd__services__events__ttrpc__v1__events__descriptor.methods[0].name, "Forward");
        ASSERT_STREQ(containerd__events__task_exit__descriptor.name, "containerd.events.TaskExit");
        ASSERT_STREQ(io__containerd__cgroups__v1__metrics__descriptor.name, "io.containerd.cgroups.v1.Metrics");
        ASSERT_STREQ(io__containerd__cgroups__v2__metrics__descriptor.name, "io.containerd.cgroups.v2.Metrics");
}

TEST(update_annotations_map_entry) {
        /* A map field is a repeated {1 key, 2 value} entry under field 3. */
        Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry e =
                CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__ANNOTATIONS_ENTRY__INIT;
        e.key = "k";
        e.value = "v";
        Containerd__Task__V2__UpdateTaskRequest__AnnotationsEntry *ents[] = { &e };
        Containerd__Task__V2__UpdateTaskRequest u = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
        u.id = "c";
        u.n_annotations = 1;
        u.annotations = ents;
        static const char want[] = "\x0a\x01"
                                   "c"
                                   "\x1a\x06\x0a\x01k\x12\x01v";
        ASSERT_PACKS_TO(&u, want);
}

TEST(cgroup_v1_metrics_round_trip) {
        Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
        pids.current = 3;
        pids.limit = 100;
        uint64_t per_cpu[] = { 10, 20 };
        Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
        usage.total = 30;
        usage.n_per_cpu = 2;
        usage.per_cpu = per_cpu;
        Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
        cpu.usage = &usage;
        Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
        m.pids = &pids;
        m.cpu = &cpu;
        /* pids (2) then cpu (3): usage{total 30, per_cpu packed [10,20]}. */
        static const char want[] = "\x12\x04\x08\x03\x10\x64"
                                   "\x1a\x08\x0a\x06\x08\x1e\x22\x02\x0a\x14";
        ASSERT_PACKS_TO(&m, want);

        Io__Containerd__Cgroups__V1__Metrics *d =
                io__containerd__cgroups__v1__metrics__unpack(NULL, sizeof want - 1, (const uint8_t *) want);
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(d->pids->current, 3);
        ASSERT_EQ(d->cpu->usage->n_per_cpu, 2);
        ASSERT_EQ(d->cpu->usage->per_cpu[1], 20);
        ASSERT_NULL(d->memory);
        io__containerd__cgroups__v1__metrics__free_unpacked(d, NULL);
}

TEST(cgroup_v2_memory_field_numbers) {
        Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
        mem.usage = 1;       /* field 32: tag (32<<3)|0 = 256 -> 80 02 */
        mem.swap_limit = 2;  /* field 35: tag 280 -> 98 02 */
        Io__Containerd__Cgroups__V2__Metrics m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
        m.memory = &mem;     /* field 4 */
        static const char want[] = "\x22\x06\x80\x02\x01\x98\x02\x02";
        ASSERT_PACKS_TO(&m, want);
}
