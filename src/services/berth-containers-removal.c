/* Removals that outlive the exit they follow. When an auto-removed (--rm) container's process exits, its waiters
 * (a foreground `run --rm`, `wait`, `stop`) get the exit code at once, and the container disappears from berth's
 * view (Get, List, every call by name) while the slow part goes on: the task's delete in the OCI runtime, the
 * unmount, the shim's shutdown, the snapshot, log and FIFO directories, the record. That part is most of a short
 * container's life (the runtime's `delete` alone is a process start), and the user has nothing to wait for in it.
 *
 * Nothing is lost or reused early: a Run of the same name waits here until the removal ended (the task id, bundle
 * and runtime state are named after it), `rm -f` of such a container waits too, berthd's shutdown waits for every
 * removal (service_background_*), and after a crash meanwhile the record is still there, so the start-up pass
 * resumes the removal. */
#include <string.h>

#include "services/berth-containers.h"

typedef struct removal_waiter removal_waiter;
struct removal_waiter {
        removal_waiter *next;
        bc_removed_fn fn;
        void *userdata;
};

struct bc_removal {
        bc_removal *next;
        char *ns, *id;
        removal_waiter *waiters;
};

static bc_removal *removal_find(bc_service *s, const char *ns, const char *id) {
        for (bc_removal *r = s->removals; r; r = r->next)
                if (strcmp(r->ns, ns) == 0 && strcmp(r->id, id) == 0)
                        return r;
        return NULL;
}

bool bc_removal_pending(bc_service *s, const char *ns, const char *id) {
        return ns && id && removal_find(s, ns, id) != NULL;
}

void bc_removal_begin(bc_service *s, const char *ns, const char *id) {
        if (removal_find(s, ns, id))
                return;
        bc_removal *r = xcalloc(1, sizeof *r);
        r->ns = xstrdup(ns);
        r->id = xstrdup(id);
        r->next = s->removals;
        s->removals = r;
        service_background_begin(s->ctx);
}

static void removal_free(bc_service *s, bc_removal *r) {
        while (r->waiters) {
                removal_waiter *w = r->waiters;
                r->waiters = w->next;
                w->fn(s, false, w->userdata);
                free(w);
        }
        free(r->ns);
        free(r->id);
        free(r);
}

void bc_removal_end(bc_service *s, const char *ns, const char *id) {
        bc_removal *r = NULL;
        for (bc_removal **p = &s->removals; *p; p = &(*p)->next)
                if (strcmp((*p)->ns, ns) == 0 && strcmp((*p)->id, id) == 0) {
                        r = *p;
                        *p = r->next;
                        break;
                }
        if (!r)
                return;
        /* Oldest first, as they came; each may start a new removal (a Run of the same name). */
        removal_waiter *rev = NULL;
        while (r->waiters) {
                removal_waiter *w = r->waiters;
                r->waiters = w->next;
                w->next = rev;
                rev = w;
        }
        while (rev) {
                removal_waiter *w = rev;
                rev = w->next;
                w->fn(s, true, w->userdata);
                free(w);
        }
        removal_free(s, r);
        service_background_end(s->ctx);
}

int bc_removal_wait(bc_service *s, const char *ns, const char *id, bc_removed_fn fn, void *userdata) {
        bc_removal *r = removal_find(s, ns, id);
        if (!r)
                return -1;
        removal_waiter *w = xcalloc(1, sizeof *w);
        w->fn = fn;
        w->userdata = userdata;
        w->next = r->waiters;
        r->waiters = w;
        return 0;
}

void bc_removals_free_all(bc_service *s) {
        /* daemon shutdown: nothing calls back any more (the start-up pass resumes what was left) */
        while (s->removals) {
                bc_removal *r = s->removals;
                s->removals = r->next;
                removal_free(s, r);
        }
}
