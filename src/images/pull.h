/* berthd's pull: resolve a reference on a registry, fetch every blob it needs (layers concurrently, resuming
 * interrupted ingests with HTTP Range), record the image and unpack it into a snapshotter, with the records a
 * containerd client leaves (unpack.h). A layer whose parent snapshot is ready when its download starts is fetched,
 * digested, decompressed and extracted in one pass (its bytes go to the content ingest and to an apply stream);
 * the others land in the content store and are applied from there once their parent is.
 *
 * Threads: puller_new/start/cancel/snapshot/free run on the caller's (event loop) thread and never block for
 * long; the pull itself runs on a worker thread (fetches) plus an unpacker thread, each with its own metadata
 * connection. `notify` is called from those threads whenever the progress changed (at most every ~100 ms, and
 * once at the end); it must only wake the caller up (e.g. write an eventfd). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "content/content.h"
#include "metadata/labels.h"
#include "remotes/registry.h"
#include "snapshots/snapshots.h"

typedef struct puller puller;

typedef struct pull_config {
        const char *db_path;        /* the metadata database the worker threads open */
        content_store *content;
        snapshotter *sn;            /* NULL: fetch only, do not unpack */
        const char *ns;
        const char *ref;            /* as the client wrote it; normalized docker-style */
        const char *platform;       /* "os/arch[/variant]"; NULL/"": the host's */
        const meta_labels *labels;  /* the image record's labels (copied) */
        registry_options registry;  /* copied where needed */
        void (*content_lock)(void); /* see unpack_env */
        void (*content_unlock)(void);
        void (*notify)(void *userdata);
        void *userdata;
} pull_config;

typedef enum pull_blob_status {
        PULL_BLOB_WAITING,
        PULL_BLOB_DOWNLOADING,
        PULL_BLOB_UNPACKING,
        PULL_BLOB_DONE,
        PULL_BLOB_EXISTS,
} pull_blob_status;

const char *pull_blob_status_to_string(pull_blob_status s);

typedef struct pull_blob_progress {
        char *digest;
        char *media_type;
        int64_t total;
        int64_t offset;
        pull_blob_status status;
} pull_blob_progress;

typedef struct pull_progress {
        pull_blob_progress *blobs;
        size_t n_blobs;
        const char *phase; /* "resolving", "fetching", "unpacking", "done" (static strings) */
        bool finished;     /* the worker is done: error or result below is final */
        berr *error;       /* a copy of the failure, NULL on success */
        /* result */
        char *name;
        char *digest;
        char *media_type;
        int64_t size;
        int64_t elapsed_ms;
        int64_t fetched_bytes; /* received from the registry by this pull */
        int64_t resumed_bytes; /* already on disk from an interrupted pull (not fetched again) */
} pull_progress;

void pull_progress_done(pull_progress *p);

/* Validates the request (reference, platform) and sets up the registry client; nothing runs yet. */
int puller_new(const pull_config *cfg, puller **ret, berr **err);
/* Starts the worker thread. */
int puller_start(puller *p, berr **err);
/* Stops the pull soon (transfers aborted, extraction interrupted); the worker then finishes with
 * BERR_CANCELED "context canceled". Safe from any thread, several times. */
void puller_cancel(puller *p);
/* A copy of the current state. */
void puller_progress(puller *p, pull_progress *ret);
/* Cancels if still running, waits for the worker and frees. Accepts NULL. */
puller *puller_free(puller *p);
