/* One berthd instance: its directories and locks, the event loop, the gRPC server with every service, and the
 * signal handling that stops it cleanly (SIGTERM/SIGINT) or reloads the log level (SIGHUP). */
#pragma once

#include "basic/error.h"
#include "berthd/config.h"

typedef struct berthd berthd;

/* Prepares everything and starts listening on cfg->address (cfg must be finalized and outlive the daemon). */
int berthd_new(berthd_config *cfg, berthd **ret, berr **err);
/* Serves until a stop signal; returns the exit code. */
int berthd_run(berthd *d);
/* Stops serving, removes the socket it created, releases the locks. Accepts NULL; returns NULL. */
berthd *berthd_free(berthd *d);
