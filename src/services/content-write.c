/* Content/Write: containerd's bidirectional ingest protocol, as services/content/contentserver does it on top of
 * the metadata content store (metadata/content.go). Every request gets exactly one response:
 *   STAT    -> offset (the resume point), total, digest so far, started/updated times
 *   WRITE   -> data appended at `offset` (which must be the current offset; 0 restarts the ingest)
 *   COMMIT  -> like WRITE, then size/digest verified, blob published, content record added with the labels;
 *              the call then ends
 * The first request names the ref (and maybe total/expected). With the containerd-lease header the ingest and
 * then the committed content are held by that lease. Content this namespace already has is ALREADY_EXISTS
 * (clients count that as success); a blob another namespace has is "shared": the ingest records the digest and
 * a COMMIT just adds the record, without the client sending a byte. */
#include <inttypes.h>
#include <string.h>

#include "basic/log.h"
#include "containerd/services/content/v1/content.pb-c.h"
#include "content/content.h"
#include "metadata/metadata.h"
#include "metadata/util.h"
#include "services/common.h"
#include "services/content-service.h"
#include "services/gc.h"
#include "services/services.h"

typedef struct write_session {
        char *ns;
        char *lease;
        char *ref;
        char *backend_ref;
        /* NULL while the ingest shares a blob the store already has; created on the first write or truncate. */
        content_writer *w;
        char shared_digest[DIGEST_STRING_MAX];
        int64_t shared_size;
        int64_t started_at;
        int64_t total;  /* expected size, from the first request or a later one */
        char *expected; /* expected digest, likewise; NULL if none */
} write_session;

typedef Containerd__Services__Content__V1__WriteContentRequest write_request;
typedef Containerd__Services__Content__V1__WriteContentResponse write_response;

/* Errors containerd's server makes with status.Errorf carry no errdefs class suffix; these are marked so. */
typedef struct write_error {
        berr *e;
        bool raw;
} write_error;

static int fail_raw(write_error *we, berr_code code, const char *fmt, ...) _printf_(3, 4);
static int fail_raw(write_error *we, berr_code code, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        we->raw = true;
        return berr_set(&we->e, code, 0, "%s", msg);
}

static void session_free(write_session *ws) {
        if (!ws)
                return;
        content_writer_close(ws->w);
        free(ws->ns);
        free(ws->lease);
        free(ws->ref);
        free(ws->backend_ref);
        free(ws->expected);
        free(ws);
}

static void session_end(grpc_call *call) {
        session_free(grpc_call_get_state(call));
        grpc_call_set_state(call, NULL);
}

static void finish_error(grpc_call *call, write_error *we) {
        session_end(call);
        if (we->raw) {
                grpc_call_finish(call, we->e->code, "%s", we->e->msg);
                berr_free(we->e);
        } else
                service_finish_error(call, we->e);
        we->e = NULL;
}

/* containerd's metadata Writer(): the namespace's record of the expected blob answers ALREADY_EXISTS (after
 * leasing it); a blob only the store has makes a shared ingest; otherwise an ingest record plus a backend writer,
 * in one transaction so a writer that cannot open (ref locked) leaves no trace. */
