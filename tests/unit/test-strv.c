#include "basic/strv.h"
#include "tap.h"

TEST(split_and_join) {
        _cleanup_strv_free_ char **l = strv_split("a::b", ':');
        ASSERT_EQ(strv_length(l), 3);
        ASSERT_STREQ(l[0], "a");
        ASSERT_STREQ(l[1], "");
        ASSERT_STREQ(l[2], "b");
        _cleanup_free_ char *j = strv_join(l, ",");
        ASSERT_STREQ(j, "a,,b");
        _cleanup_strv_free_ char **e = strv_split("", ',');
        ASSERT_EQ(strv_length(e), 1);
        ASSERT_STREQ(e[0], "");
}

TEST(extend_copy_contains) {
        _cleanup_strv_free_ char **l = NULL;
        ASSERT_EQ(strv_length(l), 0);
        _cleanup_free_ char *empty = strv_join(l, ":");
        ASSERT_STREQ(empty, "");
        strv_extend(&l, "x");
        strv_push(&l, xstrdup("y"));
        ASSERT_EQ(strv_length(l), 2);
        ASSERT_TRUE(strv_contains(l, "y"));
        ASSERT_FALSE(strv_contains(l, "z"));
        _cleanup_strv_free_ char **c = strv_copy_n(l, 1);
        ASSERT_EQ(strv_length(c), 1);
        ASSERT_STREQ(c[0], "x");
        ASSERT_TRUE(c[0] != l[0]);
        ASSERT_NULL(strv_free(NULL));
}
