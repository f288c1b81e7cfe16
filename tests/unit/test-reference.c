/* Image references: docker's grammar, normalization and familiar names (cases after docker's reference tests). */
#include <string.h>

#include "images/reference.h"
#include "tap.h"

#define D64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

typedef struct valid_case {
        const char *in, *domain, *path, *tag, *digest;
} valid_case;

static const valid_case valid[] = {
        { "test_com", "", "test_com", NULL, NULL },
        { "test.com:tag", "", "test.com", "tag", NULL },
        { "test.com:5000", "", "test.com", "5000", NULL },
        { "test.com/repo:tag", "test.com", "repo", "tag", NULL },
        { "test:5000/repo", "test:5000", "repo", NULL, NULL },
        { "test:5000/repo:tag", "test:5000", "repo", "tag", NULL },
        { "test:5000/repo@sha256:" D64, "test:5000", "repo", NULL, "sha256:" D64 },
        { "test:5000/repo:tag@sha256:" D64, "test:5000", "repo", "tag", "sha256:" D64 },
        { "lowercase:Uppercase", "", "lowercase", "Uppercase", NULL },
        { "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", NULL, NULL },
        { "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", NULL },
        { "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
          "test.example.com", NULL },
        { "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", NULL },
        { "foo_bar.com:8080", "", "foo_bar.com", "8080", NULL },
        { "foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080", NULL },
        { "a__b/c--d/e.f_g", "", "a__b/c--d/e.f_g", NULL, NULL }, /* "_" cannot be in a domain */
        { "Docker.IO/library/busybox", "Docker.IO", "library/busybox", NULL, NULL },
        { "localhost/app", "localhost", "app", NULL, NULL },
        { "127.0.0.1:5000/berth/busybox:latest", "127.0.0.1:5000", "berth/busybox", "latest", NULL },
        { "repo@sha512:" D64 D64, "", "repo", NULL, "sha512:" D64 D64 },
};

TEST(parse_valid) {
        for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
                const valid_case *c = &valid[i];
                image_ref *r = NULL;
                berr *e = NULL;
                if (image_ref_parse(c->in, &r, &e) < 0)
                        TAP_FAIL("%s: %s", c->in, e->msg);
                ASSERT_STREQ(r->domain, c->domain);
                ASSERT_STREQ(r->path, c->path);
                ASSERT_TRUE(c->tag ? r->tag && strcmp(r->tag, c->tag) == 0 : !r->tag);
                ASSERT_TRUE(c->digest ? r->digest && strcmp(r->digest, c->digest) == 0 : !r->digest);
                char *s = image_ref_to_string(r);
                ASSERT_STREQ(s, c->in); /* parse ∘ format is the identity for raw references */
                free(s);
                image_ref_free(r);
        }
}

typedef struct invalid_case {
        const char *in, *why;
} invalid_case;

static const invalid_case invalid[] = {
        { "", "repository name must have at least one component" },
        { ":justtag", "invalid reference format" },
        { "@sha256:" D64, "invalid reference format" },
        { "repo@sha256:ffff", "invalid reference format" },
        { "validname@invaliddigest:" D64, "unsupported digest algorithm" },
        { "repo@sha256:" D64 "ff", "invalid checksum digest length" },
        { "repo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "invalid checksum digest format" },
        { "Uppercase:tag", "repository name must be lowercase" },
        { "test:5000/Uppercase/lowercase:tag", "repository name must be lowercase" },
        { "aa/asdf$$^/aa", "invalid reference format" },
        { "[2001:db8::1]:5000/repo", "invalid reference format" },
        { "foo..bar", "invalid reference format" },
        { "foo___bar", "invalid reference format" },
        { "-foo", "invalid reference format" },
        { "foo-", "invalid reference format" },
        { "foo/", "invalid reference format" },
        { "foo//bar", "invalid reference format" },
        { "docker.io/library/busybox:", "invalid reference format" },
        { "repo:-tag", "invalid reference format" },
        { "a:b:c", "invalid reference format" },
        { "host:/repo", "invalid reference format" },
        { "-host.com/repo", "invalid reference format" },
};

TEST(parse_invalid) {
        for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
                image_ref *r = NULL;
                berr *e = NULL;
                if (image_ref_parse(invalid[i].in, &r, &e) == 0)
                        TAP_FAIL("\"%s\" parsed", invalid[i].in);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                if (!strstr(e->msg, invalid[i].why))
                        TAP_FAIL("\"%s\": %s (want \"%s\")", invalid[i].in, e->msg, invalid[i].why);
                berr_free(e);
        }
}

TEST(parse_length_limits) {
        /* 255 characters of name is the limit. */
        char name[300];
        memset(name, 'a', sizeof name);
        for (int i = 1; i < 256; i += 2)
                name[i] = '/';
        name[255] = '\0';
        image_ref *r = NULL;
        berr *e = NULL;
        ASSERT_OK(image_ref_parse(name, &r, &e));
        image_ref_free(r);
        name[255] = '/';
        name[256] = 'a';
        name[257] = '\0';
        ASSERT_TRUE(image_ref_parse(name, &r, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "must not be more than 255 characters") != NULL);
        berr_free(e);
        e = NULL;

        char tag[200] = "repo:";
        memset(tag + 5, 't', 128);
        tag[5 + 128] = '\0';
        ASSERT_OK(image_ref_parse(tag, &r, &e));
        image_ref_free(r);
        strcat(tag, "t");
        ASSERT_TRUE(image_ref_parse(tag, &r, &e) < 0);
        berr_free(e);
}

