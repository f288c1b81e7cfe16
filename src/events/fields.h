/* Event fields for filters ("event.<field>..."), the way containerd's generated Field() adaptors expose them: the
 * event message is decoded by its type URL (berthd knows every containerd.events message and the image events), then
 * the path is walked by proto field names. Strings are present when non-empty; bools and enums give their text;
 * map<string,string> fields (labels) take the rest of the path joined by "." as the key; nested messages recurse;
 * other scalars, repeated fields, timestamps and Any fields are not exposed (as in containerd). */
#pragma once

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* The descriptor of a known event type: "containerd.events.TaskExit", also with a "<host>/" prefix such as
 * "type.googleapis.com/". NULL when unknown. */
const ProtobufCMessageDescriptor *event_type_descriptor(const char *type_url);

/* The field's value as text, or NULL when absent. The string lives as long as m. */
const char *event_message_field(const ProtobufCMessage *m, const char *const *path, size_t n);
