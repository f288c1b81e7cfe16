/* A port of the behaviour (not the code) of containerd's filters package: the scanner keeps the same
 * pos/ppos bookkeeping so that error positions and messages come out as containerd prints them. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "basic/log.h"
#include "metadata/filters.h"

#define RUNE_ERROR 0xFFFD

enum {
        TOK_EOF = -1,
        TOK_QUOTED = -2,
        TOK_VALUE = -3,
        TOK_FIELD = -4,
        TOK_SEPARATOR = -5,
        TOK_OPERATOR = -6,
        TOK_ILLEGAL = -7,
};

/* Go's utf8.DecodeRuneInString: RUNE_ERROR with width 1 on bad input, width 0 at the end. */
static int32_t utf8_decode(const char *s, size_t len, size_t *width) {
        const unsigned char *p = (const unsigned char *) s;
        if (len == 0) {
                *width = 0;
                return RUNE_ERROR;
        }
        *width = 1;
        if (p[0] < 0x80)
                return p[0];
        size_t need;
        int32_t r, min;
        if ((p[0] & 0xE0) == 0xC0) {
                need = 2, r = p[0] & 0x1F, min = 0x80;
        } else if ((p[0] & 0xF0) == 0xE0) {
                need = 3, r = p[0] & 0x0F, min = 0x800;
        } else if ((p[0] & 0xF8) == 0xF0) {
                need = 4, r = p[0] & 0x07, min = 0x10000;
        } else
                return RUNE_ERROR;
        if (len < need)
                return RUNE_ERROR;
        for (size_t i = 1; i < need; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return RUNE_ERROR;
                r = (r << 6) | (p[i] & 0x3F);
        }
        if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
                return RUNE_ERROR;
        *width = need;
        return r;
}

static size_t utf8_encode(int32_t r, char *out) {
        if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
                r = RUNE_ERROR;
        if (r < 0x80) {
                out[0] = (char) r;
                return 1;
        }
        if (r < 0x800) {
                out[0] = (char) (0xC0 | (r >> 6));
                out[1] = (char) (0x80 | (r & 0x3F));
                return 2;
        }
        if (r < 0x10000) {
                out[0] = (char) (0xE0 | (r >> 12));
                out[1] = (char) (0x80 | ((r >> 6) & 0x3F));
                out[2] = (char) (0x80 | (r & 0x3F));
                return 3;
        }
        out[0] = (char) (0xF0 | (r >> 18));
        out[1] = (char) (0x80 | ((r >> 12) & 0x3F));
        out[2] = (char) (0x80 | ((r >> 6) & 0x3F));
        out[3] = (char) (0x80 | (r & 0x3F));
        return 4;
}

/* unicode.IsSpace */
static bool is_space(int32_t r) {
        switch (r) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
        case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
                return true;
        default:
                return r >= 0x2000 && r <= 0x200A;
        }
}

static bool is_field_rune(int32_t r) {
        return r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9');
}

static bool is_operator_rune(int32_t r) {
        return r == '=' || r == '!' || r == '~';
}

static bool is_quote_rune(int32_t r) {
        return r == '/' || r == '|' || r == '"';
}

static bool is_separator_rune(int32_t r) {
        return r == ',' || r == '.';
}

/* Letters, digits, graphic and punctuation characters except ',' — for ASCII the printable range; above
 * it everything but C1 controls (Go's tables distinguish more, but no client sends those). */
static bool is_value_rune(int32_t r) {
        if (r == ',' || r < 0 || is_space(r))
                return false;
        if (r < 0x80)
                return r > 0x20 && r < 0x7F;
        return r > 0x9F;
}

typedef struct scanner {
        const char *input;
        size_t len;
        size_t pos;  /* start of the current rune */
        size_t ppos; /* end of the current rune */
        bool value;  /* the next bare word is a value (an operator came before it) */
        const char *err;
} scanner;

