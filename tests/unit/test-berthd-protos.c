/* The containerd API protos as the daemon serves them: wire names of services and methods (they form the gRPC
 * paths clients call), a few field numbers that differ from their position, and the two Envelope messages. */
#include "basic/macro.h"
#include "berth/v1/berth.pb-c.h"
#include "containerd/events/image.pb-c.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "containerd/services/diff/v1/diff.pb-c.h"
#include "containerd/services/events/v1/events.pb-c.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "containerd/services/leases/v1/leases.pb-c.h"
#include "containerd/services/snapshots/v1/snapshots.pb-c.h"
#include "containerd/services/tasks/v1/tasks.pb-c.h"
#include "containerd/services/ttrpc/events/v1/events.pb-c.h"
#include "containerd/types/descriptor.pb-c.h"
#include "tap.h"

static void assert_methods(const ProtobufCServiceDescriptor *d, const char *name, const char *const *methods,
                           size_t n) {
        ASSERT_STREQ(d->name, name);
        ASSERT_EQ(d->n_methods, n);
        for (size_t i = 0; i < n; i++)
                ASSERT_STREQ(d->methods[i].name, methods[i]);
}

TEST(service_wire_names) {
        static const char *const content[] = { "Info", "Update", "List", "Delete", "Read",
                                               "Status", "ListStatuses", "Write", "Abort" };
        assert_methods(&containerd__services__content__v1__content__descriptor,
                       "containerd.services.content.v1.Content", content, ELEMENTSOF(content));
        static const char *const snapshots[] = { "Prepare", "View", "Mounts", "Commit", "Remove",
                                                 "Stat", "Update", "List", "Usage", "Cleanup" };
        assert_methods(&containerd__services__snapshots__v1__snapshots__descriptor,
                       "containerd.services.snapshots.v1.Snapshots", snapshots, ELEMENTSOF(snapshots));
        static const char *const leases[] = { "Create", "Delete", "List", "AddResource", "DeleteResource",
                                              "ListResources" };
        assert_methods(&containerd__services__leases__v1__leases__descriptor, "containerd.services.leases.v1.Leases",
                       leases, ELEMENTSOF(leases));
        static const char *const images[] = { "Get", "List", "Create", "Update", "Delete" };
        assert_methods(&containerd__services__images__v1__images__descriptor, "containerd.services.images.v1.Images",
                       images, ELEMENTSOF(images));
        static const char *const diff[] = { "Apply", "Diff" };
        assert_methods(&containerd__services__diff__v1__diff__descriptor, "containerd.services.diff.v1.Diff", diff,
                       ELEMENTSOF(diff));
        ASSERT_EQ(containerd__services__tasks__v1__tasks__descriptor.n_methods, 17);
        static const char *const berth[] = { "Pull", "Info", "ImportImage", "ExportImage" };
        assert_methods(&berth__v1__berth__descriptor, "berth.v1.Berth", berth, ELEMENTSOF(berth));
}

static unsigned field_number(const ProtobufCMessageDescriptor *d, const char *name) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
        return f ? f->id : 0;
}

TEST(field_numbers_with_gaps) {
        ASSERT_EQ(field_number(&containerd__types__descriptor__descriptor, "annotations"), 5);
        ASSERT_EQ(field_number(&containerd__services__images__v1__image__descriptor, "created_at"), 7);
        ASSERT_EQ(field_number(&containerd__services__images__v1__image__descriptor, "updated_at"), 8);
        ASSERT_EQ(field_number(&containerd__services__leases__v1__create_request__descriptor, "labels"), 3);
        ASSERT_EQ(field_number(&containerd__services__diff__v1__diff_response__descriptor, "diff"), 3);
        ASSERT_EQ(field_number(&containerd__services__tasks__v1__create_task_request__descriptor, "rootfs"), 3);
        ASSERT_EQ(field_number(&containerd__services__content__v1__write_content_request__descriptor, "labels"), 7);
}

TEST(write_action_values) {
        ASSERT_EQ(CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT, 0);
        ASSERT_EQ(CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE, 1);
        ASSERT_EQ(CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT, 2);
        ASSERT_EQ(CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED, 3);
}

/* Event type URLs are the messages' full names; image events live in the images service package. */
TEST(event_and_envelope_names) {
        ASSERT_STREQ(containerd__services__images__v1__image_create__descriptor.name,
                     "containerd.services.images.v1.ImageCreate");
        ASSERT_STREQ(containerd__services__events__v1__envelope__descriptor.name,
                     "containerd.services.events.v1.Envelope");
        ASSERT_STREQ(containerd__services__events__ttrpc__v1__envelope__descriptor.name,
                     "containerd.services.events.ttrpc.v1.Envelope");
}

/* Bytes a Go client sends for WriteContentRequest{action: COMMIT, ref: "r", total: 3, expected: "sha256:x",
 * data: "abc"}: fields in number order, proto3 defaults omitted. */
TEST(write_request_bytes) {
        Containerd__Services__Content__V1__WriteContentRequest req =
                CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_REQUEST__INIT;
        req.action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
        req.ref = (char *) "r";
        req.total = 3;
        req.expected = (char *) "sha256:x";
        req.data = (ProtobufCBinaryData) { .len = 3, .data = (uint8_t *) "abc" };
        uint8_t buf[64];
        size_t n = containerd__services__content__v1__write_content_request__pack(&req, buf);
        static const uint8_t want[] = { 0x08, 0x02, 0x12, 0x01, 'r', 0x18, 0x03, 0x22, 0x08, 's', 'h', 'a', '2',
                                        '5',  '6',  ':',  'x',  0x32, 0x03, 'a',  'b',  'c' };
        ASSERT_EQ(n, sizeof want);
        ASSERT_TRUE(memcmp(buf, want, n) == 0);
}
