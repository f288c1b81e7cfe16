/* Output helpers for the CLI. */
#include <string.h>

#include "basic/macro.h"
#include "cli/format.h"

const char *format_size(int64_t bytes, char buf[static 16]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        if (bytes < 1024) {
                snprintf(buf, 16, "%lld B", (long long) (bytes < 0 ? 0 : bytes));
                return buf;
        }
        double v = (double) bytes;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 16, "%.1f %s", v, units[u]);
        return buf;
}

char *format_duration(int64_t nsec) {
        int64_t s = nsec / 1000000000LL;
        int64_t minutes = s / 60;
        int64_t hours = (s + 1800) / 3600; /* Go's math.Round(d.Hours()) */
        if (s < 1)
                return xstrdup("Less than a second");
        if (s == 1)
                return xstrdup("1 second");
        if (s < 60)
                return xasprintf("%lld seconds", (long long) s);
        if (minutes == 1)
                return xstrdup("About a minute");
        if (minutes < 60)
                return xasprintf("%lld minutes", (long long) minutes);
        if (hours == 1)
                return xstrdup("About an hour");
        if (hours < 48)
                return xasprintf("%lld hours", (long long) hours);
        if (hours < 24 * 7 * 2)
                return xasprintf("%lld days", (long long) (hours / 24));
        if (hours < 24 * 30 * 2)
                return xasprintf("%lld weeks", (long long) (hours / 24 / 7));
        if (hours < 24 * 365 * 2)
                return xasprintf("%lld months", (long long) (hours / 24 / 30));
        return xasprintf("%lld years", (long long) (hours / 24 / 365));
}

char *format_short_id(const char *digest) {
        const char *colon = strchr(digest, ':');
        return xstrndup(colon ? colon + 1 : digest, 12);
}

char *format_short_digest(const char *digest) {
        const char *colon = strchr(digest, ':');
        if (!colon)
                return xstrndup(digest, 12);
        return xasprintf("%.*s:%.12s", (int) (colon - digest), digest, colon + 1);
}

void format_split_name(const char *name, char **ret_repository, char **ret_tag) {
        _cleanup_free_ char *repo = NULL;
        const char *at = strchr(name, '@');
        const char *last_slash = strrchr(name, '/');
        const char *colon = strrchr(last_slash ? last_slash : name, ':');
        if (at) {
                repo = xstrndup(name, (size_t) (at - name));
                /* "name:tag@digest" keeps its tag */
                const char *ls = strrchr(repo, '/');
                char *c = strrchr(ls ? ls : repo, ':');
                *ret_tag = xstrdup(c ? c + 1 : "<none>");
                if (c)
                        *c = '\0';
        } else if (colon) {
                repo = xstrndup(name, (size_t) (colon - name));
                *ret_tag = xstrdup(colon + 1);
        } else {
                repo = xstrdup(name);
                *ret_tag = xstrdup("<none>");
        }
        const char *familiar = repo;
        if (strncmp(familiar, "docker.io/", 10) == 0) {
                familiar += 10;
                if (strncmp(familiar, "library/", 8) == 0 && !strchr(familiar + 8, '/'))
                        familiar += 8;
        }
        *ret_repository = xstrdup(familiar);
}

struct table {
        size_t n_columns, n_rows; /* rows include the header */
        char **cells;
};

table *table_new(size_t n_columns, const char *const *headers) {
        table *t = xcalloc(1, sizeof *t);
        t->n_columns = n_columns;
        table_add(t, headers);
        return t;
}

void table_add(table *t, const char *const *cells) {
        t->cells = xrealloc(t->cells, (t->n_rows + 1) * t->n_columns * sizeof *t->cells);
        for (size_t i = 0; i < t->n_columns; i++)
                t->cells[t->n_rows * t->n_columns + i] = xstrdup(cells[i] ? cells[i] : "");
        t->n_rows++;
}

/* Characters, not bytes: cells may hold UTF-8 such as the "…" of a cut command. */
static size_t display_width(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

void table_print(const table *t, FILE *f) {
        _cleanup_free_ size_t *width = xcalloc(t->n_columns, sizeof *width);
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t w = display_width(t->cells[r * t->n_columns + c]);
                        if (w > width[c])
                                width[c] = w;
                }
        for (size_t r = 0; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];
                        if (c + 1 == t->n_columns)
                                fprintf(f, "%s\n", cell);
                        else
                                fprintf(f, "%s%*s   ", cell, (int) (width[c] - display_width(cell)), "");
                }
        }
}

table *table_free(table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}