static int session_open(service_context *ctx, write_session *ws, const write_request *req, write_error *we) {
        berr **err = &we->e;
        const char *digest = req->expected && *req->expected ? req->expected : NULL;
        int64_t size = req->total;
        bool shared = false;
        if (digest) {
                meta_content_info ci = { 0 };
                berr *e = NULL;
                if (meta_content_get(ctx->db, ws->ns, digest, &ci, &e) == 0) {
                        meta_content_info_done(&ci);
                        if (meta_lease_hold(ctx->db, ws->ns, ws->lease, "content", digest, err) < 0)
                                return berr_wrap(err, "unable to lease content");
                        return berr_set(err, BERR_ALREADY_EXISTS, EEXIST, "content %s: already exists", digest);
                }
                berr_free(e);
                content_info info;
                e = NULL;
                if (content_info_get(ctx->content, digest, &info, &e) == 0 && (size == 0 || size == info.size)) {
                        shared = true;
                        size = info.size;
                        snprintf(ws->shared_digest, sizeof ws->shared_digest, "%s", digest);
                        ws->shared_size = info.size;
                }
                berr_free(e);
        }
        meta_ingest ing = { 0 };
        if (meta_tx_begin(ctx->db, err) < 0)
                return -1;
        if (meta_ingest_open(ctx->db, ws->ns, ws->ref, shared ? digest : NULL, ws->lease, &ing, err) < 0 ||
            (!shared && content_writer_open(ctx->content, ing.backend_ref, size, NULL, &ws->w, err) < 0)) {
                meta_ingest_done(&ing);
                meta_tx_rollback(ctx->db);
                return -1;
        }
        ws->backend_ref = TAKE_PTR(ing.backend_ref);
        meta_ingest_done(&ing);
        if (meta_tx_commit(ctx->db, err) < 0)
                return -1;
        ws->started_at = meta_now_ns();
        ws->total = req->total;
        ws->expected = digest ? xstrdup(digest) : NULL;
        return 0;
}

/* Turns a shared ingest into a real one (containerd's createAndCopy): a backend writer holding the first
 * copy_size bytes of the shared blob. */
static int session_unshare(service_context *ctx, write_session *ws, int64_t copy_size, berr **err) {
        content_writer *w = NULL;
        if (content_writer_open(ctx->content, ws->backend_ref, copy_size, NULL, &w, err) < 0)
                return -1;
        if (copy_size > 0) {
                content_reader *r = NULL;
                if (content_reader_open(ctx->content, ws->shared_digest, &r, err) < 0) {
                        content_writer_close(w);
                        return -1;
                }
                uint8_t *buf = xmalloc(1u << 20);
                int64_t off = 0;
                int rc = 0;
                while (off < copy_size) {
                        size_t want = copy_size - off < (1 << 20) ? (size_t) (copy_size - off) : (1u << 20);
                        ssize_t n = content_reader_pread(r, buf, want, off, err);
                        if (n <= 0 || content_writer_write(w, buf, (size_t) n, err) < 0) {
                                if (n == 0)
                                        berr_set(err, BERR_DATA_LOSS, 0, "unexpected end of %s", ws->shared_digest);
                                rc = -1;
                                break;
                        }
                        off += n;
                }
                free(buf);
                content_reader_free(r);
                if (rc < 0) {
                        content_writer_close(w);
                        return -1;
                }
        }
        ws->w = w;
        return 0;
}

static void session_status(const write_session *ws, content_status *ret) {
        if (ws->w) {
                content_writer_status(ws->w, ret);
                return;
        }
        *ret = (content_status) {
                .offset = ws->shared_size,
                .total = ws->shared_size,
                .started_at = ws->started_at,
                .updated_at = ws->started_at,
        };
}

static void session_digest(const write_session *ws, char ret[DIGEST_STRING_MAX]) {
        if (ws->w)
                content_writer_digest(ws->w, ret);
        else
                snprintf(ret, DIGEST_STRING_MAX, "%s", ws->shared_digest);
}

/* containerd's namespacedWriter.Commit: publish (or reuse) the blob, then in one transaction the content
 * record with the labels, the ingest record gone, the content held by the lease. A record that already
 * exists is ALREADY_EXISTS after all that, as in containerd. */
