/* containerd's filter grammar: the cases of containerd's own filters test (same corpus, same expected
 * matches and error texts) plus OR across filter strings, escapes, regex dialect and absent fields. */
#include <string.h>

#include "metadata/filters.h"
#include "metadata/labels.h"
#include "tap.h"

typedef struct entry {
        const char *name, *other;
        const char *labels[2][2];
} entry;

static const entry corpus[] = {
        { "foo", NULL, { { "foo", "true" } } },
        { "bar", NULL, { { 0 } } },
        { "foo", NULL, { { "foo", "present" }, { "more complex label", "present" } } },
        { "bar", NULL, { { "bar", "true" } } },
        { "fooer", NULL, { { "more complex label with \\ and \"", "present" } } },
        { "fooer", NULL, { { "more complex label with \\ and \".post", "present" } } },
        { "baz", "too complex, yo", { { 0 } } },
        { "bazo", "abc", { { 0 } } },
        { "compound", NULL, { { "foo", "omg_asdf.asdf-qwer" } } },
};

static char joined[512];

static const char *lookup(const char *const *path, size_t n, void *obj) {
        const entry *e = obj;
        if (strcmp(path[0], "name") == 0)
                return e->name && *e->name ? e->name : NULL;
        if (strcmp(path[0], "other") == 0)
                return e->other && *e->other ? e->other : NULL;
        if (strcmp(path[0], "labels") == 0) {
                joined[0] = '\0';
                for (size_t i = 1; i < n; i++) {
                        if (i > 1)
                                strcat(joined, ".");
                        strcat(joined, path[i]);
                }
                for (size_t i = 0; i < 2; i++)
                        if (e->labels[i][0] && strcmp(e->labels[i][0], joined) == 0)
                                return e->labels[i][1];
        }
        return NULL;
}

/* Bitmask of the corpus entries that match. */
static unsigned match_mask(const char *const *filters, size_t n) {
        meta_filter *f = NULL;
        berr *e = NULL;
        if (meta_filter_parse(filters, n, &f, &e) < 0) {
                printf("# unexpected parse error: %s\n", e->msg);
                berr_free(e);
                return 0xdead0000;
        }
        unsigned m = 0;
        for (size_t i = 0; i < ELEMENTSOF(corpus); i++)
                if (meta_filter_match(f, lookup, (void *) &corpus[i]))
                        m |= 1u << i;
        meta_filter_free(f);
        return m;
}

static unsigned mask1(const char *s) {
        return match_mask(&s, 1);
}

#define ALL ((1u << ELEMENTSOF(corpus)) - 1)
#define B(i) (1u << (i))

TEST(containerd_match_cases) {
        ASSERT_EQ(mask1(""), ALL);
        ASSERT_EQ(match_mask(NULL, 0), ALL);
        ASSERT_EQ(mask1("name"), ALL);
        ASSERT_EQ(mask1("labels.foo"), B(0) | B(2) | B(8));
        ASSERT_EQ(mask1("labels.foo,name"), B(0) | B(2) | B(8));
        ASSERT_EQ(mask1("labels.foo==true"), B(0));
        ASSERT_EQ(mask1("labels.foo==omg_asdf.asdf-qwer"), B(8));
        ASSERT_EQ(mask1("name==bar"), B(1) | B(3));
        ASSERT_EQ(mask1("name!=bar"), B(0) | B(2) | B(4) | B(5) | B(6) | B(7) | B(8));
        ASSERT_EQ(mask1("name==bar,labels.bar"), B(3));
        ASSERT_EQ(mask1("other==\"too complex, yo\""), B(6));
        ASSERT_EQ(mask1("other~=[abc]+,name!=foo"), B(6) | B(7));
        ASSERT_EQ(mask1("other~=/[abc]+/,name!=foo"), B(6) | B(7));
        ASSERT_EQ(mask1("other~=/[abc]{1,2}/,name!=foo"), B(6) | B(7));
        ASSERT_EQ(mask1("other~=/[abc]{0,1}\"\\//,name!=foo"), 0);
        ASSERT_EQ(mask1("name==bar,labels.bar==true"), B(3));
        ASSERT_EQ(mask1("name==bar,labels.bar==wrong"), 0);
        ASSERT_EQ(mask1("name==foo,labels.\"more complex label\""), B(2));
        ASSERT_EQ(mask1("labels.\"more complex label with \\\\ and \\\"\"==present"), B(4));
        ASSERT_EQ(mask1("labels.\"more complex label with \\\\ and \\\"\".post==present"), B(5));
}

