/* Shared by the metadata test binaries: a temporary directory for their SQLite files, removed at exit
 * (also when a test failed: the TAP harness longjmps out of it, so per-test cleanup would be skipped). */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "basic/fileio.h"
#include "metadata/db.h"
#include "tap.h"

static char test_dir[] = "/tmp/berth-test-metadata.XXXXXX";

__attribute__((constructor)) static void test_dir_create(void) {
        if (!mkdtemp(test_dir)) {
                perror("mkdtemp");
                exit(1);
        }
}

__attribute__((destructor)) static void test_dir_remove(void) {
        berr *e = NULL;
        if (rm_rf(test_dir, &e) < 0)
                berr_free(e);
}

static inline char *test_db_path(const char *name) {
        return xasprintf("%s/%s.db", test_dir, name);
}

static inline meta_db *test_db_open(const char *name) {
        _cleanup_free_ char *path = test_db_path(name);
        meta_db *db = NULL;
        berr *e = NULL;
        if (meta_db_open(path, &db, &e) < 0) {
                printf("# meta_db_open %s: %s\n", path, e->msg);
                berr_free(e);
                return NULL;
        }
        return db;
}

/* Asserts that expr failed with the given code and exact message. */
#define ASSERT_BERR(expr, e, want_code, want_msg)                                                       \
        do {                                                                                             \
                berr_free(e);                                                                            \
                (e) = NULL;                                                                              \
                ASSERT_EQ((expr), -1);                                                                   \
                ASSERT_NOT_NULL(e);                                                                      \
                if ((e)->code != (want_code))                                                            \
                        TAP_FAIL("code %s, want %s (%s)", berr_code_name((e)->code),                     \
                                 berr_code_name(want_code), (e)->msg);                                   \
                ASSERT_STREQ((e)->msg, (want_msg));                                                      \
                berr_free(e);                                                                            \
                (e) = NULL;                                                                              \
        } while (0)

#define ASSERT_META_OK(expr, e)                                                                          \
        do {                                                                                             \
                if ((expr) < 0)                                                                          \
                        TAP_FAIL("%s: %s", #expr, (e) ? (e)->msg : "(no error)");                        \
        } while (0)

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"
#define D5 "sha256:5555555555555555555555555555555555555555555555555555555555555555"
#define D6 "sha256:6666666666666666666666666666666666666666666666666666666666666666"
