#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metadata/util.h"

char *meta_quote(const char *s) {
        if (!s)
                s = "";
        char *r = xmalloc(strlen(s) * 4 + 3), *p = r;
        *p++ = '"';
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\') {
                        *p++ = '\\';
                        *p++ = (char) c;
                } else if (c == '\n') {
                        p = stpcpy(p, "\\n");
                } else if (c == '\t') {
                        p = stpcpy(p, "\\t");
                } else if (c < 0x20 || c == 0x7f) {
                        p += sprintf(p, "\\x%02x", c);
                } else
                        *p++ = (char) c;
        }
        *p++ = '"';
        *p = '\0';
        return r;
}

static bool is_alg_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* go-digest's DigestRegexp: [a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+ — used only to pick which of
 * its two messages an unknown algorithm gets. */
static bool matches_digest_regexp(const char *s, size_t alg_len) {
        bool need = true;
        for (size_t i = 0; i < alg_len; i++) {
                if (is_alg_char(s[i]))
                        need = false;
                else if (strchr(".+_-", s[i]) && !need)
                        need = true;
                else
                        return false;
        }
        if (need)
                return false;
        const char *e = s + alg_len + 1;
        if (!*e)
                return false;
        for (; *e; e++)
                if (!((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || (*e >= '0' && *e <= '9') ||
                      strchr("=_-", *e)))
                        return false;
        return true;
}

int meta_digest_check(const char *d, const char **ret_reason) {
        static const struct {
                const char *name;
                size_t hex;
        } algs[] = { { "sha256", 64 }, { "sha384", 96 }, { "sha512", 128 } };
        const char *reason = "invalid checksum digest format";
        const char *colon = d ? strchr(d, ':') : NULL;
        if (!colon || colon == d || colon[1] == '\0')
                goto fail;
        size_t alg_len = (size_t) (colon - d);
        for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
                if (strlen(algs[i].name) != alg_len || strncmp(d, algs[i].name, alg_len) != 0)
                        continue;
                const char *hex = colon + 1;
                if (strlen(hex) != algs[i].hex) {
                        reason = "invalid checksum digest length";
                        goto fail;
                }
                for (; *hex; hex++)
                        if (!((*hex >= '0' && *hex <= '9') || (*hex >= 'a' && *hex <= 'f')))
                                goto fail;
                return 0;
        }
        if (matches_digest_regexp(d, alg_len))
                reason = "unsupported digest algorithm";
fail:
        if (ret_reason)
                *ret_reason = reason;
        return -1;
}

bool meta_digest_is_valid(const char *d) {
        return meta_digest_check(d, NULL) == 0;
}

int64_t meta_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int take_digits(const char **p, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (**p < '0' || **p > '9')
                        return -1;
                v = v * 10 + (**p - '0');
                (*p)++;
        }
        *ret = v;
        return 0;
}

int meta_parse_rfc3339(const char *s, int64_t *ret_ns) {
        int year, mon, day, hour, min, sec;
        const char *p = s;
        if (!s || take_digits(&p, 4, &year) < 0 || *p++ != '-' || take_digits(&p, 2, &mon) < 0 || *p++ != '-' ||
            take_digits(&p, 2, &day) < 0 || (*p != 'T' && *p != 't') || (p++, take_digits(&p, 2, &hour) < 0) ||
            *p++ != ':' || take_digits(&p, 2, &min) < 0 || *p++ != ':' || take_digits(&p, 2, &sec) < 0)
                return -1;
        if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59)
                return -1;
        int64_t frac = 0;
        if (*p == '.') {
                p++;
                int digits = 0;
                if (*p < '0' || *p > '9')
                        return -1;
                for (; *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 9)
                                frac = frac * 10 + (*p - '0');
                for (; digits < 9; digits++)
                        frac *= 10;
        }
        int64_t offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int sign = *p++ == '-' ? -1 : 1, oh, om;
                if (take_digits(&p, 2, &oh) < 0 || *p++ != ':' || take_digits(&p, 2, &om) < 0 || oh > 23 ||
                    om > 59)
                        return -1;
                offset = sign * (oh * 3600 + om * 60);
        } else
                return -1;
        if (*p)
                return -1;
        struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
                         .tm_hour = hour, .tm_min = min, .tm_sec = sec };
        time_t t = timegm(&tm);
        if (tm.tm_mday != day) /* normalised: Feb 30 and friends */
                return -1;
        int64_t secs = (int64_t) t - offset;
        /* Beyond int64 nanoseconds (after 2262): clamp, which keeps "far future" and "far past" meaning. */
        if (secs >= INT64_MAX / 1000000000 - 1)
                *ret_ns = INT64_MAX;
        else if (secs <= INT64_MIN / 1000000000 + 1)
                *ret_ns = INT64_MIN;
        else
                *ret_ns = secs * 1000000000 + frac;
        return 0;
}