static void scanner_error(scanner *s, const char *msg) {
        if (!s->err)
                s->err = msg;
}

static int32_t scanner_next(scanner *s) {
        if (s->pos >= s->len)
                return TOK_EOF;
        s->pos = s->ppos;
        size_t w;
        int32_t r = utf8_decode(s->input + s->ppos, s->len - s->ppos, &w);
        s->ppos += w;
        if (r == RUNE_ERROR) {
                if (w > 0) {
                        scanner_error(s, "rune error");
                        return TOK_ILLEGAL;
                }
                return TOK_EOF;
        }
        if (r == 0) {
                scanner_error(s, "unexpected null");
                return TOK_ILLEGAL;
        }
        return r;
}

static int32_t scanner_peek(scanner *s) {
        size_t pos = s->pos, ppos = s->ppos;
        int32_t ch = scanner_next(s);
        s->pos = pos;
        s->ppos = ppos;
        return ch;
}

static int digit_val(int32_t ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return 16;
}

static int32_t scan_digits(scanner *s, int32_t ch, int base, int n, bool *legal) {
        while (n > 0 && digit_val(ch) < base) {
                ch = scanner_next(s);
                n--;
        }
        if (n > 0) {
                scanner_error(s, "illegal numeric escape sequence");
                *legal = false;
                return ch;
        }
        *legal = true;
        return ch;
}

static int32_t scan_escape(scanner *s, int32_t quote, bool *legal) {
        int32_t ch = scanner_next(s);
        *legal = false;
        switch (ch) {
        case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\':
                *legal = true;
                return scanner_next(s);
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
                return scan_digits(s, ch, 8, 3, legal);
        case 'x':
                return scan_digits(s, scanner_next(s), 16, 2, legal);
        case 'u':
                return scan_digits(s, scanner_next(s), 16, 4, legal);
        case 'U':
                return scan_digits(s, scanner_next(s), 16, 8, legal);
        default:
                if (ch == quote) {
                        *legal = true;
                        return scanner_next(s);
                }
                scanner_error(s, "illegal escape sequence");
                return ch;
        }
}

static bool scan_quoted(scanner *s, int32_t quote) {
        bool illegal = false;
        int32_t ch = scanner_next(s);
        while (ch != quote) {
                if (ch == '\n' || ch < 0) {
                        scanner_error(s, "quoted literal not terminated");
                        return false;
                }
                if (ch == '\\') {
                        bool legal;
                        ch = scan_escape(s, quote, &legal);
                        if (!legal)
                                illegal = true;
                } else
                        ch = scanner_next(s);
        }
        return !illegal;
}

/* Returns the token; *ret_pos and the text [*ret_pos, s->ppos) as containerd's scan() does. */
static int32_t scanner_scan(scanner *s, size_t *ret_pos, size_t *ret_end) {
        int32_t ch = scanner_next(s);
        size_t pos = s->pos;
        for (;;) {
                if (ch == TOK_EOF || ch == TOK_ILLEGAL)
                        break;
                if (is_quote_rune(ch)) {
                        bool ok = scan_quoted(s, ch);
                        *ret_pos = pos;
                        *ret_end = s->ppos;
                        return ok ? TOK_QUOTED : TOK_ILLEGAL;
                }
                if (is_separator_rune(ch)) {
                        s->value = false;
                        *ret_pos = pos;
                        *ret_end = s->ppos;
                        return TOK_SEPARATOR;
                }
                if (is_operator_rune(ch)) {
                        while (is_operator_rune(scanner_peek(s)))
                                scanner_next(s);
                        s->value = true;
                        *ret_pos = pos;
                        *ret_end = s->ppos;
                        return TOK_OPERATOR;
                }
                if (is_space(ch)) {
                        ch = scanner_next(s);
                        pos = s->pos;
                        continue;
                }
                if (s->value) {
                        while (is_value_rune(scanner_peek(s)))
                                scanner_next(s);
                        s->value = false;
                        *ret_pos = pos;
                        *ret_end = s->ppos;
                        return TOK_VALUE;
                }
                if (is_field_rune(ch)) {
                        while (is_field_rune(scanner_peek(s)))
                                scanner_next(s);
                        *ret_pos = pos;
                        *ret_end = s->ppos;
                        return TOK_FIELD;
                }
                break;
        }
        *ret_pos = s->pos;
        *ret_end = s->pos;
        return ch;
}

