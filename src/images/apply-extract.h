/* The extraction half of layer application (apply-extract.c). */
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "images/apply.h"

typedef struct extractor extractor;

/* root_fd and opts are borrowed for the extractor's lifetime. */
extractor *extractor_new(int root_fd, const apply_options *opts);
extractor *extractor_free(extractor *x);
/* Applies one entry whose header was just read from a (its data is read here). */
int extractor_entry(extractor *x, struct archive *a, struct archive_entry *e, berr **err);
/* Sets the deferred directory times. */
int extractor_finish(extractor *x, berr **err);
