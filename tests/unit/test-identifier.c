#include "basic/identifier.h"
#include "tap.h"

TEST(valid_identifiers) {
        static const char *const good[] = {
                "a", "A", "0", "default", "k8s.io", "my-container_1", "a.b-c_d", "abc123", "1.2.3", "moby",
                /* exactly 76 characters */
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwx",
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                berr *e = NULL;
                if (!identifier_is_valid(good[i]))
                        TAP_FAIL("rejected \"%s\"", good[i]);
                ASSERT_EQ(identifier_validate(good[i], &e), 0);
                ASSERT_NULL(e);
        }
}

TEST(invalid_identifiers) {
        static const char *const bad[] = {
                "", ".", "-a", "a-", "_a", "a_", "a..b", "a.-b", "a b", "a/b", "../x", "a\nb", "ä", "a:b",
                "x@y", ".hidden", "tail.",
                /* 77 characters */
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxy",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_berr_ berr *e = NULL;
                if (identifier_is_valid(bad[i]))
                        TAP_FAIL("accepted \"%s\"", bad[i]);
                ASSERT_EQ(identifier_validate(bad[i], &e), -1);
                ASSERT_NOT_NULL(e);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        }
        ASSERT_FALSE(identifier_is_valid(NULL));
}

TEST(messages_match_containerd) {
        _cleanup_berr_ berr *e = NULL;
        identifier_validate("", &e);
        ASSERT_STREQ(e->msg, "identifier must not be empty");
        identifier_validate("x..y", &e);
        ASSERT_STREQ(e->msg, "identifier \"x..y\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$");
        char longid[80];
        memset(longid, 'a', 77);
        longid[77] = '\0';
        identifier_validate(longid, &e);
        ASSERT_TRUE(strstr(e->msg, "greater than maximum length (76 characters)") != NULL);
        /* Hostile input stays on one line and keeps its quotes balanced. */
        identifier_validate("a\"b\nc", &e);
        ASSERT_STREQ(e->msg, "identifier \"a\\\"b\\nc\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$");
}

TEST(null_err_is_allowed) {
        ASSERT_EQ(identifier_validate("bad..id", NULL), -1);
        ASSERT_EQ(identifier_validate("good", NULL), 0);
}
