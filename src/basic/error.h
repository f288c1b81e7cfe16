/* Errors that carry a category. The category numbers are the gRPC status codes, 1:1, so an error
 * crosses a ttrpc or gRPC boundary without translation tables; containerd's errdefs classes map
 * onto the same numbers (NotFound 5, AlreadyExists 6, FailedPrecondition 9, ...).
 *
 * Convention (as crun's): a fallible function takes `berr **err` last, returns a negative value on
 * failure after setting *err, and leaves *err untouched on success. The caller propagates, wraps
 * (berr_wrap) or frees it. */
#pragma once

#include <stdarg.h>

#include "basic/macro.h"

typedef enum berr_code {
        BERR_OK = 0,
        BERR_CANCELED = 1,
        BERR_UNKNOWN = 2,
        BERR_INVALID_ARGUMENT = 3,
        BERR_DEADLINE_EXCEEDED = 4,
        BERR_NOT_FOUND = 5,
        BERR_ALREADY_EXISTS = 6,
        BERR_PERMISSION_DENIED = 7,
        BERR_RESOURCE_EXHAUSTED = 8,
        BERR_FAILED_PRECONDITION = 9,
        BERR_ABORTED = 10,
        BERR_OUT_OF_RANGE = 11,
        BERR_UNIMPLEMENTED = 12,
        BERR_INTERNAL = 13,
        BERR_UNAVAILABLE = 14,
        BERR_DATA_LOSS = 15,
        BERR_UNAUTHENTICATED = 16,
        _BERR_CODE_MAX,
} berr_code;

typedef struct berr {
        berr_code code;
        int errnum; /* the errno behind it, 0 if none */
        char *msg;
} berr;

/* Sets *err (if err is non-NULL) and returns -1. Any previous *err is freed. */
int berr_set(berr **err, berr_code code, int errnum, const char *fmt, ...) _printf_(4, 5);
int berr_setv(berr **err, berr_code code, int errnum, const char *fmt, va_list ap) _printf_(4, 0);
/* Like berr_set, with the category derived from errnum and ": strerror" appended. */
int berr_errno(berr **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Prepends "context: " to the message; keeps code and errno. Returns -1. */
int berr_wrap(berr **err, const char *fmt, ...) _printf_(2, 3);
void berr_free(berr *e);
static inline void berr_freep(berr **e) {
        berr_free(*e);
        *e = NULL;
}
#define _cleanup_berr_ _cleanup_(berr_freep)

berr_code berr_code_from_errno(int errnum);
/* gRPC's canonical upper-case name, e.g. "NOT_FOUND". */
const char *berr_code_name(berr_code code);
/* containerd's errdefs class text, e.g. "not found"; NULL for codes errdefs has no class for. */
const char *berr_code_class(berr_code code);
