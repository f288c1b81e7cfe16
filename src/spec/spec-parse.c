/* Parsers for what users type: sizes ("64m"), CPU counts ("1.5") and bind mounts ("-v /src:/dst:ro").
 * Kept free of jansson so the logs library (and the small berth-logger) can use spec_parse_size alone. */
#include <ctype.h>
#include <string.h>

#include "spec/spec-internal.h"
#include "basic/strv.h"

/* Splits "123.456" into integer and fraction parts; returns the number of characters consumed, 0 if there
 * is no digit before the optional fraction. frac holds up to max_frac digits (more is an error: -1). */
static int parse_decimal(const char *s, uint64_t *ret_int, uint64_t *ret_frac, unsigned *ret_frac_digits,
                         unsigned max_frac) {
        const char *p = s;
        uint64_t v = 0, f = 0;
        unsigned nf = 0;
        if (!isdigit((unsigned char) *p))
                return 0;
        for (; isdigit((unsigned char) *p); p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -1;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return -1;
                for (; isdigit((unsigned char) *p); p++) {
                        if (nf == max_frac) {
                                if (*p != '0') /* trailing zeros beyond the precision are harmless */
                                        return -1;
                                continue;
                        }
                        f = f * 10 + (uint64_t) (*p - '0');
                        nf++;
                }
        }
        *ret_int = v;
        *ret_frac = f;
        *ret_frac_digits = nf;
        return (int) (p - s);
}

static uint64_t pow10u(unsigned n) {
        uint64_t r = 1;
        while (n--)
                r *= 10;
        return r;
}

int spec_parse_size(const char *s, int64_t *ret, berr **err) {
        if (!s || !*s)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid size '': empty");
        uint64_t ip, fp;
        unsigned nf;
        int n = parse_decimal(s, &ip, &fp, &nf, 18);
        if (n <= 0)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid size '%s': expected a number like 64m", s);
        const char *p = s + n;
        if (*p == ' ')
                p++;
        uint64_t mult = 1;
        switch (tolower((unsigned char) *p)) {
        case 'k': mult = 1ULL << 10; p++; break;
        case 'm': mult = 1ULL << 20; p++; break;
        case 'g': mult = 1ULL << 30; p++; break;
        case 't': mult = 1ULL << 40; p++; break;
        case 'p': mult = 1ULL << 50; p++; break;
        default: break;
        }
        if (mult > 1 && tolower((unsigned char) *p) == 'i')
                p++;
        if (tolower((unsigned char) *p) == 'b')
                p++;
        if (*p)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid size '%s': unknown unit (use b, k, m, g, t or p)", s);
        unsigned __int128 total = (unsigned __int128) ip * mult + (unsigned __int128) fp * mult / pow10u(nf);
        if (total > INT64_MAX)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid size '%s': too large", s);
        *ret = (int64_t) total;
        return 0;
}

int spec_parse_cpus(const char *s, uint64_t *ret, berr **err) {
        uint64_t ip, fp;
        unsigned nf;
        int n = s ? parse_decimal(s, &ip, &fp, &nf, 9) : 0;
        if (n <= 0 || s[n])
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid CPU count '%s': expected a decimal number like 1.5", s ? s : "");
        if (ip > 1000000)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid CPU count '%s': too large", s);
        uint64_t nano = ip * 1000000000ULL + fp * pow10u(9 - nf);
        if (nano < 10000000ULL)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0, "invalid CPU count '%s': the minimum is 0.01", s);
        *ret = nano;
        return 0;
}

static const char *const propagation_modes[] = { "private", "rprivate", "shared", "rshared", "slave", "rslave" };

static int bind_apply_options(const char *spec, const char *opts, spec_bind *b, berr **err) {
        _cleanup_strv_free_ char **list = strv_split(opts, ',');
        bool seen_mode = false;
        for (char **o = list; *o; o++) {
                bool known = false;
                if (streq(*o, "ro") || streq(*o, "rw")) {
                        if (seen_mode)
                                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                "invalid volume '%s': ro and rw given more than once", spec);
                        seen_mode = true;
                        b->readonly = streq(*o, "ro");
                        known = true;
                }
                for (size_t i = 0; !known && i < ELEMENTSOF(propagation_modes); i++)
                        if (streq(*o, propagation_modes[i])) {
                                if (b->propagation)
                                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                                        "invalid volume '%s': more than one propagation mode",
                                                        spec);
                                b->propagation = xstrdup(*o);
                                known = true;
                        }
                if (!known)
                        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                        "invalid volume '%s': unknown option '%s' (ro, rw, [r]private, "
                                        "[r]shared, [r]slave)", spec, *o);
        }
        return 0;
}

int spec_bind_parse(const char *s, spec_bind *ret, berr **err) {
        *ret = (spec_bind) {};
        _cleanup_strv_free_ char **parts = strv_split(s ? s : "", ':');
        size_t n = strv_length(parts);
        if (n < 2 || n > 3)
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid volume '%s': expected SRC:DST[:OPTIONS]", s ? s : "");
        if (parts[0][0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid volume '%s': the source must be an absolute host path (named volumes "
                                "are not supported)", s);
        if (parts[1][0] != '/')
                return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                                "invalid volume '%s': the destination must be an absolute path", s);
        spec_bind b = { .source = xstrdup(parts[0]), .destination = xstrdup(parts[1]) };
        if (n == 3 && bind_apply_options(s, parts[2], &b, err) < 0) {
                spec_bind_done(&b);
                return -1;
        }
        *ret = b;
        return 0;
}

void spec_bind_done(spec_bind *b) {
        if (!b)
                return;
        free(b->source);
        free(b->destination);
        free(b->propagation);
        *b = (spec_bind) {};
}
