/* A shared library opened with dlopen on first use instead of being linked (libcurl for registry pulls, libarchive
 * for layers and archives): berthd's start then does not pay for loading it and its dependencies. The user keeps
 * a table of function pointers named like the library's functions, lists them once in an X-macro, and defines
 * each function with the library's own prototype, forwarding to the table (so call sites keep the documented API
 * and the compiler checks every definition against the library's header). */
#pragma once

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "basic/error.h"

typedef struct lazy_lib {
        const char *soname; /* "libcurl.so.4": the ABI, not the -dev symlink */
        const char *what;   /* "libcurl", for messages */
        pthread_once_t once;
        atomic_bool loaded;
        char *error; /* why loading failed; kept for every later caller */
} lazy_lib;

#define LAZY_LIB_INIT(soname_, what_) { .soname = (soname_), .what = (what_), .once = PTHREAD_ONCE_INIT }

/* For the user's once-function: opens l->soname and lets resolve fill the table (it sets *missing to the first
 * symbol it could not find); the handle stays open for the process's lifetime. */
void lazy_lib_open(lazy_lib *l, void (*resolve)(void *handle, const char **missing));
/* Runs once_fn once (thread-safe) and says whether the library is there ("cannot load <what>: <why>"). */
int lazy_lib_load(lazy_lib *l, void (*once_fn)(void), berr **err);
/* The same for the forwarding definitions: reaching one without a loaded library is a bug (aborts). */
void lazy_lib_require(lazy_lib *l, void (*once_fn)(void));

/* Inside a resolve function: table.name = dlsym(handle, "name") unless a symbol is missing already. */
#define LAZY_LIB_RESOLVE(table, handle, missing, name)                                                           \
        if (!*(missing) && !((table).name = (typeof((table).name)) dlsym((handle), #name)))                      \
                *(missing) = #name;

/* Members of the table and forwarding definitions, for an X-macro list of (return type, name, parameters,
 * arguments) and one of (name, parameters, arguments) for functions returning void. */
#define LAZY_LIB_MEMBER(ret, name, params, args) ret(*name) params;
#define LAZY_LIB_VOID_MEMBER(name, params, args) void(*name) params;
#define LAZY_LIB_FORWARD(require, table, ret, name, params, args)                                                \
        ret(name) params {                                                                                       \
                require();                                                                                       \
                return (table).name args;                                                                        \
        }
#define LAZY_LIB_FORWARD_VOID(require, table, name, params, args)                                                \
        void(name) params {                                                                                      \
                require();                                                                                       \
                (table).name args;                                                                               \
        }
