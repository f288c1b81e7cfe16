/* containerd.services.images.v1.Images on the metadata image store. Deleting an image (or retargeting it) can
 * free content: the collector is scheduled, or run before answering a Delete with `sync`. */
#include <string.h>

#include "basic/log.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/metadata.h"
#include "containerd/events/image.pb-c.h"
#include "events/exchange.h"
#include "services/common.h"
#include "services/gc.h"
#include "services/services.h"

/* /images/create, /images/update and /images/delete, as containerd publishes them (labels are left out: containerd's
 * clients read only the name). ImageCreate and ImageUpdate share ImageDelete's field 1 (name). */
static void images_publish(service_context *ctx, const char *topic, const char *ns, const char *name) {
        if (strcmp(topic, "/images/delete") == 0) {
                Containerd__Services__Images__V1__ImageDelete ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_DELETE__INIT;
                ev.name = (char *) name;
                event_publish(ctx->events, ns, topic, &ev.base, NULL);
        } else if (strcmp(topic, "/images/create") == 0) {
                Containerd__Services__Images__V1__ImageCreate ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_CREATE__INIT;
                ev.name = (char *) name;
                event_publish(ctx->events, ns, topic, &ev.base, NULL);
        } else {
                Containerd__Services__Images__V1__ImageUpdate ev = CONTAINERD__SERVICES__IMAGES__V1__IMAGE_UPDATE__INIT;
                ev.name = (char *) name;
                event_publish(ctx->events, ns, topic, &ev.base, NULL);
        }
}

/* A reply message for one image, borrowing from img. Release with image_pb_done. */
typedef struct image_pb {
        Containerd__Services__Images__V1__Image image;
        Containerd__Types__Descriptor target;
        Google__Protobuf__Timestamp created_at, updated_at;
} image_pb;

static void image_pb_init(image_pb *m, const meta_image *img) {
        containerd__services__images__v1__image__init(&m->image);
        containerd__types__descriptor__init(&m->target);
        m->image.name = img->name;
        m->image.labels = service_map_from_labels(
                &img->labels, &containerd__services__images__v1__image__labels_entry__descriptor, &m->image.n_labels);
        m->target.media_type = img->target.media_type ? img->target.media_type : (char *) "";
        m->target.digest = img->target.digest ? img->target.digest : (char *) "";
        m->target.size = img->target.size;
        m->target.annotations = service_map_from_labels(&img->target.annotations,
                                                        &containerd__types__descriptor__annotations_entry__descriptor,
                                                        &m->target.n_annotations);
        m->image.target = &m->target;
        service_timestamp_set(&m->created_at, img->created_at);
        service_timestamp_set(&m->updated_at, img->updated_at);
        m->image.created_at = &m->created_at;
        m->image.updated_at = &m->updated_at;
}

static void image_pb_done(image_pb *m) {
        free(m->image.labels);
        free(m->target.annotations);
}

/* Get, Create and Update responses have one field: `Image image = 1`. */
static void reply_image(grpc_call *call, const ProtobufCMessageDescriptor *desc, const meta_image *img) {
        Containerd__Services__Images__V1__GetImageResponse resp;
        protobuf_c_message_init(desc, &resp);
        image_pb m;
        image_pb_init(&m, img);
        resp.image = &m.image;
        grpc_call_reply(call, &resp.base);
        image_pb_done(&m);
}

/* The image of a Create/Update request as a record (borrowing the strings; free with image_from_pb_done). */
static void image_from_pb(const Containerd__Services__Images__V1__Image *m, meta_image *ret) {
        *ret = (meta_image) { .name = m->name };
        service_map_to_labels((void *const *) m->labels, m->n_labels, &ret->labels);
        if (m->target) {
                ret->target.media_type = m->target->media_type;
                ret->target.digest = m->target->digest;
                ret->target.size = m->target->size;
                service_map_to_labels((void *const *) m->target->annotations, m->target->n_annotations,
                                      &ret->target.annotations);
        }
}