static int session_commit(service_context *ctx, write_session *ws, const write_request *req, write_error *we) {
        berr **err = &we->e;
        meta_content_info info = { 0 };
        service_map_to_labels((void *const *) req->labels, req->n_labels, &info.labels);
        if (meta_labels_validate(&info.labels, "info.Labels", err) < 0) {
                meta_labels_done(&info.labels);
                return -1;
        }
        _cleanup_free_ char *qref = meta_quote(ws->ref);
        char actual[DIGEST_STRING_MAX];
        int64_t size = ws->total;
        int r = -1;
        gc_content_lock();
        if (!ws->w) {
                if (size != 0 && size != ws->shared_size) {
                        berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s failed size validation: %" PRId64 " != %" PRId64,
                                 qref, ws->shared_size, size);
                        goto out;
                }
                if (ws->expected && strcmp(ws->expected, ws->shared_digest) != 0) {
                        berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s unexpected digest", qref);
                        goto out;
                }
                size = ws->shared_size;
                snprintf(actual, sizeof actual, "%s", ws->shared_digest);
        } else {
                int64_t offset = content_writer_offset(ws->w);
                if (size != 0 && size != offset) {
                        berr_set(err, BERR_FAILED_PRECONDITION, 0, "%s failed size validation: %" PRId64 " != %" PRId64,
                                 qref, offset, size);
                        goto out;
                }
                size = offset;
                content_writer_digest(ws->w, actual);
                berr *e = NULL;
                if (content_writer_commit(ws->w, size, ws->expected, NULL, &e) < 0) {
                        if (e->code != BERR_ALREADY_EXISTS) {
                                *err = e;
                                goto out;
                        }
                        berr_free(e); /* another namespace published it meanwhile: ours is the same bytes */
                }
        }

        info.digest = actual;
        info.size = size;
        berr *exists = NULL;
        if (meta_tx_begin(ctx->db, err) < 0)
                goto out;
        if (meta_content_add(ctx->db, ws->ns, &info, NULL, &exists) < 0 && exists->code != BERR_ALREADY_EXISTS) {
                *err = exists;
                meta_tx_rollback(ctx->db);
                goto out;
        }
        berr *e = NULL;
        if (meta_ingest_delete(ctx->db, ws->ns, ws->ref, &e) < 0) {
                if (e->code != BERR_NOT_FOUND) {
                        *err = e;
                        berr_free(exists);
                        meta_tx_rollback(ctx->db);
                        goto out;
                }
                berr_free(e);
        }
        if (meta_lease_hold(ctx->db, ws->ns, ws->lease, "content", actual, err) < 0 ||
            meta_tx_commit(ctx->db, err) < 0) {
                berr_free(exists);
                if (meta_tx_depth(ctx->db) > 0)
                        meta_tx_rollback(ctx->db);
                goto out;
        }
        log_debug("content %s (%" PRId64 " bytes) committed in namespace %s from ref %s", actual, size, ws->ns,
                  ws->ref);
        if (exists) {
                *err = exists;
                goto out;
        }
        r = 0;
out:
        gc_content_unlock();
        info.digest = NULL;
        meta_labels_done(&info.labels);
        return r;
}

/* One request, one response (filled into resp, its strings pointing into ws or digest). Returns 1 when the
 * session is complete (committed), 0 to go on, -1 on error. */
