/* libcurl, loaded with dlopen on first use. berthd is not linked against libcurl: this file defines the libcurl
 * functions the registry client calls, each forwarding to the real one in the library loaded on demand. The call
 * sites keep libcurl's documented API, and the compiler checks every definition here against curl.h's prototype.
 * curl_lib_load() is the one place that reports a load failure; the other definitions are only reached with a
 * handle made after it succeeded. */
#define CURL_DISABLE_TYPECHECK /* the definitions below must not go through curl.h's type-checking macros */
#include <curl/curl.h>
#include <stdarg.h>

#include "basic/lazy-lib.h"
#include "basic/macro.h"
#include "remotes/curl-lib.h"

/* libcurl's ABI has been .so.4 since 2006. */
#define CURL_SONAME "libcurl.so.4"

/* X(return type, name, parameters, arguments) for the functions forwarded as they are; V(...) for those returning
 * void. The variadic ones (setopt, getinfo) are written out below. */
#define CURL_FUNCTIONS(X, V)                                                                                     \
        X(CURLcode, curl_global_init, (long flags), (flags))                                                     \
        X(CURL *, curl_easy_init, (void), ())                                                                    \
        X(CURLcode, curl_easy_perform, (CURL * curl), (curl))                                                    \
        V(curl_easy_cleanup, (CURL * curl), (curl))                                                              \
        X(char *, curl_easy_escape, (CURL * handle, const char *string, int length), (handle, string, length))   \
        X(CURLHcode, curl_easy_header,                                                                           \
          (CURL * easy, const char *name, size_t index, unsigned int origin, int request,                        \
           struct curl_header **hout),                                                                           \
          (easy, name, index, origin, request, hout))                                                            \
        V(curl_free, (void *p), (p))                                                                             \
        X(CURLM *, curl_multi_init, (void), ())                                                                  \
        X(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL * easy), (multi, easy))                         \
        X(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL * easy), (multi, easy))                      \
        X(CURLMcode, curl_multi_perform, (CURLM * multi, int *running), (multi, running))                        \
        X(CURLMcode, curl_multi_poll,                                                                            \
          (CURLM * multi, struct curl_waitfd extra_fds[], unsigned int extra_nfds, int timeout_ms, int *ret),    \
          (multi, extra_fds, extra_nfds, timeout_ms, ret))                                                       \
        X(CURLMsg *, curl_multi_info_read, (CURLM * multi, int *msgs_in_queue), (multi, msgs_in_queue))          \
        X(CURLMcode, curl_multi_wakeup, (CURLM * multi), (multi))                                                \
        X(CURLMcode, curl_multi_cleanup, (CURLM * multi), (multi))                                               \
        X(struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *data), (list, data))    \
        V(curl_slist_free_all, (struct curl_slist * list), (list))

static struct {
        CURL_FUNCTIONS(LAZY_LIB_MEMBER, LAZY_LIB_VOID_MEMBER)
        CURLcode (*curl_easy_setopt)(CURL *curl, CURLoption option, ...);
        CURLMcode (*curl_multi_setopt)(CURLM *multi, CURLMoption option, ...);
        CURLcode (*curl_easy_getinfo)(CURL *curl, CURLINFO info, ...);
        const char *(*curl_easy_strerror)(CURLcode code);
        void (*curl_global_cleanup)(void);
} lib;

static lazy_lib L = LAZY_LIB_INIT(CURL_SONAME, "libcurl");

static void resolve(void *h, const char **missing) {
#define RESOLVE_X(ret, name, params, args) LAZY_LIB_RESOLVE(lib, h, missing, name)
#define RESOLVE_V(name, params, args) LAZY_LIB_RESOLVE(lib, h, missing, name)
        CURL_FUNCTIONS(RESOLVE_X, RESOLVE_V)
        LAZY_LIB_RESOLVE(lib, h, missing, curl_easy_setopt)
        LAZY_LIB_RESOLVE(lib, h, missing, curl_multi_setopt)
        LAZY_LIB_RESOLVE(lib, h, missing, curl_easy_getinfo)
        LAZY_LIB_RESOLVE(lib, h, missing, curl_easy_strerror)
        LAZY_LIB_RESOLVE(lib, h, missing, curl_global_cleanup)
}

static void load(void) {
        lazy_lib_open(&L, resolve);
}

int curl_lib_load(berr **err) {
        return lazy_lib_load(&L, load, err);
}

static void require_loaded(void) {
        lazy_lib_require(&L, load);
}

#define FORWARD(ret, name, params, args) LAZY_LIB_FORWARD(require_loaded, lib, ret, name, params, args)
#define FORWARD_VOID(name, params, args) LAZY_LIB_FORWARD_VOID(require_loaded, lib, name, params, args)
CURL_FUNCTIONS(FORWARD, FORWARD_VOID)

/* Option numbers encode their argument's type (CURLOPTTYPE_* bases in curl.h; the multi options use the same
 * bases): the one argument is read as that type, exactly as libcurl reads it. */
#define FORWARD_OPTION(call, option, ap)                                                                         \
        ((option) < CURLOPTTYPE_OBJECTPOINT     ? call(va_arg(ap, long))                                         \
         : (option) < CURLOPTTYPE_FUNCTIONPOINT ? call(va_arg(ap, void *))                                       \
         : (option) < CURLOPTTYPE_OFF_T         ? call(va_arg(ap, void (*)(void)))                               \
         : (option) < CURLOPTTYPE_BLOB          ? call(va_arg(ap, curl_off_t))                                   \
                                                : call(va_arg(ap, void *)))

CURLcode(curl_easy_setopt)(CURL *curl, CURLoption option, ...) {
        require_loaded();
        va_list ap;
        va_start(ap, option);
#define EASY_SETOPT(arg) lib.curl_easy_setopt(curl, option, arg)
        CURLcode r = FORWARD_OPTION(EASY_SETOPT, option, ap);
        va_end(ap);
        return r;
}

CURLMcode(curl_multi_setopt)(CURLM *multi, CURLMoption option, ...) {
        require_loaded();
        va_list ap;
        va_start(ap, option);
#define MULTI_SETOPT(arg) lib.curl_multi_setopt(multi, option, arg)
        CURLMcode r = FORWARD_OPTION(MULTI_SETOPT, option, ap);
        va_end(ap);
        return r;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode(curl_easy_getinfo)(CURL *curl, CURLINFO info, ...) {
        require_loaded();
        va_list ap;
        va_start(ap, info);
        void *out = va_arg(ap, void *);
        va_end(ap);
        return lib.curl_easy_getinfo(curl, info, out);
}

/* Callable whether or not libcurl could be loaded (registry_new reports curl_global_init's failure with it). */
const char *(curl_easy_strerror)(CURLcode code) {
        return lazy_lib_load(&L, load, NULL) == 0 ? lib.curl_easy_strerror(code) : "libcurl not loaded";
}

/* Nothing to clean up in a process that never used libcurl. */
void(curl_global_cleanup)(void) {
        if (atomic_load(&L.loaded))
                lib.curl_global_cleanup();
}
