#include <stdio.h>
#include <string.h>

#include "basic/error.h"

static const char *const code_names[_BERR_CODE_MAX] = {
        [BERR_OK] = "OK",
        [BERR_CANCELED] = "CANCELLED",
        [BERR_UNKNOWN] = "UNKNOWN",
        [BERR_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
        [BERR_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
        [BERR_NOT_FOUND] = "NOT_FOUND",
        [BERR_ALREADY_EXISTS] = "ALREADY_EXISTS",
        [BERR_PERMISSION_DENIED] = "PERMISSION_DENIED",
        [BERR_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
        [BERR_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
        [BERR_ABORTED] = "ABORTED",
        [BERR_OUT_OF_RANGE] = "OUT_OF_RANGE",
        [BERR_UNIMPLEMENTED] = "UNIMPLEMENTED",
        [BERR_INTERNAL] = "INTERNAL",
        [BERR_UNAVAILABLE] = "UNAVAILABLE",
        [BERR_DATA_LOSS] = "DATA_LOSS",
        [BERR_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *berr_code_name(berr_code code) {
        if ((unsigned) code >= _BERR_CODE_MAX)
                return "UNKNOWN";
        return code_names[code];
}

const char *berr_code_class(berr_code code) {
        switch (code) {
        case BERR_INVALID_ARGUMENT:
                return "invalid argument";
        case BERR_NOT_FOUND:
                return "not found";
        case BERR_ALREADY_EXISTS:
                return "already exists";
        case BERR_FAILED_PRECONDITION:
                return "failed precondition";
        case BERR_UNAVAILABLE:
                return "unavailable";
        case BERR_UNIMPLEMENTED:
                return "not implemented";
        case BERR_UNKNOWN:
                return "unknown";
        case BERR_CANCELED:
                return "context canceled";
        case BERR_DEADLINE_EXCEEDED:
                return "context deadline exceeded";
        default:
                return NULL;
        }
}

/* Mirrors ttrpc's convertCode for the errnos a handler typically meets. */
berr_code berr_code_from_errno(int errnum) {
        switch (errnum) {
        case 0:
                return BERR_OK;
        case ENOENT:
        case ESRCH:
        case ENXIO:
                return BERR_NOT_FOUND;
        case EEXIST:
                return BERR_ALREADY_EXISTS;
        case EINVAL:
        case ENAMETOOLONG:
                return BERR_INVALID_ARGUMENT;
        case EPERM:
        case EACCES:
                return BERR_PERMISSION_DENIED;
        case ETIMEDOUT:
                return BERR_DEADLINE_EXCEEDED;
        case ECANCELED:
                return BERR_CANCELED;
        case ENOSYS:
        case EOPNOTSUPP:
                return BERR_UNIMPLEMENTED;
        case EPIPE:
        case EBUSY:
                return BERR_FAILED_PRECONDITION;
        case ENOSPC:
        case ENOMEM:
        case EMSGSIZE:
                return BERR_RESOURCE_EXHAUSTED;
        case ECONNREFUSED:
        case ECONNRESET:
        case EAGAIN:
                return BERR_UNAVAILABLE;
        default:
                return BERR_UNKNOWN;
        }
}

int berr_setv(berr **err, berr_code code, int errnum, const char *fmt, va_list ap) {
        if (!err)
                return -1;
        berr_free(*err);
        berr *e = xcalloc(1, sizeof *e);
        e->code = code;
        e->errnum = errnum;
        if (vasprintf(&e->msg, fmt, ap) < 0)
                e->msg = xstrdup("(out of memory formatting error)");
        *err = e;
        return -1;
}

int berr_set(berr **err, berr_code code, int errnum, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        berr_setv(err, code, errnum, fmt, ap);
        va_end(ap);
        return -1;
}

int berr_errno(berr **err, int errnum, const char *fmt, ...) {
        if (!err)
                return -1;
        char *prefix;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&prefix, fmt, ap) < 0)
                prefix = NULL;
        va_end(ap);
        berr_set(err, berr_code_from_errno(errnum), errnum, "%s: %s", prefix ? prefix : "", strerror(errnum));
        free(prefix);
        return -1;
}

int berr_wrap(berr **err, const char *fmt, ...) {
        if (!err || !*err)
                return -1;
        char *prefix;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&prefix, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -1;
        char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
        free(prefix);
        free((*err)->msg);
        (*err)->msg = msg;
        return -1;
}

void berr_free(berr *e) {
        if (!e)
                return;
        free(e->msg);
        free(e);
}
