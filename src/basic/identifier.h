/* containerd's identifier rule, shared by namespaces, container ids and exec ids: 1..76 characters of
 * ^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$ — which also makes every identifier a safe path component. */
#pragma once

#include <stdbool.h>

#include "basic/error.h"

#define IDENTIFIER_MAX_LENGTH 76

bool identifier_is_valid(const char *s);
/* Returns 0, or -1 with *err = BERR_INVALID_ARGUMENT and containerd's message text (without the
 * ": invalid argument" class suffix, which the error code carries). */
int identifier_validate(const char *s, berr **err);