/* ---- parser ------------------------------------------------------------------------------------------- */

typedef struct parser {
        const char *input;
        scanner sc;
        char *err; /* the first error, already formatted */
} parser;

_printf_(3, 4) static int parser_error(parser *p, size_t pos, const char *fmt, ...) {
        if (p->err)
                return -1;
        char *msg;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        size_t len = strlen(p->input);
        if (pos < len)
                p->err = xasprintf("parse error: [%.*s >|%c|< %s]: %s", (int) pos, p->input, p->input[pos],
                                   p->input + pos + 1, msg ? msg : "");
        else
                p->err = xasprintf("parse error: [%s]: %s", p->input, msg ? msg : "");
        free(msg);
        return -1;
}

static int unhex(char c) {
        int v = digit_val((unsigned char) c);
        return v < 16 ? v : -1;
}

/* Go's strconv.Unquote, extended (as containerd does) to accept / and | as double-quote-like delimiters.
 * Returns NULL on a syntax error. The result never holds a NUL byte (C strings cannot carry it). */
static char *unquote(const char *s, size_t n) {
        if (n < 2 || s[0] != s[n - 1])
                return NULL;
        char quote = s[0];
        if (quote != '"' && quote != '\'' && quote != '|' && quote != '/')
                return NULL;
        s++;
        n -= 2;
        if (memchr(s, '\n', n))
                return NULL;
        char *out = xmalloc(n + 1), *o = out;
        size_t i = 0;
        while (i < n) {
                unsigned char c = (unsigned char) s[i];
                if (c == (unsigned char) quote)
                        goto fail;
                if (c >= 0x80) {
                        size_t w;
                        utf8_decode(s + i, n - i, &w);
                        memcpy(o, s + i, w);
                        o += w;
                        i += w;
                        goto next;
                }
                if (c != '\\') {
                        *o++ = (char) c;
                        i++;
                        goto next;
                }
                if (i + 1 >= n)
                        goto fail;
                c = (unsigned char) s[i + 1];
                i += 2;
                switch (c) {
                case 'a': *o++ = '\a'; break;
                case 'b': *o++ = '\b'; break;
                case 'f': *o++ = '\f'; break;
                case 'n': *o++ = '\n'; break;
                case 'r': *o++ = '\r'; break;
                case 't': *o++ = '\t'; break;
                case 'v': *o++ = '\v'; break;
                case '\\': *o++ = '\\'; break;
                case 'x': case 'u': case 'U': {
                        size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                        if (n - i < digits)
                                goto fail;
                        uint32_t v = 0;
                        for (size_t j = 0; j < digits; j++) {
                                int x = unhex(s[i + j]);
                                if (x < 0)
                                        goto fail;
                                v = (v << 4) | (uint32_t) x;
                        }
                        i += digits;
                        if (v == 0)
                                goto fail;
                        if (c == 'x') {
                                *o++ = (char) v;
                                break;
                        }
                        if (v > 0x10FFFF)
                                goto fail;
                        /* Worst case \UXXXXXXXX (10 bytes) becomes 4: o never overtakes s. */
                        o += utf8_encode((int32_t) v, o);
                        break;
                }
                case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
                        int v = c - '0';
                        if (n - i < 2)
                                goto fail;
                        for (size_t j = 0; j < 2; j++) {
                                int x = s[i + j] - '0';
                                if (x < 0 || x > 7)
                                        goto fail;
                                v = (v << 3) | x;
                        }
                        i += 2;
                        if (v > 255 || v == 0)
                                goto fail;
                        *o++ = (char) v;
                        break;
                }
                case '\'': case '"': case '|': case '/':
                        if (c != (unsigned char) quote)
                                goto fail;
                        *o++ = (char) c;
                        break;
                default:
                        goto fail;
                }
        next:
                if (quote == '\'' && i < n)
                        goto fail; /* single-quoted: exactly one character */
        }
        *o = '\0';
        return out;
