/* libcurl, loaded with dlopen on first use. berthd is not linked against libcurl: this file defines the libcurl
 * functions the registry client calls, each forwarding to the real one in the library loaded on demand. The call
 * sites keep libcurl's documented API, and the compiler checks every definition here against curl.h's prototype.
 * curl_lib_load() is the one place that reports a load failure; the other definitions are only reached with a
 * handle made after it succeeded. */
#define CURL_DISABLE_TYPECHECK /* the definitions below must not go through curl.h's type-checking macros */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "basic/log.h"
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

#define MEMBER(ret, name, params, args) ret(*name) params;
#define VOID_MEMBER(name, params, args) void(*name) params;
static struct {
        CURL_FUNCTIONS(MEMBER, VOID_MEMBER)
        CURLcode (*curl_easy_setopt)(CURL *curl, CURLoption option, ...);
        CURLMcode (*curl_multi_setopt)(CURLM *multi, CURLMoption option, ...);
        CURLcode (*curl_easy_getinfo)(CURL *curl, CURLINFO info, ...);
        const char *(*curl_easy_strerror)(CURLcode code);
        void (*curl_global_cleanup)(void);
} lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static atomic_bool loaded;
static char *load_error; /* why loading failed; kept for every later caller */

static void load(void) {
        void *h = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                load_error = xstrdup(dlerror());
                return;
        }
        const char *missing = NULL;
#define RESOLVE(name)                                                                                            \
        if (!missing && !(lib.name = (typeof(lib.name)) dlsym(h, #name)))                                        \
                missing = #name;
#define RESOLVE_X(ret, name, params, args) RESOLVE(name)
#define RESOLVE_V(name, params, args) RESOLVE(name)
        CURL_FUNCTIONS(RESOLVE_X, RESOLVE_V)
        RESOLVE(curl_easy_setopt)
        RESOLVE(curl_multi_setopt)
        RESOLVE(curl_easy_getinfo)
        RESOLVE(curl_easy_strerror)
        RESOLVE(curl_global_cleanup)
        if (missing) {
                load_error = xasprintf("%s: no symbol %s", CURL_SONAME, missing);
                dlclose(h);
                return;
        }
        loaded = true; /* the handle stays open for the process's lifetime */
}

int curl_lib_load(berr **err) {
        pthread_once(&load_once, load);
        if (!loaded)
                return berr_set(err, BERR_INTERNAL, 0, "cannot load libcurl: %s", load_error);
        return 0;
}

/* For the forwarding definitions: reaching one before curl_lib_load succeeded is a bug. */
static void require_loaded(void) {
        pthread_once(&load_once, load);
        if (!loaded) {
                log_error("libcurl used but not loaded: %s", load_error);
                abort();
        }
}

#define FORWARD(ret, name, params, args)                                                                         \
        ret(name) params {                                                                                       \
                require_loaded();                                                                                \
                return lib.name args;                                                                            \
        }
#define FORWARD_VOID(name, params, args)                                                                         \
        void(name) params {                                                                                      \
                require_loaded();                                                                                \
                lib.name args;                                                                                   \
        }
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
        pthread_once(&load_once, load);
        return loaded ? lib.curl_easy_strerror(code) : "libcurl not loaded";
}

/* Nothing to clean up in a process that never used libcurl. */
void(curl_global_cleanup)(void) {
        if (loaded)
                lib.curl_global_cleanup();
}
