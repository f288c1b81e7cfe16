#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "cgroups/cgroup-file.h"

/* memory.stat and friends are a few KiB; percpu lists grow with the CPU count. */
#define CG_FILE_MAX (1u << 20)

char *cg_read(const char *dir, const char *name) {
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
        char *text = NULL;
        if (read_file(path, &text, NULL, CG_FILE_MAX, NULL) < 0)
                return NULL;
        return text;
}

bool cg_parse_u64(const char *s, uint64_t max_value, uint64_t *ret) {
        while (isspace((unsigned char) *s))
                s++;
        if (strncmp(s, "max", 3) == 0) {
                s += 3;
                while (isspace((unsigned char) *s))
                        s++;
                if (*s)
                        return false;
                *ret = max_value;
                return true;
        }
        if (!isdigit((unsigned char) *s))
                return false;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0)
                return false;
        while (isspace((unsigned char) *end))
                end++;
        if (*end)
                return false;
        *ret = v;
        return true;
}

bool cg_read_u64(const char *dir, const char *name, uint64_t max_value, uint64_t *ret) {
        _cleanup_free_ char *text = cg_read(dir, name);
        return text && cg_parse_u64(text, max_value, ret);
}

size_t cg_parse_kv(const char *text, const cg_kv *table, size_t n) {
        size_t matched = 0;
        for (const char *line = text; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t) (eol - line) : strlen(line);
                const char *sp = memchr(line, ' ', len);
                if (sp) {
                        size_t klen = (size_t) (sp - line);
                        for (size_t i = 0; i < n; i++) {
                                if (strlen(table[i].key) != klen || memcmp(table[i].key, line, klen) != 0)
                                        continue;
                                _cleanup_free_ char *val = xstrndup(sp + 1, len - klen - 1);
                                uint64_t v;
                                if (cg_parse_u64(val, UINT64_MAX, &v)) {
                                        *table[i].dest = v;
                                        matched++;
                                }
                                break;
                        }
                }
                line = eol ? eol + 1 : NULL;
        }
        return matched;
}

bool cg_read_kv(const char *dir, const char *name, const cg_kv *table, size_t n) {
        _cleanup_free_ char *text = cg_read(dir, name);
        if (!text)
                return false;
        cg_parse_kv(text, table, n);
        return true;
}
