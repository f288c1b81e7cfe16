#include <stdlib.h>

#include "basic/lazy-lib.h"
#include "basic/log.h"
#include "basic/macro.h"

void lazy_lib_open(lazy_lib *l, void (*resolve)(void *handle, const char **missing)) {
        void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                l->error = xstrdup(dlerror());
                return;
        }
        const char *missing = NULL;
        resolve(h, &missing);
        if (missing) {
                l->error = xasprintf("%s: no symbol %s", l->soname, missing);
                dlclose(h);
                return;
        }
        atomic_store(&l->loaded, true);
}

int lazy_lib_load(lazy_lib *l, void (*once_fn)(void), berr **err) {
        pthread_once(&l->once, once_fn);
        if (!atomic_load(&l->loaded))
                return berr_set(err, BERR_INTERNAL, 0, "cannot load %s: %s", l->what, l->error);
        return 0;
}

void lazy_lib_require(lazy_lib *l, void (*once_fn)(void)) {
        pthread_once(&l->once, once_fn);
        if (!atomic_load(&l->loaded)) {
                log_error("%s used but not loaded: %s", l->what, l->error);
                abort();
        }
}
