/* berthd's config: defaults, the TOML file, flag precedence (main.c applies flags after the file), errors. The
 * daemon's own sources are not in a library, so the module under test is compiled in here. */
#include "berthd/config.c"
#include "tap.h"

static void parse_ok(berthd_config *c, const char *text) {
        _cleanup_berr_ berr *e = NULL;
        int r = berthd_config_parse(c, text, "test.toml", &e);
        if (r < 0)
                TAP_FAIL("parse failed: %s", e->msg);
}

static char *parse_error(const char *text) {
        berthd_config c;
        berthd_config_init(&c);
        berr *e = NULL;
        int r = berthd_config_parse(&c, text, "test.toml", &e);
        berthd_config_done(&c);
        if (r >= 0)
                return NULL;
        char *msg = xstrdup(e->msg);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        return msg;
}

TEST(defaults) {
        berthd_config c;
        berthd_config_init(&c);
        ASSERT_OK(berthd_config_finalize(&c, NULL));
        ASSERT_STREQ(c.root, "/var/lib/berth");
        ASSERT_STREQ(c.state, "/run/berth");
        ASSERT_STREQ(c.address, "/run/berth/berthd.sock");
        ASSERT_STREQ(c.snapshotter, "overlayfs");
        ASSERT_EQ(c.log_level, LOG_LVL_INFO);
        ASSERT_NULL(c.config_file);
        ASSERT_EQ(c.n_registries, 0);
        berthd_config_done(&c);
}

TEST(address_follows_state_unless_set) {
        berthd_config c;
        berthd_config_init(&c);
        parse_ok(&c, "state = \"/tmp/b1/state\"\n");
        ASSERT_OK(berthd_config_finalize(&c, NULL));
        ASSERT_STREQ(c.address, "/tmp/b1/state/berthd.sock");
        berthd_config_done(&c);

        berthd_config_init(&c);
        parse_ok(&c, "state = \"/tmp/b1/state\"\naddress = '/tmp/elsewhere.sock'\n");
        ASSERT_OK(berthd_config_finalize(&c, NULL));
        ASSERT_STREQ(c.address, "/tmp/elsewhere.sock");
        berthd_config_done(&c);
}

TEST(full_file) {
        berthd_config c;
        berthd_config_init(&c);
        parse_ok(&c, "# berthd\n"
                     "root = \"/srv/berth\"   # persistent\n"
                     "log_level = \"debug\"\n"
                     "snapshotter = \"native\"\n"
                     "hosts_dir = \"/etc/x/certs.d\"\n"
                     "\n"
                     "[registry.\"127.0.0.1:5000\"]\n"
                     "plain_http = true\n"
                     "mirrors = [\"http://127.0.0.1:5001\",\n"
                     "           \"127.0.0.1:5002\"]\n"
                     "\n"
                     "[registry.\"docker.io\"]\n"
                     "skip_verify = true\n"
                     "ca = \"/etc/berth/ca.pem\"\n");
        ASSERT_OK(berthd_config_finalize(&c, NULL));
        ASSERT_STREQ(c.root, "/srv/berth");
        ASSERT_EQ(c.log_level, LOG_LVL_DEBUG);
        ASSERT_STREQ(c.snapshotter, "native");
        ASSERT_STREQ(c.hosts_dir, "/etc/x/certs.d");
        ASSERT_EQ(c.n_registries, 2);
        const berthd_registry *r = berthd_config_registry(&c, "127.0.0.1:5000");
        ASSERT_NOT_NULL(r);
        ASSERT_TRUE(r->plain_http);
        ASSERT_FALSE(r->skip_verify);
        ASSERT_EQ(strv_length(r->mirrors), 2);
        ASSERT_STREQ(r->mirrors[0], "http://127.0.0.1:5001");
        ASSERT_STREQ(r->mirrors[1], "127.0.0.1:5002");
        ASSERT_NULL(r->ca);
        r = berthd_config_registry(&c, "docker.io");
        ASSERT_NOT_NULL(r);
        ASSERT_TRUE(r->skip_verify);
        ASSERT_FALSE(r->plain_http);
        ASSERT_STREQ(r->ca, "/etc/berth/ca.pem");
        ASSERT_NULL(berthd_config_registry(&c, "quay.io"));
        berthd_config_done(&c);
}