fail:
        free(out);
        return NULL;
}

static char *parser_unquote(parser *p, size_t pos, size_t end, bool allow_alts) {
        const char *s = p->input + pos;
        if (!allow_alts && s[0] != '\'' && s[0] != '"') {
                parser_error(p, pos, "invalid quote encountered");
                return NULL;
        }
        char *r = unquote(s, end - pos);
        if (!r)
                parser_error(p, pos, "unquoting failed: quote syntax error");
        return r;
}

static char *parser_field(parser *p) {
        size_t pos, end;
        int32_t tok = scanner_scan(&p->sc, &pos, &end);
        switch (tok) {
        case TOK_FIELD:
                return xstrndup(p->input + pos, end - pos);
        case TOK_QUOTED:
                return parser_unquote(p, pos, end, false);
        case TOK_ILLEGAL:
                parser_error(p, pos, "%s", p->sc.err ? p->sc.err : "illegal token");
                return NULL;
        default:
                parser_error(p, pos, "expected field or quoted");
                return NULL;
        }
}

static int parser_fieldpath(parser *p, meta_selector *sel) {
        for (;;) {
                char *f = parser_field(p);
                if (!f)
                        return -1;
                sel->path = xrealloc(sel->path, (sel->n_path + 1) * sizeof *sel->path);
                sel->path[sel->n_path++] = f;
                if (scanner_peek(&p->sc) != '.')
                        return 0;
                size_t pos, end;
                if (scanner_scan(&p->sc, &pos, &end) != TOK_SEPARATOR)
                        return parser_error(p, pos, "expected a field separator (`.`)");
        }
}

static int parser_operator(parser *p, meta_filter_op *ret) {
        size_t pos, end;
        int32_t tok = scanner_scan(&p->sc, &pos, &end);
        switch (tok) {
        case TOK_OPERATOR: {
                size_t n = end - pos;
                const char *s = p->input + pos;
                if (n == 2 && memcmp(s, "==", 2) == 0)
                        *ret = META_FILTER_EQUAL;
                else if (n == 2 && memcmp(s, "!=", 2) == 0)
                        *ret = META_FILTER_NOT_EQUAL;
                else if (n == 2 && memcmp(s, "~=", 2) == 0)
                        *ret = META_FILTER_MATCHES;
                else
                        return parser_error(p, pos, "unsupported operator \"%.*s\"", (int) n, s);
                return 0;
        }
        case TOK_ILLEGAL:
                return parser_error(p, pos, "%s", p->sc.err ? p->sc.err : "illegal token");
        default:
                return parser_error(p, pos, "expected an operator (\"==\"|\"!=\"|\"~=\")");
        }
}

static char *parser_value(parser *p, bool allow_alts) {
        size_t pos, end;
        int32_t tok = scanner_scan(&p->sc, &pos, &end);
        switch (tok) {
        case TOK_VALUE:
        case TOK_FIELD:
                return xstrndup(p->input + pos, end - pos);
        case TOK_QUOTED:
                return parser_unquote(p, pos, end, allow_alts);
        case TOK_ILLEGAL:
                parser_error(p, pos, "%s", p->sc.err ? p->sc.err : "illegal token");
                return NULL;
        default:
                parser_error(p, pos, "expected value or quoted");
                return NULL;
        }
}

