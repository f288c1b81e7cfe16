/* The part of TOML that hosts.toml files use: comments, [dotted."quoted".tables], key = value with basic and
 * literal strings, booleans, integers and (nested, multi-line) arrays. Inline tables, multi-line strings, dates
 * and arrays of tables are refused with a clear error rather than misread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "basic/error.h"

typedef enum toml_type {
        TOML_STRING,
        TOML_BOOL,
        TOML_INT,
        TOML_ARRAY,
} toml_type;

typedef struct toml_value {
        toml_type type;
        char *s;
        bool b;
        long long i;
        struct toml_value *items;
        size_t n;
} toml_value;

/* Called for every table header (v == NULL) and every key = value, with the full key path (table + key). */
typedef int (*toml_visit_fn)(char *const *path, size_t n, const toml_value *v, void *userdata, berr **err);

int toml_parse(const char *text, toml_visit_fn visit, void *userdata, berr **err);
