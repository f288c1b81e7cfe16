/* containerd's filter grammar (filters/parser.go), parsed into a small AST and evaluated against any
 * object through a field-lookup callback.
 *
 *   selectors := selector ("," selector)*          all must match (AND)
 *   selector  := fieldpath [operator value]        no operator: the field must be present
 *   fieldpath := field ("." field)*
 *   field     := "quoted" | [A-Za-z0-9_]+
 *   operator  := "==" | "!=" | "~="                 ~= is a regular expression (unanchored)
 *   value     := quoted | [^\s,]+                   for ~=, /regex/ and |regex| quote too
 *
 * Several filter strings are OR'ed (ParseAll); no strings, or an empty string, match everything.
 * Semantics of an absent field: `f` and `f==v` are false, `f!=v` is true unless v is "", `f~=re` matches
 * re against "". Regular expressions are POSIX extended, with Go's \d \w \s and (?: accepted; one that
 * does not compile matches nothing (containerd logs and returns false). */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

typedef enum meta_filter_op {
        META_FILTER_PRESENT,
        META_FILTER_EQUAL,
        META_FILTER_NOT_EQUAL,
        META_FILTER_MATCHES,
} meta_filter_op;

typedef struct meta_selector {
        char **path; /* unquoted field path components */
        size_t n_path;
        meta_filter_op op;
        char *value; /* NULL for META_FILTER_PRESENT */
        bool re_ok;  /* META_FILTER_MATCHES: the regex compiled */
        regex_t re;
} meta_selector;

typedef struct meta_filter_all {
        meta_selector *sel;
        size_t n;
} meta_filter_all;

typedef struct meta_filter {
        meta_filter_all *any; /* OR of ANDs; n == 0 with always set matches everything */
        size_t n;
        bool always;
} meta_filter;

/* Returns the field's value, or NULL if the object has no such field. The string must stay valid until the
 * next call on the same object. */
typedef const char *(*meta_filter_lookup_fn)(const char *const *path, size_t n, void *obj);

/* Parses n filter strings (n may be 0). Errors are BERR_INVALID_ARGUMENT with containerd's text, e.g.
 * `filters: parse error: [name== >|,|< ]: expected value or quoted: invalid argument`. */
int meta_filter_parse(const char *const *filters, size_t n, meta_filter **ret, berr **err);
bool meta_filter_match(const meta_filter *f, meta_filter_lookup_fn lookup, void *obj);
void meta_filter_free(meta_filter *f);
static inline void meta_filter_freep(meta_filter **f) {
        meta_filter_free(*f);
        *f = NULL;
}
#define _cleanup_meta_filter_ _cleanup_(meta_filter_freep)
