/* Pull progress on a terminal (one line per blob, redrawn in place with ANSI cursor movement, like docker and
 * nerdctl) or as plain lines, one per event, when the output is not a terminal. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "berth/berth.h"

typedef struct progress_view progress_view;

progress_view *progress_new(FILE *out, bool tty, const char *ref);
/* A berth_pull_progress_fn: userdata is the view. */
void progress_update(const berth_pull_progress *p, void *userdata);
/* Draws the last state for good (terminal mode); call before printing anything else. */
void progress_finish(progress_view *v);
progress_view *progress_free(progress_view *v);
