#include "remotes/hosts-toml.h"

#include <ctype.h>
#include <string.h>

#include "basic/macro.h"
#include "basic/strv.h"

typedef struct parser {
        const char *p;
        int line;
} parser;

static int fail(parser *ps, berr **err, const char *what) {
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "hosts.toml line %d: %s", ps->line, what);
}

static void skip_blank(parser *ps) {
        while (*ps->p == ' ' || *ps->p == '\t')
                ps->p++;
}

/* Blanks, newlines and comments (inside arrays and between statements). */
static void skip_space(parser *ps) {
        for (;;) {
                skip_blank(ps);
                if (*ps->p == '#') {
                        while (*ps->p && *ps->p != '\n')
                                ps->p++;
                } else if (*ps->p == '\r' && ps->p[1] == '\n') {
                        ps->p++;
                } else if (*ps->p == '\n') {
                        ps->p++;
                        ps->line++;
                } else {
                        return;
                }
        }
}

static int end_of_line(parser *ps, berr **err) {
        skip_blank(ps);
        if (*ps->p == '#')
                while (*ps->p && *ps->p != '\n')
                        ps->p++;
        if (*ps->p == '\r')
                ps->p++;
        if (*ps->p == '\n') {
                ps->p++;
                ps->line++;
                return 0;
        }
        if (*ps->p == '\0')
                return 0;
        return fail(ps, err, "expected the end of the line");
}

static void put_utf8(char **buf, size_t *n, unsigned long cp) {
        char out[4];
        size_t k;
        if (cp < 0x80) {
                out[0] = cp;
                k = 1;
        } else if (cp < 0x800) {
                out[0] = 0xc0 | (cp >> 6);
                out[1] = 0x80 | (cp & 0x3f);
                k = 2;
        } else if (cp < 0x10000) {
                out[0] = 0xe0 | (cp >> 12);
                out[1] = 0x80 | ((cp >> 6) & 0x3f);
                out[2] = 0x80 | (cp & 0x3f);
                k = 3;
        } else {
                out[0] = 0xf0 | (cp >> 18);
                out[1] = 0x80 | ((cp >> 12) & 0x3f);
                out[2] = 0x80 | ((cp >> 6) & 0x3f);
                out[3] = 0x80 | (cp & 0x3f);
                k = 4;
        }
        *buf = xrealloc(*buf, *n + k + 1);
        memcpy(*buf + *n, out, k);
        *n += k;
        (*buf)[*n] = '\0';
}

static int parse_string(parser *ps, char **ret, berr **err) {
        char quote = *ps->p;
        if (ps->p[1] == quote && ps->p[2] == quote)
                return fail(ps, err, "multi-line strings are not supported");
        ps->p++;
        char *buf = xstrdup("");
        size_t n = 0;
        for (;;) {
                char c = *ps->p;
                if (c == '\0' || c == '\n') {
                        free(buf);
                        return fail(ps, err, "unterminated string");
                }
                ps->p++;
                if (c == quote)
                        break;
                if (c == '\\' && quote == '"') {
                        char e = *ps->p++;
                        unsigned long cp;
                        switch (e) {
                        case 'b': cp = '\b'; break;
                        case 't': cp = '\t'; break;
                        case 'n': cp = '\n'; break;
                        case 'f': cp = '\f'; break;
                        case 'r': cp = '\r'; break;
                        case '"': cp = '"'; break;
                        case '\\': cp = '\\'; break;
                        case 'u':
                        case 'U': {
                                int digits = e == 'u' ? 4 : 8;
                                cp = 0;
                                for (int i = 0; i < digits; i++, ps->p++) {
                                        if (!isxdigit((unsigned char) *ps->p)) {
                                                free(buf);
                                                return fail(ps, err, "bad \\u escape");
                                        }
                                        cp = cp * 16 + (isdigit((unsigned char) *ps->p)
                                                                ? *ps->p - '0'
                                                                : (tolower((unsigned char) *ps->p) - 'a' + 10));
                                }
                                if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                                        free(buf);
                                        return fail(ps, err, "bad \\u escape");
                                }
                                break;
                        }
                        default:
                                free(buf);
                                return fail(ps, err, "unknown escape in string");
                        }
                        put_utf8(&buf, &n, cp);
                        continue;
                }
                buf = xrealloc(buf, n + 2);
                buf[n++] = c;
                buf[n] = '\0';
        }
        *ret = buf;
        return 0;
}

