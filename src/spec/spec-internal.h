/* Private to src/spec. */
#pragma once

#include <string.h>

#include "spec/spec.h"

#define streq(a, b) (strcmp((a), (b)) == 0)

/* containerd's replaceOrAppendEnvValues: overrides "K=V" replace K in place or append; "K" alone removes K.
 * Returns a new vector (defaults and overrides may be NULL). */
char **spec_env_merge(char *const *defaults, char *const *overrides);
/* Index of the entry setting key in env ("KEY=..."), or -1. */
ssize_t spec_env_find(char *const *env, const char *key, size_t keylen);