typedef struct norm_case {
        const char *in, *full, *familiar;
} norm_case;

static const norm_case norm[] = {
        { "busybox", "docker.io/library/busybox:latest", "busybox:latest" },
        { "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36" },
        { "library/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
        { "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
        { "index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
        { "docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest" },
        { "user/app", "docker.io/user/app:latest", "user/app:latest" },
        { "docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest" },
        { "localhost/app", "localhost/app:latest", "localhost/app:latest" },
        { "localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1" },
        { "registry:5000/x", "registry:5000/x:latest", "registry:5000/x:latest" },
        { "127.0.0.1:5000/berth/busybox", "127.0.0.1:5000/berth/busybox:latest",
          "127.0.0.1:5000/berth/busybox:latest" },
        { "example.com/a/b/c@sha256:" D64, "example.com/a/b/c@sha256:" D64, "example.com/a/b/c@sha256:" D64 },
        { "busybox@sha256:" D64, "docker.io/library/busybox@sha256:" D64, "busybox@sha256:" D64 },
        { "foo/bar:tag@sha256:" D64, "docker.io/foo/bar:tag@sha256:" D64, "foo/bar:tag@sha256:" D64 },
        { "Docker.IO/busybox", "Docker.IO/busybox:latest", "Docker.IO/busybox:latest" },
};

TEST(normalize) {
        for (size_t i = 0; i < ELEMENTSOF(norm); i++) {
                image_ref *r = NULL;
                berr *e = NULL;
                if (image_ref_parse_normalized(norm[i].in, &r, &e) < 0)
                        TAP_FAIL("%s: %s", norm[i].in, e->msg);
                char *full = image_ref_to_string(r), *fam = image_ref_familiar(r);
                ASSERT_STREQ(full, norm[i].full);
                ASSERT_STREQ(fam, norm[i].familiar);
                free(full);
                free(fam);
                image_ref_free(r);
        }
}

TEST(normalize_parts) {
        image_ref *r = NULL;
        berr *e = NULL;
        ASSERT_OK(image_ref_parse_normalized("127.0.0.1:5000/berth/busybox", &r, &e));
        ASSERT_STREQ(r->domain, "127.0.0.1:5000");
        ASSERT_STREQ(r->path, "berth/busybox");
        ASSERT_STREQ(image_ref_object(r), "latest");
        char *name = image_ref_name(r);
        ASSERT_STREQ(name, "127.0.0.1:5000/berth/busybox");
        free(name);
        image_ref *c = image_ref_copy(r);
        ASSERT_STREQ(c->tag, "latest");
        image_ref_free(c);
        image_ref_free(r);

        ASSERT_OK(image_ref_parse_normalized("a/b:t@sha256:" D64, &r, &e));
        ASSERT_STREQ(image_ref_object(r), "sha256:" D64); /* the digest wins over the tag */
        image_ref_free(r);
}

TEST(normalize_invalid) {
        static const invalid_case cases[] = {
                { "Busybox", "repository name must be lowercase" },
                { "docker.io/User/app", "repository name must be lowercase" },
                { D64, "cannot specify 64-byte hexadecimal strings" },
                { "", "invalid reference format" },
                { "busybox:", "invalid reference format" },
                { "a b", "invalid reference format" },
                { "a_b.com/x", "invalid reference format" }, /* looks like a host, is not one */
                { "localhost:5000/app@sha256:abc", "invalid reference format" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                image_ref *r = NULL;
                berr *e = NULL;
                if (image_ref_parse_normalized(cases[i].in, &r, &e) == 0)
                        TAP_FAIL("\"%s\" parsed", cases[i].in);
                ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
                if (!strstr(e->msg, cases[i].why))
                        TAP_FAIL("\"%s\": %s (want \"%s\")", cases[i].in, e->msg, cases[i].why);
                /* Errors quote what the caller wrote, not the expanded name. */
                if (*cases[i].in && !strstr(e->msg, cases[i].in))
                        TAP_FAIL("\"%s\": message does not quote the input: %s", cases[i].in, e->msg);
                berr_free(e);
        }
}

TEST(digest_validate) {
        ASSERT_TRUE(image_digest_is_valid("sha256:" D64));
        ASSERT_TRUE(image_digest_is_valid("sha384:" D64 "ffffffffffffffffffffffffffffffff"));
        ASSERT_FALSE(image_digest_is_valid("sha256:" D64 "f"));
        ASSERT_FALSE(image_digest_is_valid("sha256"));
        ASSERT_FALSE(image_digest_is_valid("sha256:"));
        ASSERT_FALSE(image_digest_is_valid(":" D64));
        ASSERT_FALSE(image_digest_is_valid(NULL));
        berr *e = NULL;
        ASSERT_TRUE(image_digest_validate("md5:d41d8cd98f00b204e9800998ecf8427e", &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "unsupported digest algorithm") != NULL);
        berr_free(e);
        e = NULL;
        ASSERT_TRUE(image_digest_validate("sha256:zz" D64, &e) < 0);
        ASSERT_TRUE(strstr(e->msg, "invalid checksum digest") != NULL);
        berr_free(e);
}