TEST(later_values_win) {
        berthd_config c;
        berthd_config_init(&c);
        parse_ok(&c, "root = \"/a\"\nroot = \"/b\"\n");
        parse_ok(&c, "[registry.\"r\"]\nmirrors = [\"m1\"]\n[registry.\"r\"]\nmirrors = [\"m2\"]\n");
        ASSERT_STREQ(c.root, "/b");
        ASSERT_EQ(c.n_registries, 1);
        ASSERT_EQ(strv_length(c.registries[0].mirrors), 1);
        ASSERT_STREQ(c.registries[0].mirrors[0], "m2");
        berthd_config_done(&c);
}

TEST(errors_name_the_key) {
        _cleanup_free_ char *m = parse_error("snapshoter = \"native\"\n");
        ASSERT_STREQ(m, "config test.toml: unknown key snapshoter");
        free(m);
        m = parse_error("[registry.\"127.0.0.1:5000\"]\nplain_htp = true\n");
        ASSERT_STREQ(m, "config test.toml: unknown key registry.\"127.0.0.1:5000\".plain_htp");
        free(m);
        m = parse_error("[registry.\"x\"]\nplain_http = \"yes\"\n");
        ASSERT_STREQ(m, "config test.toml: registry.x.plain_http must be a boolean");
        free(m);
        m = parse_error("root = 5\n");
        ASSERT_STREQ(m, "config test.toml: root must be a string");
        free(m);
        m = parse_error("root = \"\"\n");
        ASSERT_STREQ(m, "config test.toml: root must not be empty");
        free(m);
        m = parse_error("log_level = \"loud\"\n");
        ASSERT_STREQ(m, "config test.toml: unknown log_level \"loud\"");
        free(m);
        m = parse_error("[grpc]\naddress = \"x\"\n");
        ASSERT_STREQ(m, "config test.toml: unknown table [grpc]");
        free(m);
        m = parse_error("[registry.\"x\"]\nmirrors = [\"a\", 1]\n");
        ASSERT_STREQ(m, "config test.toml: registry.x.mirrors must be an array of strings");
}

TEST(syntax_errors_name_the_line) {
        _cleanup_free_ char *m = parse_error("root = \"/a\"\nstate = \n");
        ASSERT_NOT_NULL(m);
        ASSERT_TRUE(strncmp(m, "config test.toml: line 2", 24) == 0);
        ASSERT_NULL(strstr(m, "hosts.toml"));
}

TEST(load_file_and_missing_file) {
        char dir[] = "/tmp/berthd-config.XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(dir));
        _cleanup_free_ char *path = xasprintf("%s/config.toml", dir);
        const char *text = "log_level = \"warn\"\nstate = \"relative/state\"\n";
        ASSERT_OK(write_file_atomic(path, text, strlen(text), 0644, NULL));

        berthd_config c;
        berthd_config_init(&c);
        ASSERT_OK(berthd_config_load(&c, path, NULL));
        ASSERT_STREQ(c.config_file, path);
        ASSERT_EQ(c.log_level, LOG_LVL_WARN);
        ASSERT_OK(berthd_config_finalize(&c, NULL));
        /* Relative paths are made absolute against the working directory. */
        _cleanup_free_ char *cwd = get_current_dir_name();
        _cleanup_free_ char *want = xasprintf("%s/relative/state", cwd);
        ASSERT_STREQ(c.state, want);
        berthd_config_done(&c);

        berthd_config_init(&c);
        _cleanup_free_ char *missing = xasprintf("%s/nope.toml", dir);
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_config_load(&c, missing, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_NOT_NULL(strstr(e->msg, missing));
        berthd_config_done(&c);
        ASSERT_OK(rm_rf(dir, NULL));
}

TEST(unknown_snapshotter_rejected) {
        berthd_config c;
        berthd_config_init(&c);
        parse_ok(&c, "snapshotter = \"zfs\"\n");
        _cleanup_berr_ berr *e = NULL;
        ASSERT_EQ(berthd_config_finalize(&c, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_NOT_NULL(strstr(e->msg, "zfs"));
        berthd_config_done(&c);
}