static void expect_error(const char *input, const char *msg) {
        meta_filter *f = NULL;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(meta_filter_parse(&input, 1, &f, &e), -1);
        ASSERT_NULL(f);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        _cleanup_free_ char *want = xasprintf("%s: invalid argument", msg);
        ASSERT_STREQ(e->msg, want);
}

TEST(containerd_error_cases) {
        expect_error("labels.|foo|==omg_asdf.asdf-qwer",
                     "filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered");
        expect_error("labels.?\"more complex label with \\\\ and \\\"\".post==present",
                     "filters: parse error: [labels. >|?|< \"more complex label with \\\\ and \\\"\".post==present]: "
                     "expected field or quoted");
        expect_error("name==foo,", "filters: parse error: [name==foo,]: expected field or quoted");
        expect_error("labels.", "filters: parse error: [labels.]: expected field or quoted");
        expect_error("image~=,id?=?fbaq", "filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted");
        expect_error("labels.ns/key==value",
                     "filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated");
        expect_error("labels.key==/value",
                     "filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated");
}

TEST(more_syntax_errors) {
        expect_error("name==", "filters: parse error: [name==]: expected value or quoted");
        expect_error("name=!=x", "filters: parse error: [name >|=|< !=x]: unsupported operator \"=!=\"");
        expect_error("name==a b", "filters: parse error: [name==a >| |< b]: unexpected input:  ");
        /* as in containerd, whitespace after the last token is not skipped */
        expect_error("name==bar ", "filters: parse error: [name==bar >| |< ]: unexpected input:  ");
        expect_error(",name", "filters: parse error: [ >|,|< name]: expected field or quoted");
        expect_error("name==\"a\\qb\"", "filters: parse error: [name== >|\"|< a\\qb\"]: illegal escape sequence");
        expect_error("name==/x/", "filters: parse error: [name== >|/|< x/]: invalid quote encountered");
        expect_error("na\xffme", "filters: parse error: [na >|\xff|< me]: rune error");
        /* the second filter string is the broken one: the whole parse fails */
        const char *two[] = { "name==foo", "name==" };
        meta_filter *f = NULL;
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(meta_filter_parse(two, 2, &f, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
}

TEST(or_of_filter_strings) {
        const char *a[] = { "name==bar", "labels.foo==true" };
        ASSERT_EQ(match_mask(a, 2), B(0) | B(1) | B(3));
        const char *b[] = { "name==nothing", "other" };
        ASSERT_EQ(match_mask(b, 2), B(6) | B(7));
        const char *c[] = { "name==nothing", "" };
        ASSERT_EQ(match_mask(c, 2), ALL); /* an empty string is "always" */
        const char *d[] = { "name==compound,labels.foo~=^omg", "name~=^baz$" };
        ASSERT_EQ(match_mask(d, 2), B(6) | B(8));
}

TEST(absent_fields) {
        ASSERT_EQ(mask1("other"), B(6) | B(7));
        ASSERT_EQ(mask1("other==abc"), B(7));
        /* != matches absent fields (they compare as "") unless the value is empty */
        ASSERT_EQ(mask1("other!=abc"), ALL & ~B(7));
        ASSERT_EQ(mask1("other!=\"\""), B(6) | B(7));
        /* ~= runs against "" for absent fields */
        ASSERT_EQ(mask1("other~=^$"), ALL & ~(B(6) | B(7)));
        ASSERT_EQ(mask1("nosuchfield"), 0);
        ASSERT_EQ(mask1("labels"), 0);
}

TEST(quoting_and_escapes) {
        ASSERT_EQ(mask1("name==\"\\x66oo\""), B(0) | B(2));         /* \x66 = f */
        ASSERT_EQ(mask1("name==\"\\u0066oo\""), B(0) | B(2));
        ASSERT_EQ(mask1("name==\"\\146oo\""), B(0) | B(2));          /* octal */
        ASSERT_EQ(mask1("name==\"\\U00000066oo\""), B(0) | B(2));
        expect_error("name==\"\\UFFFFFFFF\"",
                     "filters: parse error: [name== >|\"|< \\UFFFFFFFF\"]: unquoting failed: quote syntax error");
        ASSERT_EQ(mask1("  name  ==  bar"), B(1) | B(3));             /* spaces before tokens */
        ASSERT_EQ(mask1("other~=|too complex, yo|"), B(6));           /* |...| quotes a regex */
        ASSERT_EQ(mask1("other~=/^a.c$/"), B(7));
        ASSERT_EQ(mask1("\"name\"==fooer"), B(4) | B(5));             /* quoted field */

        meta_filter *f = NULL;
        berr *e = NULL;
        const char *s = "labels.\"a.b\"==\"x,y\",name~=/a\\/b/";
        ASSERT_OK(meta_filter_parse(&s, 1, &f, &e));
        ASSERT_EQ(f->n, 1);
        ASSERT_EQ(f->any[0].n, 2);
        ASSERT_EQ(f->any[0].sel[0].n_path, 2);
        ASSERT_STREQ(f->any[0].sel[0].path[1], "a.b");
        ASSERT_STREQ(f->any[0].sel[0].value, "x,y");
        ASSERT_EQ(f->any[0].sel[1].op, META_FILTER_MATCHES);
        ASSERT_STREQ(f->any[0].sel[1].value, "a/b");
        meta_filter_free(f);
}

TEST(regex_dialect) {
        static const entry digits = { "layer-42", NULL, { { 0 } } };
        const char *cases[][2] = {
                { "name~=\\d+$", "1" }, { "name~=^\\w+-\\d\\d$", "1" }, { "name~=(?:layer|blob)-", "1" },
                { "name~=[\\d]{3}", "0" }, { "name~=^\\D+$", "0" }, { "name~=\\s", "0" },
                { "name~=[[:digit:]]+", "1" }, { "name~=/(/", "0" }, /* does not compile: matches nothing */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                meta_filter *f = NULL;
                berr *e = NULL;
                ASSERT_OK(meta_filter_parse(&cases[i][0], 1, &f, &e));
                bool m = meta_filter_match(f, lookup, (void *) &digits);
                if (m != (cases[i][1][0] == '1'))
                        TAP_FAIL("%s: got %d", cases[i][0], m);
                meta_filter_free(f);
        }
}

/* Expressions that would make glibc's regcomp/regexec blow up are refused (they match nothing), as Go's
 * RE2 refuses them; lazy quantifiers are accepted. */
TEST(regex_resource_limits) {
        static const entry e1 = { "aaaa", NULL, { { 0 } } };
        const char *cases[][2] = {
                { "name~=a++++++++++++++++++++++++++++++++++++++++", "0" },
                { "name~=a**", "0" },
                { "name~=(a+)+$", "1" }, /* fine for RE2 too */
                { "name~=((((a{1000}){1000}){1000}){1000})", "0" },
                { "name~=a{1001}", "0" },
                { "name~=/a{2,4}/", "1" },
                { "name~=/a{2,4}?/", "1" },
                { "name~=a+?", "1" },
                { "name~=a???", "0" },
                { "name~=)))?" "?" "?" "?" "?" "?" "?" "?" "?" "?" "?" "?" "?" ")", "0" },
                { "name~=(a)\\1", "0" }, /* back-references do not exist in RE2 */
                { "name~=^[+*?]*a", "1" }, /* operators inside brackets are literals */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                meta_filter *f = NULL;
                berr *e = NULL;
                ASSERT_OK(meta_filter_parse(&cases[i][0], 1, &f, &e));
                bool m = meta_filter_match(f, lookup, (void *) &e1);
                if (m != (cases[i][1][0] == '1'))
                        TAP_FAIL("%s: got %d", cases[i][0], m);
                meta_filter_free(f);
        }
}

TEST(unicode_values) {
        static const entry u = { "caf\xc3\xa9", NULL, { { 0 } } };
        const char *s = "name==caf\xc3\xa9";
        meta_filter *f = NULL;
        berr *e = NULL;
        ASSERT_OK(meta_filter_parse(&s, 1, &f, &e));
        ASSERT_TRUE(meta_filter_match(f, lookup, (void *) &u));
        meta_filter_free(f);
}

TEST(labels_lookup_joins_path) {
        meta_labels l = { 0 };
        meta_labels_set(&l, "containerd.io/gc.ref.content.l.0", "sha256:x");
        meta_labels_set(&l, "a", "1");
        const char *p1[] = { "containerd", "io/gc", "ref", "content", "l", "0" };
        ASSERT_STREQ(meta_labels_lookup(&l, p1, ELEMENTSOF(p1)), "sha256:x");
        const char *p2[] = { "containerd", "io/gc" };
        ASSERT_NULL(meta_labels_lookup(&l, p2, 2));
        const char *p3[] = { "a" };
        ASSERT_STREQ(meta_labels_lookup(&l, p3, 1), "1");
        /* set with empty removes; the map stays sorted */
        meta_labels_set(&l, "a", "");
        ASSERT_EQ(l.n, 1);
        meta_labels_set(&l, "b", "2");
        meta_labels_set(&l, "0", "3");
        ASSERT_STREQ(l.v[0].key, "0");
        ASSERT_STREQ(l.v[2].key, "containerd.io/gc.ref.content.l.0");
        meta_labels_done(&l);
}
