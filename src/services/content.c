/* containerd.services.content.v1.Content over the shared blob store (src/content) and the per-namespace content
 * and ingest records (src/metadata), with containerd's metadata content store semantics: a namespace sees a blob
 * only through its record, ingests are addressed by the client's ref and map to a namespace-unique backend ref.
 * Write is in content-write.c. */
#include <string.h>

#include "basic/log.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "content/content.h"
#include "google/protobuf/empty.pb-c.h"
#include "metadata/metadata.h"
#include "metadata/util.h"
#include "services/common.h"
#include "services/content-service.h"
#include "services/gc.h"
#include "services/services.h"

#define LIST_BATCH 100                /* infos per List response, as containerd */
#define READ_CHUNK (1u << 20)         /* bytes per Read response, containerd's buffer size */
#define READ_HIGH_WATER (4u << 20)    /* stop producing while this much is queued for the socket ... */
#define READ_LOW_WATER (1u << 20)     /* ... and resume below this */

const char *service_lease(grpc_call *call) {
        const char *lease = grpc_call_metadata(call, SERVICE_LEASE_HEADER);
        return lease && *lease ? lease : NULL;
}

/* An Info message borrowing from ci; ts must provide room for two timestamps. List leaves updated_at out, as
 * containerd does. Free m->labels afterwards. */
static void info_pb_init(Containerd__Services__Content__V1__Info *m, const meta_content_info *ci,
                         Google__Protobuf__Timestamp ts[2], bool with_updated) {
        containerd__services__content__v1__info__init(m);
        m->digest = ci->digest;
        m->size = ci->size;
        service_timestamp_set(&ts[0], ci->created_at);
        m->created_at = &ts[0];
        if (with_updated) {
                service_timestamp_set(&ts[1], ci->updated_at);
                m->updated_at = &ts[1];
        }
        m->labels = service_map_from_labels(&ci->labels,
                                            &containerd__services__content__v1__info__labels_entry__descriptor,
                                            &m->n_labels);
}

/* Info and Update answer with one field, `Info info = 1`. */
static void reply_info(grpc_call *call, const ProtobufCMessageDescriptor *desc, const meta_content_info *ci) {
        Containerd__Services__Content__V1__InfoResponse resp;
        protobuf_c_message_init(desc, &resp);
        Containerd__Services__Content__V1__Info info;
        Google__Protobuf__Timestamp ts[2];
        info_pb_init(&info, ci, ts, true);
        resp.info = &info;
        grpc_call_reply(call, &resp.base);
        free(info.labels);
}

static bool digest_valid_or_finish(grpc_call *call, const char *digest) {
        if (meta_digest_is_valid(digest))
                return true;
        _cleanup_free_ char *q = meta_quote(digest ? digest : "");
        grpc_call_finish(call, BERR_INVALID_ARGUMENT, "%s failed validation", q);
        return false;
}

