/* Restart policies and back-off (the restart monitor's decisions; no state). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/macro.h"
#include "runtime/monitor.h"

int restart_policy_parse(const char *s, restart_policy *ret, berr **err) {
        *ret = (restart_policy) { .kind = RESTART_NO };
        if (!s || !*s || strcmp(s, "no") == 0)
                return 0;
        if (strcmp(s, "always") == 0) {
                ret->kind = RESTART_ALWAYS;
                return 0;
        }
        if (strcmp(s, "unless-stopped") == 0) {
                ret->kind = RESTART_UNLESS_STOPPED;
                return 0;
        }
        if (strcmp(s, "on-failure") == 0) {
                ret->kind = RESTART_ON_FAILURE;
                return 0;
        }
        if (strncmp(s, "on-failure:", 11) == 0 && s[11] >= '0' && s[11] <= '9') {
                char *end = NULL;
                errno = 0;
                unsigned long n = strtoul(s + 11, &end, 10);
                if (errno == 0 && *end == '\0' && n <= 1000000) {
                        ret->kind = RESTART_ON_FAILURE;
                        ret->max_retries = (unsigned) n;
                        return 0;
                }
        }
        return berr_set(err, BERR_INVALID_ARGUMENT, 0,
                        "invalid restart policy \"%s\" (no, always, on-failure[:N], unless-stopped)", s);
}

char *restart_policy_format(const restart_policy *p) {
        switch (p->kind) {
        case RESTART_ALWAYS:
                return xstrdup("always");
        case RESTART_UNLESS_STOPPED:
                return xstrdup("unless-stopped");
        case RESTART_ON_FAILURE:
                return p->max_retries ? xasprintf("on-failure:%u", p->max_retries) : xstrdup("on-failure");
        case RESTART_NO:
        default:
                return xstrdup("no");
        }
}

bool restart_policy_wants_restart(const restart_policy *p, bool explicitly_stopped, uint32_t exit_status,
                                  unsigned restarts_done) {
        if (explicitly_stopped)
                return false;
        switch (p->kind) {
        case RESTART_ALWAYS:
        case RESTART_UNLESS_STOPPED:
                return true;
        case RESTART_ON_FAILURE:
                return exit_status != 0 && (p->max_retries == 0 || restarts_done < p->max_retries);
        case RESTART_NO:
        default:
                return false;
        }
}

uint64_t restart_backoff_next(uint64_t previous_usec, uint64_t ran_usec) {
        if (previous_usec == 0 || ran_usec >= RESTART_BACKOFF_RESET_USEC)
                return RESTART_BACKOFF_MIN_USEC;
        uint64_t next = previous_usec * 2;
        return next > RESTART_BACKOFF_MAX_USEC ? RESTART_BACKOFF_MAX_USEC : next;
}
