/* Reading cgroup control files. Everything here treats a missing or unreadable file as "no data":
 * a controller that is not mounted, a kernel without some file, or a cgroup removed under us must
 * leave stats zero instead of failing the whole Stats call. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Contents of dir/name (NUL-terminated), or NULL. */
char *cg_read(const char *dir, const char *name);
/* One unsigned number from dir/name; the word "max" reads as max_value. False if missing/garbled. */
bool cg_read_u64(const char *dir, const char *name, uint64_t max_value, uint64_t *ret);
/* Parses one number, or "max" as max_value, ignoring surrounding white space. */
bool cg_parse_u64(const char *s, uint64_t max_value, uint64_t *ret);

/* Flat keyed files ("key value" per line: memory.stat, cpu.stat, memory.events, ...). */
typedef struct cg_kv {
        const char *key;
        uint64_t *dest;
} cg_kv;
/* Stores the value of every line whose key is in table; unknown keys are ignored. Returns the
 * number of lines that matched. */
size_t cg_parse_kv(const char *text, const cg_kv *table, size_t n);
/* cg_parse_kv on dir/name; false if the file is missing. */
bool cg_read_kv(const char *dir, const char *name, const cg_kv *table, size_t n);
