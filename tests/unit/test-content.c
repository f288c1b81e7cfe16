/* The content store on a real temp directory: commit and verification, resume (also after SIGKILL), locking,
 * abort, delete, walk. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "basic/fileio.h"
#include "content/content.h"
#include "tap.h"
#include "test-dir.h"

static char *new_store_dir(void) {
        char tmpl[] = "/tmp/berth-test-content.XXXXXX";
        if (!mkdtemp(tmpl))
                TAP_FAIL("mkdtemp: %s", strerror(errno));
        return xasprintf("%s/content", tmpl);
}

static void remove_store(content_store *s, char *dir) {
        content_store_free(s);
        char *parent = xstrdup(dir);
        *strrchr(parent, '/') = '\0';
        berr *e = NULL;
        if (rm_rf(parent, &e) < 0)
                berr_free(e);
        free(parent);
        free(dir);
}

static int count_blob(const content_info *info, void *userdata, berr **err) {
        (*(int *) userdata)++;
        return 0;
}

TEST(digest_parse) {
        char hex[DIGEST_HEX_LEN + 1];
        const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        ASSERT_OK(digest_parse(good, hex, NULL));
        ASSERT_STREQ(hex, good + 7);
        char d[DIGEST_STRING_MAX];
        digest_buffer("", 0, d);
        ASSERT_STREQ(d, good);
        berr *e = NULL;
        ASSERT_EQ(digest_parse("md5:d41d8cd98f00b204e9800998ecf8427e", NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        ASSERT_TRUE(strstr(e->msg, "unsupported digest algorithm") != NULL);
        ASSERT_EQ(digest_parse("sha256:abc", NULL, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "invalid checksum digest length") != NULL);
        ASSERT_EQ(digest_parse("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", NULL, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "invalid checksum digest format") != NULL);
        ASSERT_EQ(digest_parse("nocolon", NULL, &e), -1);
        ASSERT_TRUE(strstr(e->msg, "invalid checksum digest format") != NULL);
        berr_free(e);
        /* Incremental equals one-shot, and digesting mid-way does not disturb the state. */
        digester *g = digester_new();
        digester_update(g, "hello ", 6);
        char mid[DIGEST_STRING_MAX], full[DIGEST_STRING_MAX], ref[DIGEST_STRING_MAX];
        digester_digest(g, mid);
        digester_update(g, "world", 5);
        digester_digest(g, full);
        digest_buffer("hello world", 11, ref);
        ASSERT_STREQ(full, ref);
        digest_buffer("hello ", 6, ref);
        ASSERT_STREQ(mid, ref);
        ASSERT_EQ(digester_size(g), 11);
        digester_free(g);
}

