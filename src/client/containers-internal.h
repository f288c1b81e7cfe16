/* libberth internals shared by the container files of src/client. */
#pragma once

#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"

/* Unix nanoseconds of a Timestamp; 0 for NULL. */
int64_t client_timestamp_ns(const Google__Protobuf__Timestamp *ts);
