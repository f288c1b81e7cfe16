/* The Response envelope and status texts, worded as Go's ttrpc words them so containerd sees identical errors. */
#include <inttypes.h>

#include "google/rpc/status.pb-c.h"
#include "ttrpc/request.pb-c.h"
#include "ttrpc/ttrpc-internal.h"

uint8_t *ttrpc_response_frame(uint32_t stream_id, berr_code code, const char *message, const uint8_t *payload,
                              size_t payload_len, size_t *ret_len) {
        Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
        Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;

        if (code != BERR_OK) {
                /* Error: status present, payload absent. */
                status.code = (int32_t) code;
                status.message = (char *) (message ? message : "");
                resp.status = &status;
        } else {
                /* Success: status absent; an empty payload is not encoded at all → a header-only frame. */
                resp.payload.data = (uint8_t *) payload;
                resp.payload.len = payload ? payload_len : 0;
        }

        size_t len = ttrpc__response__get_packed_size(&resp);
        uint8_t *frame = ttrpc_frame_new(stream_id, TTRPC_TYPE_RESPONSE, len);
        ttrpc__response__pack(&resp, frame + TTRPC_HEADER_LENGTH);
        *ret_len = TTRPC_HEADER_LENGTH + len;
        return frame;
}

char *ttrpc_oversize_message(uint64_t length) {
        return xasprintf("message length %" PRIu64 " exceed maximum message size of %u", length,
                         TTRPC_MESSAGE_LENGTH_MAX);
}
