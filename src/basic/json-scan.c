#include <stdbool.h>
#include <string.h>

#include "basic/json-scan.h"

/* Nesting deeper than this is given up on (callers then parse the whole text, which has its own limit). */
#define SCAN_DEPTH_MAX 512

static size_t skip_ws(const char *t, size_t len, size_t i) {
        while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
                i++;
        return i;
}

/* t[i] is the opening quote: the index after the closing one, or len when there is none. */
static size_t skip_string(const char *t, size_t len, size_t i) {
        for (i++; i < len; i++) {
                if (t[i] == '\\')
                        i++; /* the escaped byte (\" or \\ included); \uXXXX's digits are plain bytes */
                else if (t[i] == '"')
                        return i + 1;
        }
        return len;
}

/* A whole value from t[i]: the index after it, or len when it does not end. Only the structure is checked. */
static size_t skip_value(const char *t, size_t len, size_t i) {
        size_t depth = 0;
        while (i < len) {
                char ch = t[i];
                if (ch == '"')
                        i = skip_string(t, len, i);
                else if (ch == '{' || ch == '[') {
                        if (++depth > SCAN_DEPTH_MAX)
                                return len;
                        i++;
                } else if (ch == '}' || ch == ']') {
                        if (depth == 0)
                                return i; /* the end of the enclosing object: a scalar ended here */
                        depth--;
                        i++;
                } else if (ch == ',' && depth == 0)
                        return i;
                else
                        i++;
                if (depth == 0 && i < len && (ch == '"' || ch == '}' || ch == ']'))
                        return i; /* a string or container value is complete */
        }
        return len;
}

ssize_t json_scan_member(const char *text, size_t len, const char *key) {
        size_t klen = strlen(key);
        ssize_t found = -1;
        size_t i = skip_ws(text, len, 0);
        if (i >= len || text[i] != '{')
                return -1;
        i++;
        if ((i = skip_ws(text, len, i)) < len && text[i] == '}')
                return -1; /* {} */
        for (;;) {
                i = skip_ws(text, len, i);
                if (i >= len || text[i] != '"')
                        return -1; /* malformed */
                size_t kstart = i + 1;
                i = skip_string(text, len, i);
                if (i >= len)
                        return -1;
                bool match = i - 1 - kstart == klen && memcmp(text + kstart, key, klen) == 0;
                i = skip_ws(text, len, i);
                if (i >= len || text[i] != ':')
                        return -1;
                i = skip_ws(text, len, i + 1);
                if (i >= len)
                        return -1;
                if (match)
                        found = (ssize_t) i; /* the last one counts, as for jansson and Go's decoder */
                i = skip_ws(text, len, skip_value(text, len, i));
                if (i < len && text[i] == '}')
                        return found;
                if (i >= len || text[i] != ',')
                        return -1;
                i++;
        }
}
