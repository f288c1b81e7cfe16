/* libberth internals shared by the files of src/client (not part of the public header). */
#pragma once

#include <protobuf-c/protobuf-c.h>

#include "basic/error.h"
#include "berth/berth.h"
#include "grpc/grpc.h"

/* Unary calls that only touch metadata; streams (pull, import, export, content reads) have no deadline. */
#define CLIENT_UNARY_TIMEOUT_USEC (60ULL * 1000000)
/* Chunk size for streaming archives to and from the daemon. */
#define CLIENT_CHUNK_SIZE (1u << 20)

struct berth_client {
        grpc_client *grpc;
        char *address;
        char *namespace_;
};

/* One unary call; decodes the reply with desc (a NULL reply decodes as the empty message). *ret is freed with
 * protobuf_c_message_free_unpacked. */
int client_unary(berth_client *c, const char *path, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret, berr **err);

/* Fills the image fields from a containerd.services.images.v1.Image (size stays -1). */
struct Containerd__Services__Images__V1__Image;
void client_image_from_proto(berth_image *img, const struct Containerd__Services__Images__V1__Image *p);

/* The size of an image: config + layer blob sizes of the manifest for this machine's platform. Returns -1 when
 * the content cannot be read (missing blobs, unknown media types). */
int64_t client_image_size(berth_client *c, const char *digest, const char *media_type);

/* This machine as an OCI platform: "linux", "amd64"/"arm64"/... and a variant ("v7", "v8") or "". */
void client_host_platform(const char **os, const char **arch, const char **variant);
