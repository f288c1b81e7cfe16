/* Small helpers shared by the metadata modules: Go-style %q quoting for error messages (names come from
 * clients and may hold anything), digest syntax checks, wall-clock nanoseconds and RFC 3339 parsing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/error.h"

/* Go's %q, near enough: "..." with \" \\ \n \t and \xNN escapes. Always returns a new string. */
char *meta_quote(const char *s);
/* go-digest's Validate: "<alg>:<hex>" with alg sha256/sha384/sha512 and the matching number of lowercase
 * hex digits. Returns 0, or -1 with *ret_reason set to go-digest's message (static string). */
int meta_digest_check(const char *d, const char **ret_reason);
bool meta_digest_is_valid(const char *d);
/* CLOCK_REALTIME in nanoseconds since the epoch: the unit of every created_at/updated_at. */
int64_t meta_now_ns(void);
/* Go's time.Parse(time.RFC3339, s): YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM). Returns 0 or -1 if invalid. */
int meta_parse_rfc3339(const char *s, int64_t *ret_ns);