/* Go's RE2 shorthands that POSIX ERE lacks, rewritten; anything else passes through to regcomp. */
static char *translate_regex(const char *re) {
        size_t n = strlen(re);
        char *out = xmalloc(n * 14 + 1), *o = out;
        bool in_bracket = false;
        for (size_t i = 0; i < n; i++) {
                char c = re[i];
                if (c == '\\' && i + 1 < n) {
                        char e = re[++i];
                        const char *rep = NULL;
                        if (!in_bracket) {
                                switch (e) {
                                case 'd': rep = "[0-9]"; break;
                                case 'D': rep = "[^0-9]"; break;
                                case 'w': rep = "[A-Za-z0-9_]"; break;
                                case 'W': rep = "[^A-Za-z0-9_]"; break;
                                case 's': rep = "[[:space:]]"; break;
                                case 'S': rep = "[^[:space:]]"; break;
                                }
                        } else {
                                switch (e) {
                                case 'd': rep = "0-9"; break;
                                case 'w': rep = "A-Za-z0-9_"; break;
                                case 's': rep = "[:space:]"; break;
                                case ']': case '\\': case '-': case '^':
                                        /* ERE has no escapes in brackets; keep the literal meaning where we can */
                                        *o++ = e;
                                        continue;
                                }
                        }
                        if (rep)
                                o = stpcpy(o, rep);
                        else {
                                *o++ = '\\';
                                *o++ = e;
                        }
                        continue;
                }
                if (!in_bracket && c == '(' && re[i + 1] == '?' && re[i + 2] == ':') {
                        *o++ = '(';
                        i += 2;
                        continue;
                }
                if (!in_bracket && c == '[') {
                        in_bracket = true;
                        *o++ = c;
                        if (re[i + 1] == '^')
                                *o++ = re[++i];
                        if (re[i + 1] == ']')
                                *o++ = re[++i];
                        continue;
                }
                if (in_bracket && c == '[' && (re[i + 1] == ':' || re[i + 1] == '.' || re[i + 1] == '=')) {
                        /* a [:class:] inside brackets: copy through its closing ":]" */
                        const char *close = strstr(re + i + 2, (char[]) { re[i + 1], ']', '\0' });
                        if (close) {
                                size_t len = (size_t) (close + 2 - (re + i));
                                memcpy(o, re + i, len);
                                o += len;
                                i += len - 1;
                                continue;
                        }
                }
                if (in_bracket && c == ']')
                        in_bracket = false;
                *o++ = c;
        }
        *o = '\0';
        return out;
}

#define REGEX_MAX_LEN 4096
#define REGEX_MAX_COST 10000
#define REGEX_MAX_REPEAT 1000 /* Go's limit for {n,m} */
#define REGEX_MAX_DEPTH 64

/* Skips a bracket expression starting at re[i] == '['; returns the index after its closing ']'. */
static size_t skip_bracket(const char *re, size_t i) {
        i++;
        if (re[i] == '^')
                i++;
        if (re[i] == ']')
                i++;
        while (re[i] && re[i] != ']') {
                if (re[i] == '[' && (re[i + 1] == ':' || re[i + 1] == '.' || re[i + 1] == '=')) {
                        const char *close = strstr(re + i + 2, (char[]) { re[i + 1], ']', '\0' });
                        if (close) {
                                i = (size_t) (close - re) + 2;
                                continue;
                        }
                }
                i++;
        }
        return re[i] ? i + 1 : i;
}

/* Parses "{n}", "{n,}" or "{n,m}" at re[i]; returns its length (0 if it is not an interval). */
static size_t parse_interval(const char *re, size_t i, long *ret_max) {
        size_t j = i + 1;
        long n = 0, m;
        if (re[j] < '0' || re[j] > '9')
                return 0;
        for (; re[j] >= '0' && re[j] <= '9'; j++)
                n = n > 100000 ? n : n * 10 + (re[j] - '0');
        m = n;
        if (re[j] == ',') {
                j++;
                if (re[j] >= '0' && re[j] <= '9')
                        for (m = 0; re[j] >= '0' && re[j] <= '9'; j++)
                                m = m > 100000 ? m : m * 10 + (re[j] - '0');
        }
        if (re[j] != '}')
                return 0;
        *ret_max = n > m ? n : m;
        return j + 1 - i;
}

