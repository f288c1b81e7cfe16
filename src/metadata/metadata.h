/* Everything a user of berthd's metadata store (the gRPC service handlers, the content store, the
 * snapshotters, the garbage collector's driver) includes. Plain C structs in and out; no protobuf. */
#pragma once

#include "metadata/containers.h"
#include "metadata/content.h"
#include "metadata/db.h"
#include "metadata/filters.h"
#include "metadata/gc.h"
#include "metadata/images.h"
#include "metadata/labels.h"
#include "metadata/leases.h"
#include "metadata/namespaces.h"
#include "metadata/snapshots.h"
