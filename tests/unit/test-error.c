#include "basic/error.h"
#include "tap.h"

TEST(codes_are_grpc_numbers) {
        ASSERT_EQ(BERR_NOT_FOUND, 5);
        ASSERT_EQ(BERR_ALREADY_EXISTS, 6);
        ASSERT_EQ(BERR_FAILED_PRECONDITION, 9);
        ASSERT_EQ(BERR_UNIMPLEMENTED, 12);
        ASSERT_EQ(BERR_UNAVAILABLE, 14);
        ASSERT_STREQ(berr_code_name(BERR_NOT_FOUND), "NOT_FOUND");
        ASSERT_STREQ(berr_code_name(99), "UNKNOWN");
        ASSERT_STREQ(berr_code_class(BERR_ALREADY_EXISTS), "already exists");
}

TEST(set_and_wrap) {
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berr_set(&e, BERR_NOT_FOUND, 0, "process does not exist %s", "e1"), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        berr_wrap(&e, "kill");
        ASSERT_STREQ(e->msg, "kill: process does not exist e1");
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        /* Setting again replaces (and frees) the old error. */
        berr_set(&e, BERR_INTERNAL, 0, "x");
        ASSERT_STREQ(e->msg, "x");
}

TEST(errno_mapping) {
        _cleanup_berr_ berr *e = NULL;
        berr_errno(&e, ENOENT, "open %s", "/nope");
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_EQ(e->errnum, ENOENT);
        ASSERT_STREQ(e->msg, "open /nope: No such file or directory");
        ASSERT_EQ(berr_code_from_errno(EEXIST), BERR_ALREADY_EXISTS);
        ASSERT_EQ(berr_code_from_errno(EINVAL), BERR_INVALID_ARGUMENT);
        ASSERT_EQ(berr_code_from_errno(EIO), BERR_UNKNOWN);
}

TEST(null_err_is_allowed) {
        ASSERT_EQ(berr_set(NULL, BERR_INTERNAL, 0, "ignored"), -1);
}
