/* basic/json-scan: one member of an object found without parsing the rest, checked against jansson. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "basic/json-scan.h"
#include "basic/macro.h"
#include "tap.h"

static ssize_t scan(const char *text, const char *key) {
        return json_scan_member(text, strlen(text), key);
}

/* The member's value as jansson parses it from the offset, compared with the whole text parsed by jansson. */
static bool same_as_jansson(const char *text, const char *key) {
        ssize_t off = scan(text, key);
        json_t *whole = json_loads(text, 0, NULL);
        json_t *want = json_object_get(whole, key);
        json_t *got = off < 0 ? NULL
                              : json_loadb(text + off, strlen(text) - (size_t) off,
                                           JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, NULL);
        bool same = (!want && !got) || (want && got && json_equal(want, got));
        json_decref(got);
        json_decref(whole);
        return same;
}

TEST(finds_own_members_and_skips_the_others) {
        const char *t = "{\"a\":1,\"s\":\"x}]\\\"{,\",\"n\":{\"process\":0,\"l\":[1,{\"b\":[]}]},"
                        "\"process\":{\"args\":[\"sh\"]},\"z\":true}";
        ASSERT_TRUE(scan(t, "process") > 0);
        ASSERT_TRUE(same_as_jansson(t, "process"));
        ASSERT_TRUE(same_as_jansson(t, "a"));
        ASSERT_TRUE(same_as_jansson(t, "s"));
        ASSERT_TRUE(same_as_jansson(t, "n"));
        ASSERT_TRUE(same_as_jansson(t, "z"));
        ASSERT_EQ(scan(t, "b"), -1); /* nested members do not count */
        ASSERT_EQ(scan(t, "l"), -1);
        ASSERT_EQ(scan(t, "missing"), -1);
        ASSERT_TRUE(same_as_jansson(" \n{ \"k\" :\t[ 1 , 2 ] , \"j\" : null }\n", "k"));
        ASSERT_TRUE(same_as_jansson("{\"k\":-1.5e3,\"j\":\"\"}", "j"));
}

TEST(the_last_of_repeated_keys_counts_as_for_a_parser) {
        const char *t = "{\"k\":1,\"x\":0,\"k\":{\"v\":2}}";
        ASSERT_TRUE(same_as_jansson(t, "k"));
        ASSERT_EQ(scan(t, "k"), (ssize_t) strlen("{\"k\":1,\"x\":0,\"k\":"));
}

TEST(malformed_or_cut_text_is_not_found) {
        ASSERT_EQ(scan("", "k"), -1);
        ASSERT_EQ(scan("[1]", "k"), -1);
        ASSERT_EQ(scan("{}", "k"), -1);
        ASSERT_EQ(scan("{\"k\":1", "k"), -1);      /* the object does not end */
        ASSERT_EQ(scan("{\"k\":", "k"), -1);
        ASSERT_EQ(scan("{\"k\" 1}", "k"), -1);     /* no colon */
        ASSERT_EQ(scan("{\"a\":1 \"k\":2}", "k"), -1); /* no comma */
        ASSERT_EQ(scan("{\"a\":\"unterminated", "k"), -1);
        ASSERT_EQ(scan("{k:1}", "k"), -1);
        /* escapes in a key are not decoded: such a key is not found (callers then parse the whole text) */
        ASSERT_EQ(scan("{\"\\u006b\":1}", "k"), -1);
        /* len bounds the scan: the member past it is not seen */
        const char *t = "{\"a\":1,\"k\":2}";
        ASSERT_EQ(json_scan_member(t, 7, "k"), -1);
}

TEST(deep_nesting_is_given_up_on_without_harm) {
        size_t n = 5000;
        char *t = xmalloc(2 * n + 32);
        size_t k = 0;
        k += (size_t) sprintf(t, "{\"a\":");
        for (size_t i = 0; i < n; i++)
                t[k++] = '[';
        for (size_t i = 0; i < n; i++)
                t[k++] = ']';
        k += (size_t) sprintf(t + k, ",\"k\":1}");
        ASSERT_EQ(json_scan_member(t, k, "k"), -1);
        free(t);
}