static void rpc_info(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__InfoRequest *req =
                service_decode(call, &containerd__services__content__v1__info_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns || !digest_valid_or_finish(call, req->digest))
                return;
        meta_content_info ci = { 0 };
        berr *e = NULL;
        if (meta_content_get(ctx->db, ns, req->digest, &ci, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        reply_info(call, &containerd__services__content__v1__info_response__descriptor, &ci);
        meta_content_info_done(&ci);
}

static void rpc_update(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__UpdateRequest *req =
                service_decode(call, &containerd__services__content__v1__update_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        const char *digest = req->info ? req->info->digest : NULL;
        if (!ns || !digest_valid_or_finish(call, digest))
                return;
        meta_content_info in = { .digest = (char *) digest }, out = { 0 };
        service_map_to_labels((void *const *) req->info->labels, req->info->n_labels, &in.labels);
        const char *const *paths = req->update_mask ? (const char *const *) req->update_mask->paths : NULL;
        size_t n_paths = req->update_mask ? req->update_mask->n_paths : 0;
        berr *e = NULL;
        int r = meta_content_update(ctx->db, ns, &in, paths, n_paths, &out, &e);
        meta_labels_done(&in.labels);
        if (r < 0) {
                service_finish_error(call, e);
                return;
        }
        /* Like containerd, only deletions schedule a collection: what a dropped gc.ref label freed goes with the
         * next one. Collecting here would also take unreferenced content the client is still labelling. */
        reply_info(call, &containerd__services__content__v1__update_response__descriptor, &out);
        meta_content_info_done(&out);
}

static void send_info_batch(grpc_call *call, const meta_content_info *list, size_t n) {
        Containerd__Services__Content__V1__Info msgs[LIST_BATCH];
        Containerd__Services__Content__V1__Info *ptrs[LIST_BATCH];
        Google__Protobuf__Timestamp ts[LIST_BATCH][2];
        for (size_t i = 0; i < n; i++) {
                info_pb_init(&msgs[i], &list[i], ts[i], false);
                ptrs[i] = &msgs[i];
        }
        Containerd__Services__Content__V1__ListContentResponse resp =
                CONTAINERD__SERVICES__CONTENT__V1__LIST_CONTENT_RESPONSE__INIT;
        resp.info = ptrs;
        resp.n_info = n;
        (void) grpc_call_send(call, &resp.base);
        for (size_t i = 0; i < n; i++)
                free(msgs[i].labels);
}

static void rpc_list(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__ListContentRequest *req = service_decode(
                call, &containerd__services__content__v1__list_content_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_content_info *list = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_content_list(ctx->db, ns, (const char *const *) req->filters, req->n_filters, &list, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        for (size_t i = 0; i < n; i += LIST_BATCH)
                send_info_batch(call, list + i, n - i < LIST_BATCH ? n - i : LIST_BATCH);
        meta_content_infos_free(list, n);
        grpc_call_finish(call, BERR_OK, NULL);
}

static void rpc_delete(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__DeleteContentRequest *req = service_decode(
                call, &containerd__services__content__v1__delete_content_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        const char *reason = NULL;
        if (meta_digest_check(req->digest, &reason) < 0) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "%s", reason);
                return;
        }
        berr *e = NULL;
        if (meta_tx_begin(ctx->db, &e) < 0 || meta_content_delete(ctx->db, ns, req->digest, &e) < 0 ||
            meta_lease_release(ctx->db, ns, service_lease(call), "content", req->digest, &e) < 0) {
                if (meta_tx_depth(ctx->db) > 0)
                        meta_tx_rollback(ctx->db);
                service_finish_error(call, e);
                return;
        }
        if (meta_tx_commit(ctx->db, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        log_debug("content %s deleted in namespace %s", req->digest, ns);
        gc_schedule(ctx);
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

/* ---- Read: a server stream paced by what the connection has taken ---- */

typedef struct read_state {
        content_reader *reader;
        int64_t offset, end;
        uint8_t *buf;
} read_state;

static void read_state_free(grpc_call *call) {
        read_state *st = grpc_call_get_state(call);
        if (!st)
                return;
        grpc_call_set_state(call, NULL);
        content_reader_free(st->reader);
        free(st->buf);
        free(st);
}

static void read_finish(grpc_call *call, berr *e) {
        read_state_free(call);
        if (e)
                service_finish_error(call, e);
        else
                grpc_call_finish(call, BERR_OK, NULL);
}

/* Queues chunks until the high-water mark, then waits for the connection to drain below the low-water mark. */
static void read_pump(grpc_call *call, void *userdata) {
        read_state *st = grpc_call_get_state(call);
        if (!st)
                return;
        while (st->offset < st->end && grpc_call_pending_bytes(call) < READ_HIGH_WATER) {
                int64_t left = st->end - st->offset;
                size_t want = left < (int64_t) READ_CHUNK ? (size_t) left : READ_CHUNK;
                berr *e = NULL;
                ssize_t n = content_reader_pread(st->reader, st->buf, want, st->offset, &e);
                if (n < 0) {
                        read_finish(call, e);
                        return;
                }
                if (n == 0) /* the blob is shorter than its record says: end early, as io.SectionReader does */
                        break;
                Containerd__Services__Content__V1__ReadContentResponse resp =
                        CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_RESPONSE__INIT;
                resp.offset = st->offset;
                resp.data.data = st->buf;
                resp.data.len = (size_t) n;
                if (grpc_call_send(call, &resp.base) < 0) {
                        read_finish(call, NULL); /* the call is gone; finishing is a harmless no-op */
                        return;
                }
                st->offset += n;
                if ((size_t) n < want)
                        break;
        }
        if (st->offset >= st->end || grpc_call_pending_bytes(call) < READ_HIGH_WATER) {
                read_finish(call, NULL);
                return;
        }
        grpc_call_set_on_writable(call, READ_LOW_WATER, read_pump);
}

static void rpc_read(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__ReadContentRequest *req = service_decode(
                call, &containerd__services__content__v1__read_content_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        const char *reason = NULL;
        if (meta_digest_check(req->digest, &reason) < 0) {
                grpc_call_finish(call, BERR_INVALID_ARGUMENT, "%s: %s", req->digest, reason);
                return;
        }
        meta_content_info ci = { 0 };
        berr *e = NULL;
        if (meta_content_get(ctx->db, ns, req->digest, &ci, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        int64_t size = ci.size;
        meta_content_info_done(&ci);
        content_reader *reader = NULL;
        if (content_reader_open(ctx->content, req->digest, &reader, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        /* containerd checks against the recorded size; the blob's own size is the same for committed content. */
        int64_t offset = req->offset < 0 ? 0 : req->offset;
        if (offset > size) {
                content_reader_free(reader);
                grpc_call_finish(call, BERR_OUT_OF_RANGE, "read past object length %lld bytes", (long long) size);
                return;
        }
        int64_t want = req->size;
        if (want <= 0 || offset + want > size)
                want = size - offset;
        read_state *st = xcalloc(1, sizeof *st);
        st->reader = reader;
        st->offset = offset;
        st->end = offset + want;
        st->buf = xmalloc(READ_CHUNK);
        grpc_call_set_state(call, st);
        read_pump(call, ctx);
}

static void rpc_read_cancel(grpc_call *call, void *userdata) {
        read_state_free(call);
}

/* ---- ingests ---- */

static void status_pb_init(Containerd__Services__Content__V1__Status *m, const content_status *cs,
                           const meta_ingest *ing, Google__Protobuf__Timestamp ts[2]) {
        containerd__services__content__v1__status__init(m);
        service_timestamp_set(&ts[0], cs->started_at);
        service_timestamp_set(&ts[1], cs->updated_at);
        m->started_at = &ts[0];
        m->updated_at = &ts[1];
        m->ref = ing->ref;
        m->offset = cs->offset;
        m->total = cs->total;
        m->expected = ing->expected ? ing->expected : (char *) "";
}

static void rpc_status(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__StatusRequest *req =
                service_decode(call, &containerd__services__content__v1__status_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_ingest ing = { 0 };
        content_status cs = { 0 };
        berr *e = NULL;
        if (meta_ingest_get(ctx->db, ns, req->ref, &ing, &e) < 0 ||
            content_status_get(ctx->content, ing.backend_ref, &cs, &e) < 0) {
                meta_ingest_done(&ing);
                _cleanup_free_ char *q = meta_quote(req->ref);
                berr_wrap(&e, "could not get status for ref %s", q);
                service_finish_error(call, e);
                return;
        }
        Containerd__Services__Content__V1__Status st;
        Google__Protobuf__Timestamp ts[2];
        status_pb_init(&st, &cs, &ing, ts);
        Containerd__Services__Content__V1__StatusResponse resp = CONTAINERD__SERVICES__CONTENT__V1__STATUS_RESPONSE__INIT;
        resp.status = &st;
        grpc_call_reply(call, &resp.base);
        content_status_done(&cs);
        meta_ingest_done(&ing);
}

static void rpc_list_statuses(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__ListStatusesRequest *req = service_decode(
                call, &containerd__services__content__v1__list_statuses_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        meta_ingest *ings = NULL;
        size_t n = 0;
        berr *e = NULL;
        if (meta_ingest_list(ctx->db, ns, (const char *const *) req->filters, req->n_filters, &ings, &n, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        content_status *css = xcalloc(n ? n : 1, sizeof *css);
        Containerd__Services__Content__V1__Status *msgs = xcalloc(n ? n : 1, sizeof *msgs);
        Containerd__Services__Content__V1__Status **ptrs = xcalloc(n ? n : 1, sizeof *ptrs);
        Google__Protobuf__Timestamp(*ts)[2] = xcalloc(n ? n : 1, sizeof *ts);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
                if (content_status_get(ctx->content, ings[i].backend_ref, &css[m], &e) < 0) {
                        /* No ingest on disk (yet, or a shared one): containerd skips it too. */
                        if (e->code != BERR_NOT_FOUND)
                                log_warn("content status of %s: %s", ings[i].backend_ref, e->msg);
                        berr_free(e);
                        e = NULL;
                        continue;
                }
                status_pb_init(&msgs[m], &css[m], &ings[i], ts[m]);
                ptrs[m] = &msgs[m];
                m++;
        }
        Containerd__Services__Content__V1__ListStatusesResponse resp =
                CONTAINERD__SERVICES__CONTENT__V1__LIST_STATUSES_RESPONSE__INIT;
        resp.statuses = ptrs;
        resp.n_statuses = m;
        grpc_call_reply(call, &resp.base);
        content_statuses_free(css, m);
        free(msgs);
        free(ptrs);
        free(ts);
        meta_ingests_free(ings, n);
}

/* containerd's metadata Abort: the record goes, and the backend ingest unless it was shared (no data of its own). */
int content_abort_ingest(service_context *ctx, const char *ns, const char *ref, berr **err) {
        meta_ingest ing = { 0 };
        if (meta_tx_begin(ctx->db, err) < 0)
                return -1;
        if (meta_ingest_get(ctx->db, ns, ref, &ing, err) < 0 || meta_ingest_delete(ctx->db, ns, ref, err) < 0)
                goto fail;
        berr *e = NULL;
        if (content_abort(ctx->content, ing.backend_ref, &e) < 0) {
                /* A shared ingest, or one whose writer never got to create its directory. */
                if (e->code != BERR_NOT_FOUND) {
                        *err = e;
                        goto fail;
                }
                berr_free(e);
        }
        meta_ingest_done(&ing);
        return meta_tx_commit(ctx->db, err);
fail:
        meta_ingest_done(&ing);
        meta_tx_rollback(ctx->db);
        return -1;
}

static void rpc_abort(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ Containerd__Services__Content__V1__AbortRequest *req =
                service_decode(call, &containerd__services__content__v1__abort_request__descriptor, msg, len);
        if (!req)
                return;
        const char *ns = service_namespace_or_finish(call);
        if (!ns)
                return;
        berr *e = NULL;
        if (content_abort_ingest(ctx, ns, req->ref, &e) < 0) {
                service_finish_error(call, e);
                return;
        }
        Google__Protobuf__Empty resp = GOOGLE__PROTOBUF__EMPTY__INIT;
        grpc_call_reply(call, &resp.base);
}

#define CONTENT_PATH(name) "/containerd.services.content.v1.Content/" name
static const grpc_method content_methods[] = {
        { .path = CONTENT_PATH("Info"), .kind = GRPC_UNARY, .on_message = rpc_info },
        { .path = CONTENT_PATH("Update"), .kind = GRPC_UNARY, .on_message = rpc_update },
        { .path = CONTENT_PATH("List"), .kind = GRPC_SERVER_STREAMING, .on_message = rpc_list },
        { .path = CONTENT_PATH("Delete"), .kind = GRPC_UNARY, .on_message = rpc_delete },
        { .path = CONTENT_PATH("Read"),
          .kind = GRPC_SERVER_STREAMING,
          .on_message = rpc_read,
          .on_cancel = rpc_read_cancel },
        { .path = CONTENT_PATH("Status"), .kind = GRPC_UNARY, .on_message = rpc_status },
        { .path = CONTENT_PATH("ListStatuses"), .kind = GRPC_UNARY, .on_message = rpc_list_statuses },
        { .path = CONTENT_PATH("Write"),
          .kind = GRPC_BIDI_STREAMING,
          .on_message = content_write_on_message,
          .on_half_close = content_write_on_half_close,
          .on_cancel = content_write_on_cancel },
        { .path = CONTENT_PATH("Abort"), .kind = GRPC_UNARY, .on_message = rpc_abort },
};

int content_service_register(service_context *ctx, berr **err) {
        service_plugin *p = NULL;
        if (service_register(ctx, "content", content_methods, ELEMENTSOF(content_methods), &p, err) < 0)
                return -1;
        service_plugin_require(p, "io.containerd.metadata.v1");
        return 0;
}
