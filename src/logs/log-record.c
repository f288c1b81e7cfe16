/* Encoding one record as docker's json-file line, and the RFC 3339 times in it. No jansson here: the writer
 * (and so berth-logger) stays small; decoding lives with the reader. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "logs/logs.h"

const char *log_stream_name(log_stream s) {
        return s == LOG_STREAM_STDERR ? "stderr" : "stdout";
}

int64_t log_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void log_time_format(int64_t time_ns, char *buf, size_t size) {
        time_t sec = (time_t) (time_ns / 1000000000LL);
        long nsec = (long) (time_ns % 1000000000LL);
        if (nsec < 0) {
                nsec += 1000000000L;
                sec--;
        }
        struct tm tm;
        gmtime_r(&sec, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, nsec);
}

static int digits(const char *s, int n, int *ret) {
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int log_time_parse(const char *s, int64_t *ret_ns) {
        int Y, M, D, h, m, sec;
        if (strlen(s) < 20 || digits(s, 4, &Y) < 0 || s[4] != '-' || digits(s + 5, 2, &M) < 0 || s[7] != '-' ||
            digits(s + 8, 2, &D) < 0 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s + 11, 2, &h) < 0 ||
            s[13] != ':' || digits(s + 14, 2, &m) < 0 || s[16] != ':' || digits(s + 17, 2, &sec) < 0)
                return -1;
        if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
                return -1;
        const char *p = s + 19;
        int64_t frac = 0;
        if (*p == '.') {
                int n = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, n++)
                        if (n < 9)
                                frac = frac * 10 + (*p - '0');
                if (n == 0)
                        return -1;
                for (; n < 9; n++)
                        frac *= 10;
        }
        int offset = 0;
        if (*p == 'Z' || *p == 'z') {
                p++;
        } else if (*p == '+' || *p == '-') {
                int oh, om;
                if (digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0)
                        return -1;
                offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
                p += 6;
        } else
                return -1;
        if (*p)
                return -1;
        struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec };
        time_t t = timegm(&tm);
        *ret_ns = ((int64_t) t - offset) * 1000000000LL + frac;
        return 0;
}

static void reserve(char **buf, size_t *len, size_t *cap, size_t more) {
        if (*len + more <= *cap)
                return;
        size_t n = *cap ? *cap : 256;
        while (n < *len + more)
                n *= 2;
        *buf = xrealloc(*buf, n);
        *cap = n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid: overlong forms, surrogates and
 * code points above U+10FFFF are invalid, as in Go's encoding/json which docker's files are read with. */
static size_t utf8_len(const unsigned char *s, size_t n) {
        unsigned c = s[0];
        size_t len;
        unsigned min;
        if (c < 0x80)
                return 1;
        if ((c & 0xe0) == 0xc0)
                len = 2, min = 0x80, c &= 0x1f;
        else if ((c & 0xf0) == 0xe0)
                len = 3, min = 0x800, c &= 0x0f;
        else if ((c & 0xf8) == 0xf0)
                len = 4, min = 0x10000, c &= 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        return len;
}

/* JSON string body: quotes, backslashes and control characters escaped, invalid UTF-8 as U+FFFD. */
static void escape_json(char **buf, size_t *len, size_t *cap, const char *text, size_t n) {
        static const char hex[] = "0123456789abcdef";
        reserve(buf, len, cap, n + 16);
        const unsigned char *s = (const unsigned char *) text;
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                reserve(buf, len, cap, 8);
                char *o = *buf + *len;
                if (c == '"' || c == '\\') {
                        o[0] = '\\', o[1] = (char) c;
                        *len += 2, i++;
                } else if (c < 0x20) {
                        char e = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c == '\b' ? 'b' : c == '\f' ? 'f' : 0;
                        if (e) {
                                o[0] = '\\', o[1] = e;
                                *len += 2;
                        } else {
                                memcpy(o, "\\u00", 4);
                                o[4] = hex[c >> 4], o[5] = hex[c & 15];
                                *len += 6;
                        }
                        i++;
                } else if (c < 0x80) {
                        o[0] = (char) c;
                        *len += 1, i++;
                } else {
                        size_t l = utf8_len(s + i, n - i);
                        if (l == 0) {
                                memcpy(o, "\\ufffd", 6);
                                *len += 6, i++;
                        } else {
                                memcpy(o, s + i, l);
                                *len += l, i += l;
                        }
                }
        }
}

void log_record_encode(char **buf, size_t *len, size_t *cap, log_stream s, const char *text, size_t text_len,
                       int64_t time_ns) {
        char ts[48];
        log_time_format(time_ns, ts, sizeof ts);
        reserve(buf, len, cap, 8);
        memcpy(*buf + *len, "{\"log\":\"", 8);
        *len += 8;
        escape_json(buf, len, cap, text, text_len);
        int n = snprintf(NULL, 0, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", log_stream_name(s), ts);
        reserve(buf, len, cap, (size_t) n + 1);
        snprintf(*buf + *len, (size_t) n + 1, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", log_stream_name(s), ts);
        *len += (size_t) n;
}
