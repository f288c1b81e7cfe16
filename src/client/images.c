/* libberth: image records (containerd.services.images.v1.Images): list, get, remove. */
#include <string.h>

#include "client/client-internal.h"
#include "containerd/services/images/v1/images.pb-c.h"
#include "google/protobuf/empty.pb-c.h"

static int64_t timestamp_ns(const Google__Protobuf__Timestamp *t) {
        return t ? t->seconds * 1000000000LL + t->nanos : 0;
}

void client_image_from_proto(berth_image *img, const Containerd__Services__Images__V1__Image *p) {
        *img = (berth_image) {
                .name = xstrdup(p->name),
                .digest = xstrdup(p->target ? p->target->digest : ""),
                .media_type = xstrdup(p->target ? p->target->media_type : ""),
                .target_size = p->target ? p->target->size : 0,
                .size = -1,
                .created_at = timestamp_ns(p->created_at),
                .updated_at = timestamp_ns(p->updated_at),
        };
        if (p->n_labels > 0) {
                img->labels = xcalloc(p->n_labels + 1, sizeof *img->labels);
                for (size_t i = 0; i < p->n_labels; i++)
                        img->labels[i] = xasprintf("%s=%s", p->labels[i]->key, p->labels[i]->value);
        }
}

void berth_image_done(berth_image *img) {
        if (!img)
                return;
        free(img->name);
        free(img->digest);
        free(img->media_type);
        for (char **l = img->labels; l && *l; l++)
                free(*l);
        free(img->labels);
        *img = (berth_image) {};
}

void berth_images_free(berth_image *images, size_t n) {
        for (size_t i = 0; i < n; i++)
                berth_image_done(&images[i]);
        free(images);
}

int berth_images_list(berth_client *c, const char *const *filters, berth_image **ret, size_t *ret_n, berr **err) {
        Containerd__Services__Images__V1__ListImagesRequest req =
                CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
        for (const char *const *f = filters; f && *f; f++)
                req.n_filters++;
        req.filters = (char **) filters;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/containerd.services.images.v1.Images/List", &req.base,
                         &containerd__services__images__v1__list_images_response__descriptor, &m, err) < 0)
                return -1;
        Containerd__Services__Images__V1__ListImagesResponse *r = (void *) m;
        berth_image *images = xcalloc(r->n_images + 1, sizeof *images);
        for (size_t i = 0; i < r->n_images; i++)
                client_image_from_proto(&images[i], r->images[i]);
        size_t n = r->n_images;
        protobuf_c_message_free_unpacked(m, NULL);
        /* Several names often share one target: read each distinct manifest once. */
        for (size_t i = 0; i < n; i++) {
                for (size_t j = 0; j < i && images[i].size < 0; j++)
                        if (strcmp(images[j].digest, images[i].digest) == 0)
                                images[i].size = images[j].size;
                if (images[i].size < 0)
                        images[i].size = client_image_size(c, images[i].digest, images[i].media_type);
        }
        *ret = images;
        *ret_n = n;
        return 0;
}

int berth_image_get(berth_client *c, const char *name, berth_image *ret, berr **err) {
        Containerd__Services__Images__V1__GetImageRequest req =
                CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
        req.name = (char *) name;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/containerd.services.images.v1.Images/Get", &req.base,
                         &containerd__services__images__v1__get_image_response__descriptor, &m, err) < 0)
                return -1;
        Containerd__Services__Images__V1__GetImageResponse *r = (void *) m;
        if (!r->image) {
                protobuf_c_message_free_unpacked(m, NULL);
                return berr_set(err, BERR_NOT_FOUND, 0, "image \"%s\": not found", name);
        }
        client_image_from_proto(ret, r->image);
        protobuf_c_message_free_unpacked(m, NULL);
        ret->size = client_image_size(c, ret->digest, ret->media_type);
        return 0;
}

int berth_image_remove(berth_client *c, const char *name, berr **err) {
        Containerd__Services__Images__V1__DeleteImageRequest req =
                CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
        req.name = (char *) name;
        req.sync = true;
        ProtobufCMessage *m = NULL;
        if (client_unary(c, "/containerd.services.images.v1.Images/Delete", &req.base,
                         &google__protobuf__empty__descriptor, &m, err) < 0)
                return -1;
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}