static int parse_key_part(parser *ps, char **ret, berr **err) {
        if (*ps->p == '"' || *ps->p == '\'')
                return parse_string(ps, ret, err);
        const char *s = ps->p;
        while (isalnum((unsigned char) *ps->p) || *ps->p == '_' || *ps->p == '-')
                ps->p++;
        if (ps->p == s)
                return fail(ps, err, "expected a key");
        *ret = xstrndup(s, ps->p - s);
        return 0;
}

static int parse_key_path(parser *ps, char ***path, berr **err) {
        for (;;) {
                skip_blank(ps);
                char *part;
                if (parse_key_part(ps, &part, err) < 0)
                        return -1;
                strv_push(path, part);
                skip_blank(ps);
                if (*ps->p != '.')
                        return 0;
                ps->p++;
        }
}

static void value_done(toml_value *v) {
        free(v->s);
        for (size_t i = 0; i < v->n; i++)
                value_done(&v->items[i]);
        free(v->items);
        *v = (toml_value) { 0 };
}

static int parse_value(parser *ps, toml_value *v, int depth, berr **err) {
        *v = (toml_value) { 0 };
        if (depth > 8)
                return fail(ps, err, "arrays nested too deeply");
        char c = *ps->p;
        if (c == '"' || c == '\'') {
                v->type = TOML_STRING;
                return parse_string(ps, &v->s, err);
        }
        if (strncmp(ps->p, "true", 4) == 0 && !isalnum((unsigned char) ps->p[4])) {
                v->type = TOML_BOOL;
                v->b = true;
                ps->p += 4;
                return 0;
        }
        if (strncmp(ps->p, "false", 5) == 0 && !isalnum((unsigned char) ps->p[5])) {
                v->type = TOML_BOOL;
                ps->p += 5;
                return 0;
        }
        if (isdigit((unsigned char) c) || c == '-' || c == '+') {
                char *end;
                v->type = TOML_INT;
                v->i = strtoll(ps->p, &end, 10);
                if (end == ps->p || isalnum((unsigned char) *end) || (*end && strchr(".:-_", *end)))
                        return fail(ps, err, "unsupported number or date");
                ps->p = end;
                return 0;
        }
        if (c == '[') {
                v->type = TOML_ARRAY;
                ps->p++;
                for (;;) {
                        skip_space(ps);
                        if (*ps->p == ']') {
                                ps->p++;
                                return 0;
                        }
                        v->items = xrealloc(v->items, (v->n + 1) * sizeof *v->items);
                        if (parse_value(ps, &v->items[v->n], depth + 1, err) < 0) {
                                value_done(v);
                                return -1;
                        }
                        v->n++;
                        skip_space(ps);
                        if (*ps->p == ',')
                                ps->p++;
                        else if (*ps->p != ']') {
                                value_done(v);
                                return fail(ps, err, "expected ',' or ']' in array");
                        }
                }
        }
        if (c == '{')
                return fail(ps, err, "inline tables are not supported");
        return fail(ps, err, "expected a value");
}

int toml_parse(const char *text, toml_visit_fn visit, void *userdata, berr **err) {
        parser ps = { .p = text, .line = 1 };
        _cleanup_strv_free_ char **table = xcalloc(1, sizeof(char *));
        for (;;) {
                skip_space(&ps);
                if (*ps.p == '\0')
                        return 0;
                if (*ps.p == '[') {
                        ps.p++;
                        if (*ps.p == '[')
                                return fail(&ps, err, "arrays of tables are not supported");
                        strv_free(table);
                        table = xcalloc(1, sizeof(char *));
                        if (parse_key_path(&ps, &table, err) < 0)
                                return -1;
                        if (*ps.p != ']')
                                return fail(&ps, err, "expected ']'");
                        ps.p++;
                        if (end_of_line(&ps, err) < 0)
                                return -1;
                        if (visit(table, strv_length(table), NULL, userdata, err) < 0)
                                return -1;
                        continue;
                }
                _cleanup_strv_free_ char **path = strv_copy_n(table, strv_length(table));
                if (parse_key_path(&ps, &path, err) < 0)
                        return -1;
                if (*ps.p != '=')
                        return fail(&ps, err, "expected '='");
                ps.p++;
                skip_blank(&ps);
                toml_value v;
                if (parse_value(&ps, &v, 0, err) < 0)
                        return -1;
                int r = end_of_line(&ps, err);
                if (r >= 0)
                        r = visit(path, strv_length(path), &v, userdata, err);
                value_done(&v);
                if (r < 0)
                        return -1;
        }
}