/* glibc compiles "x+" as "xx*" and "x{n}" as n copies, so nested repetitions blow up exponentially, and
 * its back-references make matching exponential: a client's filter must not be able to exhaust the
 * daemon. Go's RE2 rejects those (nested repetition operators, counts over 1000, \1) and so do we, with
 * an estimate of the compiled size on top. Lazy quantifiers ("+?") are dropped in place: only whether
 * something matches matters here. Returns false for an expression that must not be compiled. */
static bool regex_make_safe(char *re) {
        if (strlen(re) > REGEX_MAX_LEN)
                return false;
        long cost[REGEX_MAX_DEPTH + 1] = { 0 }, last = 0;
        size_t depth = 0;
        enum { NONE, REPEAT, LAZY } after_repeat = NONE;
        for (size_t i = 0; re[i];) {
                char c = re[i];
                long mult = 0;
                size_t len = 1;
                if (c == '*')
                        mult = 2;
                else if (c == '+')
                        mult = 2;
                else if (c == '?')
                        mult = 1;
                else if (c == '{') {
                        long max;
                        len = parse_interval(re, i, &max);
                        if (len > 0) {
                                if (max > REGEX_MAX_REPEAT)
                                        return false;
                                mult = max + 1;
                        } else
                                len = 1;
                }
                if (mult > 0) {
                        if (after_repeat == LAZY || (after_repeat == REPEAT && c != '?'))
                                return false; /* nested repetition */
                        if (after_repeat == REPEAT) {
                                memmove(re + i, re + i + 1, strlen(re + i + 1) + 1);
                                after_repeat = LAZY;
                                continue;
                        }
                        cost[depth] += last * (mult - 1);
                        last *= mult;
                        after_repeat = REPEAT;
                        i += len;
                } else if (c == '(') {
                        if (depth == REGEX_MAX_DEPTH)
                                return false;
                        cost[++depth] = 0;
                        last = 0;
                        after_repeat = NONE;
                        i++;
                } else if (c == ')' && depth > 0) {
                        last = cost[depth--] + 1;
                        cost[depth] += last;
                        after_repeat = NONE;
                        i++;
                } else if (c == '|') {
                        last = 0;
                        after_repeat = NONE;
                        i++;
                } else {
                        if (c == '\\' && re[i + 1] >= '1' && re[i + 1] <= '9')
                                return false; /* back-reference */
                        size_t next = c == '[' ? skip_bracket(re, i) : c == '\\' && re[i + 1] ? i + 2 : i + 1;
                        last = 1;
                        cost[depth] += 1;
                        after_repeat = NONE;
                        i = next;
                }
                if (cost[depth] > REGEX_MAX_COST || last > REGEX_MAX_COST)
                        return false;
        }
        return true;
}

static int parser_selector(parser *p, meta_selector *sel) {
        if (parser_fieldpath(p, sel) < 0)
                return -1;
        int32_t next = scanner_peek(&p->sc);
        if (next == ',' || next == TOK_SEPARATOR || next == TOK_EOF) {
                sel->op = META_FILTER_PRESENT;
                return 0;
        }
        if (parser_operator(p, &sel->op) < 0)
                return -1;
        sel->value = parser_value(p, sel->op == META_FILTER_MATCHES);
        if (!sel->value)
                return -1;
        if (sel->op == META_FILTER_MATCHES) {
                _cleanup_free_ char *re = translate_regex(sel->value);
                sel->re_ok = regex_make_safe(re) && regcomp(&sel->re, re, REG_EXTENDED | REG_NOSUB) == 0;
                if (!sel->re_ok)
                        log_debug("filters: error compiling regexp \"%s\"", sel->value);
        }
        return 0;
}