static void image_from_pb_done(meta_image *img) {
        meta_labels_done(&img->labels);
        meta_labels_done(&img->target.annotations);
}

static void images_get(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Images__V1__GetImageRequest *req =
                service_decode(call, &containerd__services__images__v1__get_image_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_image img = { 0 };
        berr *e = NULL;
        if (meta_image_get(ctx->db, ns, req->name, &img, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        reply_image(call, &containerd__services__images__v1__get_image_response__descriptor, &img);
        meta_image_done(&img);
}

static void images_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Images__V1__ListImagesRequest *req = service_decode(
                call, &containerd__services__images__v1__list_images_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_image *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_image_list(ctx->db, ns, (const char *const *) req->filters, req->n_filters, &list, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        image_pb *msgs = xcalloc(n ? n : 1, sizeof *msgs);
        Containerd__Services__Images__V1__Image **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        for (size_t i = 0; i < n; i++) {
                image_pb_init(&msgs[i], &list[i]);
                ptrs[i] = &msgs[i].image;
        }
        Containerd__Services__Images__V1__ListImagesResponse resp =
                CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_RESPONSE__INIT;
        resp.images = ptrs;
        resp.n_images = n;
        grpc_call_reply(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                image_pb_done(&msgs[i]);
        free(msgs);
        free(ptrs);
        meta_images_free(list, n);
}

static void images_create(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Images__V1__CreateImageRequest *req = service_decode(
                call, &containerd__services__images__v1__create_image_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        if (!req->image || !req->image->name || !*req->image->name) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "Image.Name required");
                return;
        }
        meta_image in, out = { 0 };
        image_from_pb(req->image, &in);
        berr *e = NULL;
        int r = meta_image_create(ctx->db, ns, &in, &out, &e);
        image_from_pb_done(&in);
        if (r < 0) {
                service_finish_error(call, e);
                return;
        }
        images_publish(ctx, "/images/create", ns, out.name);
        reply_image(call, &containerd__services__images__v1__create_image_response__descriptor, &out);
        meta_image_done(&out);
}

static void images_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Images__V1__UpdateImageRequest *req = service_decode(
                call, &containerd__services__images__v1__update_image_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        if (!req->image || !req->image->name || !*req->image->name) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "Image.Name required");
                return;
        }
        meta_image in, out = { 0 };
        image_from_pb(req->image, &in);
        const char *const *paths = req->update_mask ? (const char *const *) req->update_mask->paths : NULL;
        size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
        berr *e = NULL;
        int r = meta_image_update(ctx->db, ns, &in, paths, n_paths, &out, &e);
        image_from_pb_done(&in);
        if (r < 0) {
                service_finish_error(call, e);
                return;
        }
        /* As in containerd, an update schedules no collection (what a new target frees goes with the next one). */
        images_publish(ctx, "/images/update", ns, out.name);
        reply_image(call, &containerd__services__images__v1__update_image_response__descriptor, &out);
        meta_image_done(&out);
}

static void images_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Images__V1__DeleteImageRequest *req = service_decode(
                call, &containerd__services__images__v1__delete_image_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        berr *e = NULL;
        if (meta_image_delete(ctx->db, ns, req->name, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        images_publish(ctx, "/images/delete", ns, req->name);
        if (req->sync) {
                if (gc_run_now(ctx, &e) < 0) {
                        service_finish_error(call, e);
                        return;
                }
        } else
                gc_schedule(ctx);
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

#define IMAGES_METHOD(name, fn) \
        { .path = "/containerd.services.images.v1.Images/" name, .kind = GRPC_UNARY, .on_message = fn }
static const grpc_method images_methods[] = {
        IMAGES_METHOD("Get", images_get),       IMAGES_METHOD("List", images_list),
        IMAGES_METHOD("Create", images_create), IMAGES_METHOD("Update", images_update),
        IMAGES_METHOD("Delete", images_delete),
};

int images_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "images", images_methods, ELEMENTSOF(images_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
