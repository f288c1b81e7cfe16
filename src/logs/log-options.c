/* --log-opt parsing, file and directory names, and the binary:// URI berthd hands to the shim (with the
 * logger's side of it: the "k v" arguments the shim turns the query into). */
#include <ctype.h>
#include <string.h>

#include "logs/logs.h"
#include "spec/spec.h"
#include "basic/strv.h"

#define LOG_MIN_SIZE 4096
#define LOG_MAX_FILES 1000

void log_opts_init(log_opts *o) {
        *o = (log_opts) { .max_size = 0, .max_files = 1 };
}

static int parse_files(const char *v, unsigned *ret, berr **err) {
        char *end;
        errno = 0;
        unsigned long n = isdigit((unsigned char) *v) ? strtoul(v, &end, 10) : 0;
        if (!isdigit((unsigned char) *v) || *end || errno || n < 1 || n > LOG_MAX_FILES)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid log option max-files=%s: expected 1 to %d", v,
                                LOG_MAX_FILES);
        *ret = (unsigned) n;
        return 0;
}

static int parse_one(log_opts *o, const char *kv, berr **err) {
        const char *eq = strchr(kv, '=');
        if (!eq)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid log option '%s': expected key=value", kv);
        size_t klen = (size_t) (eq - kv);
        const char *v = eq + 1;
        if (klen == 8 && strncmp(kv, "max-size", 8) == 0) {
                int64_t size;
                _cleanup_berr_ berr *e = NULL;
                if (spec_parse_size(v, &size, &e) < 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid log option max-size=%s: %s", v,
                                        e->msg);
                if (size <= 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "invalid log option max-size=%s: must be positive", v);
                o->max_size = size;
                return 0;
        }
        if ((klen == 9 && strncmp(kv, "max-files", 9) == 0) || (klen == 8 && strncmp(kv, "max-file", 8) == 0))
                return parse_files(v, &o->max_files, err);
        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "unknown log option '%.*s' (max-size, max-files)", (int) klen,
                        kv);
}

int log_opts_parse(log_opts *o, const char *s, berr **err) {
        if (!s || !*s)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "empty log option");
        log_opts tmp = *o;
        _cleanup_strv_free_ char **parts = strv_split(s, ',');
        for (char **p = parts; *p; p++)
                if (parse_one(&tmp, *p, err) < 0)
                        return -1;
        *o = tmp;
        return 0;
}

int log_opts_validate(const log_opts *o, berr **err) {
        if (o->max_files < 1 || o->max_files > LOG_MAX_FILES)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid log option max-files=%u", o->max_files);
        if (o->max_size < 0 || (o->max_size > 0 && o->max_size < LOG_MIN_SIZE))
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid log option max-size=%lld: the minimum is 4k",
                                (long long) o->max_size);
        if (o->max_files > 1 && o->max_size == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "log option max-files needs max-size");
        return 0;
}

char *log_dir_path(const char *root, const char *ns, const char *id) {
        return xasprintf("%s/containers/%s/%s", root, ns, id);
}

char *log_file_name(const char *id, unsigned index) {
        return index == 0 ? xasprintf("%s" LOG_FILE_SUFFIX, id) : xasprintf("%s" LOG_FILE_SUFFIX ".%u", id, index);
}

/* Percent-escapes all but RFC 3986's unreserved characters (and '/' where allowed), so Go's url.Parse in
 * containerd and our shim give back exactly the bytes we meant ('+' would otherwise become a space). */
static void append_escaped(char **out, const char *s, bool keep_slash) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(*out), cap = n + strlen(s) * 3 + 1;
        *out = xrealloc(*out, cap);
        char *o = *out + n;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/'))
                        *o++ = (char) *p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        }
        *o = 0;
}

char *log_binary_uri(const char *logger_path, const char *dir, const log_opts *o) {
        char *uri = xstrdup("binary://");
        append_escaped(&uri, logger_path, true);
        char *q = xstrdup("?dir=");
        append_escaped(&q, dir, true);
        char *full = xasprintf("%s%s&max-size=%lld&max-files=%u", uri, q, (long long) o->max_size, o->max_files);
        free(uri);
        free(q);
        return full;
}

int log_logger_args_parse(int argc, char *const *argv, const char *ns, const char *id, char **ret_dir,
                          log_opts *ret_opts, berr **err) {
        if (!id || !*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "CONTAINER_ID missing or invalid");
        log_opts o;
        log_opts_init(&o);
        _cleanup_free_ char *dir = NULL, *root = NULL;
        if (argc % 2)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "arguments must come in key value pairs");
        for (int i = 0; i < argc; i += 2) {
                const char *k = argv[i], *v = argv[i + 1];
                if (strcmp(k, "dir") == 0) {
                        free(dir);
                        dir = xstrdup(v);
                } else if (strcmp(k, "root") == 0) {
                        free(root);
                        root = xstrdup(v);
                } else {
                        _cleanup_free_ char *kv = xasprintf("%s=%s", k, v);
                        if (log_opts_parse(&o, kv, err) < 0)
                                return -1;
                }
        }
        if (!dir && root) {
                if (!ns || !*ns || strchr(ns, '/') || strcmp(ns, ".") == 0 || strcmp(ns, "..") == 0)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0, "CONTAINER_NAMESPACE missing or invalid");
                dir = log_dir_path(root, ns, id);
        }
        if (!dir || dir[0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "an absolute 'dir' (or 'root') argument is required");
        if (log_opts_validate(&o, err) < 0)
                return -1;
        *ret_dir = TAKE_PTR(dir);
        *ret_opts = o;
        return 0;
}
