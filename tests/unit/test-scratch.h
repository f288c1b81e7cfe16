/* One scratch directory per test binary (/tmp/berth-test-<name>.XXXXXX), made on first use and removed at exit
 * even when a test failed half-way. Whether it exists is a flag of its own: mkdtemp's random suffix may itself
 * end in 'X'. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "tap.h"

static char test_scratch_path[64];
static bool test_scratch_made;

static void test_scratch_remove(void) {
        if (test_scratch_made)
                (void) rm_rf(test_scratch_path, NULL);
}

static inline const char *test_scratch_dir(const char *name) {
        if (!test_scratch_made) {
                snprintf(test_scratch_path, sizeof test_scratch_path, "/tmp/berth-test-%s.XXXXXX", name);
                if (!mkdtemp(test_scratch_path))
                        TAP_FAIL("mkdtemp: %s", strerror(errno));
                test_scratch_made = true;
                atexit(test_scratch_remove);
        }
        return test_scratch_path;
}