static int session_step(service_context *ctx, write_session *ws, const write_request *req, write_response *resp,
                        char digest[DIGEST_STRING_MAX], Google__Protobuf__Timestamp ts[2], write_error *we) {
        resp->action = req->action;
        content_status st = { 0 };
        session_status(ws, &st);
        resp->offset = st.offset;

        if (req->expected && *req->expected) {
                if (ws->expected && strcmp(ws->expected, req->expected) != 0)
                        log_debug("write %s: commit digest differs from writer digest: %s != %s", ws->ref,
                                  req->expected, ws->expected);
                free(ws->expected);
                ws->expected = xstrdup(req->expected);
                meta_content_info ci = { 0 };
                berr *e = NULL;
                if (meta_content_get(ctx->db, ws->ns, req->expected, &ci, &e) == 0) {
                        meta_content_info_done(&ci);
                        ws->w = content_writer_close(ws->w);
                        if (content_abort_ingest(ctx, ws->ns, ws->ref, &e) < 0) {
                                log_warn("failed to abort write %s: %s", ws->ref, e->msg);
                                berr_free(e);
                        }
                        content_status_done(&st);
                        return fail_raw(we, BERR_ALREADY_EXISTS, "blob with expected digest %s exists",
                                        req->expected);
                }
                berr_free(e);
        }
        if (req->total > 0)
                ws->total = req->total;

        switch (req->action) {
        case CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__STAT:
                session_digest(ws, digest);
                service_timestamp_set(&ts[0], st.started_at);
                service_timestamp_set(&ts[1], st.updated_at);
                resp->started_at = &ts[0];
                resp->updated_at = &ts[1];
                resp->total = ws->total;
                break;
        case CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE:
        case CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT:
                if (req->offset > 0 && req->offset != st.offset) {
                        content_status_done(&st);
                        return fail_raw(we, BERR_OUT_OF_RANGE, "write @%" PRId64 " must occur at current offset %" PRId64,
                                        req->offset, resp->offset);
                }
                if (req->offset == 0 && st.offset > 0) {
                        int r = ws->w ? content_writer_truncate(ws->w, 0, &we->e) : session_unshare(ctx, ws, 0, &we->e);
                        if (r < 0) {
                                content_status_done(&st);
                                return berr_wrap(&we->e, "truncate failed");
                        }
                        resp->offset = 0;
                }
                if (req->data.len > 0) {
                        if (!ws->w && session_unshare(ctx, ws, ws->shared_size, &we->e) < 0) {
                                content_status_done(&st);
                                return -1;
                        }
                        if (content_writer_write(ws->w, req->data.data, req->data.len, &we->e) < 0) {
                                content_status_done(&st);
                                return -1;
                        }
                        resp->offset += (int64_t) req->data.len;
                }
                if (req->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT &&
                    session_commit(ctx, ws, req, we) < 0) {
                        content_status_done(&st);
                        return -1;
                }
                session_digest(ws, digest);
                break;
        default:
                content_status_done(&st);
                return fail_raw(we, BERR_INVALID_ARGUMENT, "unknown write action %d", (int) req->action);
        }
        content_status_done(&st);
        resp->digest = digest;
        return req->action == CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT ? 1 : 0;
}

void content_write_on_message(grpc_call *call, const uint8_t *msg, size_t len, void *userdata) {
        service_context *ctx = userdata;
        _cleanup_pb_ write_request *req = service_decode(
                call, &containerd__services__content__v1__write_content_request__descriptor, msg, len);
        if (!req) {
                session_end(call);
                return;
        }
        write_error we = { 0 };
        write_session *ws = grpc_call_get_state(call);
        if (!ws) {
                const char *ns = service_namespace(call, &we.e);
                if (!ns) {
                        finish_error(call, &we);
                        return;
                }
                if (!req->ref || !*req->ref) {
                        fail_raw(&we, BERR_INVALID_ARGUMENT, "first message must have a reference");
                        finish_error(call, &we);
                        return;
                }
                ws = xcalloc(1, sizeof *ws);
                ws->ns = xstrdup(ns);
                ws->ref = xstrdup(req->ref);
                const char *lease = service_lease(call);
                ws->lease = lease ? xstrdup(lease) : NULL;
                grpc_call_set_state(call, ws);
                if (session_open(ctx, ws, req, &we) < 0) {
                        finish_error(call, &we);
                        return;
                }
                log_debug("write %s started in namespace %s (total %" PRId64 ", expected %s)", ws->ref, ws->ns,
                          req->total, ws->expected ? ws->expected : "-");
        }
        write_response resp = CONTAINERD__SERVICES__CONTENT__V1__WRITE_CONTENT_RESPONSE__INIT;
        char digest[DIGEST_STRING_MAX] = "";
        Google__Protobuf__Timestamp ts[2];
        int r = session_step(ctx, ws, req, &resp, digest, ts, &we);
        if (r < 0) {
                if (we.e->code != BERR_ALREADY_EXISTS)
                        log_debug("write %s failed: %s", ws->ref, we.e->msg);
                finish_error(call, &we);
                return;
        }
        (void) grpc_call_send(call, &resp.base);
        if (r > 0) {
                session_end(call);
                grpc_call_finish(call, BERR_OK, NULL);
        }
}

void content_write_on_half_close(grpc_call *call, void *userdata) {
        /* The client is done without committing: the ingest stays for a later resume. */
        session_end(call);
        grpc_call_finish(call, BERR_OK, NULL);
}

void content_write_on_cancel(grpc_call *call, void *userdata) {
        session_end(call);
}