static void selector_done(meta_selector *sel) {
        for (size_t i = 0; i < sel->n_path; i++)
                free(sel->path[i]);
        free(sel->path);
        free(sel->value);
        if (sel->re_ok)
                regfree(&sel->re);
}

static void all_done(meta_filter_all *all) {
        for (size_t i = 0; i < all->n; i++)
                selector_done(&all->sel[i]);
        free(all->sel);
}

static int parse_one(const char *input, meta_filter_all *all, char **ret_err) {
        parser p = { .input = input, .sc = { .input = input, .len = strlen(input) } };
        for (;;) {
                all->sel = xrealloc(all->sel, (all->n + 1) * sizeof *all->sel);
                meta_selector *sel = &all->sel[all->n++];
                *sel = (meta_selector) { 0 };
                if (parser_selector(&p, sel) < 0)
                        goto fail;
                int32_t tok = scanner_peek(&p.sc);
                if (tok == TOK_EOF)
                        return 0;
                if (tok != ',') {
                        /* Go prints string(tok): the character, or U+FFFD for the negative pseudo-tokens */
                        char buf[8] = { 0 };
                        utf8_encode(tok < 0 ? RUNE_ERROR : tok, buf);
                        parser_error(&p, p.sc.ppos, "unexpected input: %s", buf);
                        goto fail;
                }
                size_t pos, end;
                if (scanner_scan(&p.sc, &pos, &end) != TOK_SEPARATOR) {
                        parser_error(&p, pos, "expected a separator");
                        goto fail;
                }
        }
fail:
        *ret_err = p.err ? p.err : xstrdup("parse error");
        return -1;
}

int meta_filter_parse(const char *const *filters, size_t n, meta_filter **ret, berr **err) {
        meta_filter *f = xcalloc(1, sizeof *f);
        if (n == 0)
                f->always = true;
        for (size_t i = 0; i < n; i++) {
                const char *s = filters[i] ? filters[i] : "";
                f->any = xrealloc(f->any, (f->n + 1) * sizeof *f->any);
                meta_filter_all *all = &f->any[f->n++];
                *all = (meta_filter_all) { 0 };
                if (!*s)
                        continue; /* Always: an AND of nothing */
                char *msg = NULL;
                if (parse_one(s, all, &msg) < 0) {
                        berr_set(err, BERR_INVALID_ARGUMENT, EINVAL, "filters: %s: invalid argument", msg);
                        free(msg);
                        meta_filter_free(f);
                        return -1;
                }
        }
        *ret = f;
        return 0;
}

static bool selector_match(const meta_selector *sel, meta_filter_lookup_fn lookup, void *obj) {
        const char *value = lookup((const char *const *) sel->path, sel->n_path, obj);
        switch (sel->op) {
        case META_FILTER_PRESENT:
                return value != NULL;
        case META_FILTER_EQUAL:
                return value && strcmp(value, sel->value) == 0;
        case META_FILTER_NOT_EQUAL:
                return strcmp(value ? value : "", sel->value) != 0;
        case META_FILTER_MATCHES:
                return sel->re_ok && regexec(&sel->re, value ? value : "", 0, NULL, 0) == 0;
        }
        return false;
}

bool meta_filter_match(const meta_filter *f, meta_filter_lookup_fn lookup, void *obj) {
        if (!f || f->always)
                return true;
        for (size_t i = 0; i < f->n; i++) {
                bool all = true;
                for (size_t j = 0; j < f->any[i].n && all; j++)
                        all = selector_match(&f->any[i].sel[j], lookup, obj);
                if (all)
                        return true;
        }
        return false;
}

void meta_filter_free(meta_filter *f) {
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++)
                all_done(&f->any[i]);
        free(f->any);
        free(f);
}
