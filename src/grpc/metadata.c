/* Header value codings of the gRPC HTTP/2 protocol: grpc-message percent encoding and grpc-timeout. */
#include <stdio.h>
#include <string.h>

#include "grpc/grpc-internal.h"

static bool needs_escape(unsigned char c) {
        return c < 0x20 || c > 0x7e || c == '%';
}

char *grpc_percent_encode(const char *s) {
        if (!s)
                s = "";
        size_t n = 0;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                n += needs_escape(*p) ? 3 : 1;
        char *out = xmalloc(n + 1), *o = out;
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (needs_escape(*p)) {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                } else
                        *o++ = (char) *p;
        }
        *o = '\0';
        return out;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *grpc_percent_decode(const char *s) {
        if (!s)
                s = "";
        char *out = xmalloc(strlen(s) + 1), *o = out;
        while (*s) {
                int hi, lo;
                if (s[0] == '%' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
                        *o++ = (char) (hi << 4 | lo);
                        s += 3;
                } else
                        *o++ = *s++;
        }
        *o = '\0';
        return out;
}

int grpc_timeout_parse(const char *s, uint64_t *ret_usec) {
        if (!s)
                return -1;
        size_t len = strlen(s);
        if (len < 2 || len > 9)
                return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < len - 1; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        switch (s[len - 1]) {
        case 'H':
                v *= 3600ULL * 1000000;
                break;
        case 'M':
                v *= 60ULL * 1000000;
                break;
        case 'S':
                v *= 1000000;
                break;
        case 'm':
                v *= 1000;
                break;
        case 'u':
                break;
        case 'n':
                v = (v + 999) / 1000;
                break;
        default:
                return -1;
        }
        *ret_usec = v;
        return 0;
}

void grpc_timeout_format(uint64_t usec, char buf[static 16]) {
        static const struct {
                char unit;
                uint64_t div;
        } units[] = { { 'u', 1 }, { 'm', 1000 }, { 'S', 1000000 }, { 'M', 60000000 }, { 'H', 3600000000ULL } };
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                /* Round up so the peer never sees a shorter deadline than ours. */
                uint64_t v = (usec + units[i].div - 1) / units[i].div;
                if (v <= 99999999 || i == ELEMENTSOF(units) - 1) {
                        if (v > 99999999)
                                v = 99999999;
                        snprintf(buf, 16, "%llu%c", (unsigned long long) v, units[i].unit);
                        return;
                }
        }
}
