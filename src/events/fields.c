#include <stdbool.h>
#include <string.h>

#include "basic/macro.h"
#include "containerd/events/container.pb-c.h"
#include "containerd/events/content.pb-c.h"
#include "containerd/events/image.pb-c.h"
#include "containerd/events/namespace.pb-c.h"
#include "containerd/events/snapshot.pb-c.h"
#include "containerd/events/task.pb-c.h"
#include "events/fields.h"

static const ProtobufCMessageDescriptor *const known_events[] = {
        &containerd__events__container_create__descriptor,
        &containerd__events__container_update__descriptor,
        &containerd__events__container_delete__descriptor,
        &containerd__events__content_delete__descriptor,
        &containerd__services__images__v1__image_create__descriptor,
        &containerd__services__images__v1__image_update__descriptor,
        &containerd__services__images__v1__image_delete__descriptor,
        &containerd__events__namespace_create__descriptor,
        &containerd__events__namespace_update__descriptor,
        &containerd__events__namespace_delete__descriptor,
        &containerd__events__snapshot_prepare__descriptor,
        &containerd__events__snapshot_commit__descriptor,
        &containerd__events__snapshot_remove__descriptor,
        &containerd__events__task_create__descriptor,
        &containerd__events__task_start__descriptor,
        &containerd__events__task_delete__descriptor,
        &containerd__events__task_io__descriptor,
        &containerd__events__task_exit__descriptor,
        &containerd__events__task_oom__descriptor,
        &containerd__events__task_exec_added__descriptor,
        &containerd__events__task_exec_started__descriptor,
        &containerd__events__task_paused__descriptor,
        &containerd__events__task_resumed__descriptor,
        &containerd__events__task_checkpointed__descriptor,
};

const ProtobufCMessageDescriptor *event_type_descriptor(const char *type_url) {
        if (!type_url)
                return NULL;
        /* typeurl accepts both the bare name containerd registers and the type.googleapis.com/ form. */
        const char *slash = strrchr(type_url, '/');
        const char *name = slash ? slash + 1 : type_url;
        for (size_t i = 0; i < ELEMENTSOF(known_events); i++)
                if (strcmp(known_events[i]->name, name) == 0)
                        return known_events[i];
        return NULL;
}

static bool is_string_map(const ProtobufCFieldDescriptor *f) {
        if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
                return false;
        const ProtobufCMessageDescriptor *entry = f->descriptor;
        return entry->n_fields == 2 && entry->fields[0].type == PROTOBUF_C_TYPE_STRING &&
               entry->fields[1].type == PROTOBUF_C_TYPE_STRING && strcmp(entry->fields[0].name, "key") == 0 &&
               strcmp(entry->fields[1].name, "value") == 0;
}

/* A labels lookup: the rest of the path joined by "." is the key (containerd special-cases labels that way, so
 * `event.labels.io.example.key==v` works). */
static const char *map_lookup(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, const char *const *path,
                              size_t n) {
        size_t count = *(const size_t *) ((const char *) m + f->quantifier_offset);
        ProtobufCMessage *const *entries = *(ProtobufCMessage *const *const *) ((const char *) m + f->offset);
        if (n == 0)
                return NULL;
        for (size_t i = 0; i < count; i++) {
                const char *key = *(char *const *) ((const char *) entries[i] + entries[i]->descriptor->fields[0].offset);
                const char *value =
                        *(char *const *) ((const char *) entries[i] + entries[i]->descriptor->fields[1].offset);
                /* Compare key against path[0] "." path[1] ... without building the joined string. */
                const char *k = key;
                bool match = true;
                for (size_t j = 0; j < n && match; j++) {
                        size_t l = strlen(path[j]);
                        if (strncmp(k, path[j], l) != 0) {
                                match = false;
                                break;
                        }
                        k += l;
                        if (j + 1 < n) {
                                if (*k != '.')
                                        match = false;
                                else
                                        k++;
                        }
                }
                if (match && *k == '\0')
                        return value ? value : "";
        }
        return NULL;
}

const char *event_message_field(const ProtobufCMessage *m, const char *const *path, size_t n) {
        if (!m || n == 0)
                return NULL;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, path[0]);
        if (!f)
                return NULL;
        const void *member = (const char *) m + f->offset;
        if (is_string_map(f))
                return map_lookup(m, f, path + 1, n - 1);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
                return NULL;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *) member;
                return s && *s ? s : NULL;
        }
        case PROTOBUF_C_TYPE_BOOL:
                return *(const protobuf_c_boolean *) member ? "true" : "false";
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *v =
                        protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *) member);
                return v ? v->name : NULL;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = *(ProtobufCMessage *const *) member;
                const ProtobufCMessageDescriptor *d = f->descriptor;
                /* containerd cannot see into timestamps, and runtime options (Any) rarely decode to something with
                 * fields; berthd exposes neither. */
                if (!sub || strncmp(d->name, "google.protobuf.", 16) == 0)
                        return NULL;
                return event_message_field(sub, path + 1, n - 1);
        }
        default:
                return NULL;
        }
}