TEST(write_commit_read) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        const char *data = "some blob content\n";
        char expected[DIGEST_STRING_MAX], got[DIGEST_STRING_MAX];
        digest_buffer(data, strlen(data), expected);

        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(s, "ref-1", (int64_t) strlen(data), expected, &w, &e));
        ASSERT_OK(content_writer_write(w, data, 5, &e));
        ASSERT_OK(content_writer_write(w, data + 5, strlen(data) - 5, &e));
        content_status st;
        content_writer_status(w, &st);
        ASSERT_STREQ(st.ref, "ref-1");
        ASSERT_EQ(st.offset, strlen(data));
        ASSERT_EQ(st.total, strlen(data));
        ASSERT_TRUE(st.started_at > 0);
        content_status_done(&st);
        ASSERT_OK(content_status_get(s, "ref-1", &st, &e));
        ASSERT_EQ(st.offset, strlen(data));
        content_status_done(&st);
        ASSERT_OK(content_writer_commit(w, (int64_t) strlen(data), expected, got, &e));
        ASSERT_STREQ(got, expected);
        /* A second commit on the same writer is refused. */
        ASSERT_EQ(content_writer_commit(w, 0, NULL, NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        content_writer_close(w);

        content_info info;
        ASSERT_OK(content_info_get(s, expected, &info, &e));
        ASSERT_EQ(info.size, strlen(data));
        ASSERT_STREQ(info.digest, expected);
        _cleanup_free_ char *path = NULL;
        ASSERT_OK(content_blob_path(s, expected, &path, &e));
        struct stat sb;
        ASSERT_OK(stat(path, &sb));
        ASSERT_EQ(sb.st_mode & 0222, 0); /* read-only */
        _cleanup_free_ char *ingest = xasprintf("%s/ingest", dir);
        ASSERT_EQ(test_count_entries(ingest), 0);
        ASSERT_EQ(content_status_get(s, "ref-1", &st, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);

        content_reader *r = NULL;
        ASSERT_OK(content_reader_open(s, expected, &r, &e));
        ASSERT_EQ(content_reader_size(r), strlen(data));
        char buf[64];
        ASSERT_EQ(content_reader_pread(r, buf, 4, 5, &e), 4);
        ASSERT_TRUE(memcmp(buf, "blob", 4) == 0);
        ASSERT_EQ(content_reader_pread(r, buf, sizeof buf, 100, &e), 0);
        ASSERT_TRUE(content_reader_fd(r) >= 0);
        content_reader_free(r);

        /* Same content again: AlreadyExists at open (expected known) and at commit (not known up front). */
        ASSERT_EQ(content_writer_open(s, "ref-2", 0, expected, &w, &e), -1);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        ASSERT_OK(content_writer_open(s, "ref-2", 0, NULL, &w, &e));
        ASSERT_OK(content_writer_write(w, data, strlen(data), &e));
        ASSERT_EQ(content_writer_commit(w, 0, NULL, NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_ALREADY_EXISTS);
        ASSERT_TRUE(strstr(e->msg, "already exists") != NULL);
        content_writer_close(w);
        ASSERT_EQ(test_count_entries(ingest), 0);
        berr_free(e);
        remove_store(s, dir);
}

TEST(wrong_digest_or_size_rejected) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        char other[DIGEST_STRING_MAX], actual[DIGEST_STRING_MAX];
        digest_buffer("other", 5, other);
        digest_buffer("payload", 7, actual);
        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(s, "bad", 0, NULL, &w, &e));
        ASSERT_OK(content_writer_write(w, "payload", 7, &e));
        ASSERT_EQ(content_writer_commit(w, 7, other, NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        _cleanup_free_ char *msg = xasprintf("unexpected commit digest %s, expected %s: failed precondition", actual,
                                             other);
        ASSERT_STREQ(e->msg, msg);
        content_writer_close(w);
        int n = 0;
        ASSERT_OK(content_walk(s, count_blob, &n, &e));
        ASSERT_EQ(n, 0);
        _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
        ASSERT_EQ(test_count_entries(blobs), 0);

        ASSERT_OK(content_writer_open(s, "bad", 0, NULL, &w, &e));
        ASSERT_EQ(content_writer_offset(w), 7); /* the failed commit left the ingest */
        ASSERT_EQ(content_writer_commit(w, 8, NULL, NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_FAILED_PRECONDITION);
        ASSERT_STREQ(e->msg, "unexpected commit size 7, expected 8: failed precondition");
        content_writer_close(w);

        ASSERT_OK(content_writer_open(s, "bad", 0, NULL, &w, &e));
        ASSERT_EQ(content_writer_commit(w, 7, "md5:0123", NULL, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        content_writer_close(w);
        ASSERT_EQ(test_count_entries(blobs), 0);
        berr_free(e);
        remove_store(s, dir);
}

TEST(write_at_rules) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(s, "wa", 0, NULL, &w, &e));
        ASSERT_OK(content_writer_write_at(w, 0, "abc", 3, &e));
        ASSERT_EQ(content_writer_write_at(w, 2, "x", 1, &e), -1);
        ASSERT_EQ(e->code, BERR_OUT_OF_RANGE);
        ASSERT_STREQ(e->msg, "write @2 must occur at current offset 3");
        ASSERT_OK(content_writer_write_at(w, 3, "def", 3, &e));
        ASSERT_OK(content_writer_write_at(w, 0, "xy", 2, &e)); /* offset 0 restarts */
        ASSERT_EQ(content_writer_offset(w), 2);
        char d[DIGEST_STRING_MAX], ref[DIGEST_STRING_MAX];
        content_writer_digest(w, d);
        digest_buffer("xy", 2, ref);
        ASSERT_STREQ(d, ref);
        ASSERT_OK(content_writer_commit(w, 2, ref, NULL, &e));
        content_writer_close(w);
        content_info info;
        ASSERT_OK(content_info_get(s, ref, &info, &e));
        ASSERT_EQ(info.size, 2);
        berr_free(e);
        remove_store(s, dir);
}

TEST(resume_after_close) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        size_t len = 3 << 20;
        char *data = xmalloc(len);
        for (size_t i = 0; i < len; i++)
                data[i] = (char) (i * 7 + i / 4096);
        char expected[DIGEST_STRING_MAX];
        digest_buffer(data, len, expected);
        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(s, "resume", (int64_t) len, expected, &w, &e));
        ASSERT_OK(content_writer_write(w, data, len / 3, &e));
        content_writer_close(w);

        content_status st;
        ASSERT_OK(content_status_get(s, "resume", &st, &e));
        ASSERT_EQ(st.offset, len / 3);
        ASSERT_EQ(st.total, len);
        int64_t started = st.started_at;
        content_status_done(&st);

        ASSERT_OK(content_writer_open(s, "resume", (int64_t) len, expected, &w, &e));
        ASSERT_EQ(content_writer_offset(w), len / 3);
        content_writer_status(w, &st);
        ASSERT_EQ(st.started_at, started); /* survives via the startedat file, ns precision */
        content_status_done(&st);
        ASSERT_OK(content_writer_write_at(w, (int64_t) (len / 3), data + len / 3, len - len / 3, &e));
        ASSERT_OK(content_writer_commit(w, (int64_t) len, expected, NULL, &e));
        content_writer_close(w);
        content_info info;
        ASSERT_OK(content_info_get(s, expected, &info, &e));
        ASSERT_EQ(info.size, len);
        free(data);
        remove_store(s, dir);
}

TEST(resume_after_sigkill) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        int p[2];
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                content_writer *cw = NULL;
                if (content_writer_open(s, "killed", 0, NULL, &cw, NULL) < 0)
                        _exit(1);
                char chunk[4096];
                memset(chunk, 'k', sizeof chunk);
                for (int i = 0; i < 25; i++)
                        if (content_writer_write(cw, chunk, sizeof chunk, NULL) < 0)
                                _exit(2);
                (void) !write(p[1], "x", 1);
                for (;;)
                        pause();
        }
        close(p[1]);
        char c;
        ASSERT_EQ(read(p[0], &c, 1), 1);
        close(p[0]);
        /* While the child lives, the ref is locked across processes. */
        content_writer *w = NULL;
        ASSERT_EQ(content_writer_open(s, "killed", 0, NULL, &w, &e), -1);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        ASSERT_OK(kill(pid, SIGKILL));
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status));

        ASSERT_OK(content_writer_open(s, "killed", 0, NULL, &w, &e));
        ASSERT_EQ(content_writer_offset(w), 25 * 4096);
        char chunk[4096];
        memset(chunk, 'k', sizeof chunk);
        ASSERT_OK(content_writer_write(w, chunk, sizeof chunk, &e));
        char *all = xmalloc(26 * 4096);
        memset(all, 'k', 26 * 4096);
        char expected[DIGEST_STRING_MAX];
        digest_buffer(all, 26 * 4096, expected);
        free(all);
        ASSERT_OK(content_writer_commit(w, 26 * 4096, expected, NULL, &e));
        content_writer_close(w);
        berr_free(e);
        remove_store(s, dir);
}

