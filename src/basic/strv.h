/* NULL-terminated string vectors (char **), the shape mount options and split paths take. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/macro.h"

/* Frees every element and the vector; accepts NULL. Returns NULL so it can be assigned back. */
char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
        *l = NULL;
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char *const *l);
/* Appends a copy of s (takes no ownership); *l may be NULL. */
void strv_extend(char ***l, const char *s);
/* Appends s itself, taking ownership. */
void strv_push(char ***l, char *s);
/* Deep copy of the first n entries of an array (n may be 0; the result is then an empty vector). */
char **strv_copy_n(char *const *l, size_t n);
/* Joins with sep; an empty or NULL vector gives "". Always returns a new string. */
char *strv_join(char *const *l, const char *sep);
/* Splits s at every occurrence of the single character sep, keeping empty fields (like Go's
 * strings.Split), so "a::b" gives {"a", "", "b"} and "" gives {""}. */
char **strv_split(const char *s, char sep);
bool strv_contains(char *const *l, const char *s);