TEST(same_ref_locked) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        content_writer *w1 = NULL, *w2 = NULL;
        ASSERT_OK(content_writer_open(s, "locked-ref", 0, NULL, &w1, &e));
        ASSERT_EQ(content_writer_open(s, "locked-ref", 0, NULL, &w2, &e), -1);
        ASSERT_EQ(e->code, BERR_UNAVAILABLE);
        ASSERT_STREQ(e->msg, "ref locked-ref locked: unavailable");
        /* Another ref is independent. */
        ASSERT_OK(content_writer_open(s, "other-ref", 0, NULL, &w2, &e));
        content_writer_close(w2);
        content_writer_close(w1);
        ASSERT_OK(content_writer_open(s, "locked-ref", 0, NULL, &w2, &e));
        content_writer_close(w2);

        content_status *sts = NULL;
        size_t n = 0;
        ASSERT_OK(content_list_statuses(s, &sts, &n, &e));
        ASSERT_EQ(n, 2);
        ASSERT_TRUE((strcmp(sts[0].ref, "locked-ref") == 0) != (strcmp(sts[1].ref, "locked-ref") == 0));
        content_statuses_free(sts, n);
        ASSERT_EQ(content_writer_open(s, "", 0, NULL, &w2, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        berr_free(e);
        remove_store(s, dir);
}

TEST(abort_ingest) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        content_writer *w = NULL;
        ASSERT_OK(content_writer_open(s, "to-abort", 0, NULL, &w, &e));
        ASSERT_OK(content_writer_write(w, "partial", 7, &e));
        content_writer_close(w);
        ASSERT_OK(content_abort(s, "to-abort", &e));
        content_status st;
        ASSERT_EQ(content_status_get(s, "to-abort", &st, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_EQ(content_abort(s, "to-abort", &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_STREQ(e->msg, "ingest ref \"to-abort\": not found");
        /* A fresh writer on the same ref starts at zero. */
        ASSERT_OK(content_writer_open(s, "to-abort", 0, NULL, &w, &e));
        ASSERT_EQ(content_writer_offset(w), 0);
        /* Aborting under a live writer makes its commit fail instead of publishing. */
        ASSERT_OK(content_writer_write(w, "abc", 3, &e));
        ASSERT_OK(content_abort(s, "to-abort", &e));
        ASSERT_EQ(content_writer_commit(w, 3, NULL, NULL, &e), -1);
        content_writer_close(w);
        _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", dir);
        ASSERT_EQ(test_count_entries(blobs), 0);
        berr_free(e);
        remove_store(s, dir);
}

TEST(delete_and_walk) {
        char *dir = new_store_dir();
        content_store *s = NULL;
        berr *e = NULL;
        ASSERT_OK(content_store_open(dir, &s, &e));
        char digests[3][DIGEST_STRING_MAX];
        for (int i = 0; i < 3; i++) {
                char data[16];
                int n = snprintf(data, sizeof data, "blob-%d", i);
                content_writer *w = NULL;
                char ref[16];
                snprintf(ref, sizeof ref, "r%d", i);
                ASSERT_OK(content_writer_open(s, ref, 0, NULL, &w, &e));
                ASSERT_OK(content_writer_write(w, data, (size_t) n, &e));
                ASSERT_OK(content_writer_commit(w, n, NULL, digests[i], &e));
                content_writer_close(w);
        }
        /* A stray file in blobs/sha256 is not a blob. */
        _cleanup_free_ char *stray = xasprintf("%s/blobs/sha256/not-a-digest", dir);
        ASSERT_OK(write_file_atomic(stray, "x", 1, 0644, &e));
        int n = 0;
        ASSERT_OK(content_walk(s, count_blob, &n, &e));
        ASSERT_EQ(n, 3);
        ASSERT_OK(content_delete(s, digests[1], &e));
        ASSERT_EQ(content_delete(s, digests[1], &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        _cleanup_free_ char *msg = xasprintf("content %s: not found", digests[1]);
        ASSERT_STREQ(e->msg, msg);
        content_info info;
        ASSERT_EQ(content_info_get(s, digests[1], &info, &e), -1);
        ASSERT_EQ(e->code, BERR_NOT_FOUND);
        ASSERT_EQ(content_info_get(s, "sha512:abc", &info, &e), -1);
        ASSERT_EQ(e->code, BERR_INVALID_ARGUMENT);
        n = 0;
        ASSERT_OK(content_walk(s, count_blob, &n, &e));
        ASSERT_EQ(n, 2);
        berr_free(e);
        remove_store(s, dir);
}
