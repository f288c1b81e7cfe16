/* libcurl and libarchive loaded on first use (src/remotes/curl-lib.c, src/images/archive-lib.c): this test is not
 * linked against either library, so every call below goes through the forwarding definitions into the library
 * they dlopen. Checks that each kind of argument arrives intact: setopt's long, pointer, function pointer and
 * curl_off_t options, getinfo's out pointer, archive_set_error's format. */
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic/macro.h"
#include "images/archive-lib.h"
#include "remotes/curl-lib.h"
#include "tap.h"

static size_t discard(char *ptr, size_t size, size_t n, void *userdata) {
        return size * n;
}

TEST(curl_loads_and_forwards_every_option_type) {
        berr *e = NULL;
        ASSERT_OK(curl_lib_load(&e));
        ASSERT_OK(curl_lib_load(&e)); /* once is enough; again is harmless */
        ASSERT_STREQ(curl_easy_strerror(CURLE_OK), "No error");

        CURL *h = curl_easy_init();
        ASSERT_NOT_NULL(h);
        ASSERT_EQ(curl_easy_setopt(h, CURLOPT_VERBOSE, 0L), CURLE_OK);                    /* long */
        ASSERT_EQ(curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:9/x"), CURLE_OK);   /* object pointer */
        ASSERT_EQ(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);         /* function pointer */
        ASSERT_EQ(curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t) 1 << 40), CURLE_OK); /* off_t */
        /* A long that is out of range is refused: the value really arrived as a long. */
        ASSERT_EQ(curl_easy_setopt(h, CURLOPT_MAXREDIRS, -2L), CURLE_BAD_FUNCTION_ARGUMENT);

        char *url = NULL;
        ASSERT_EQ(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url), CURLE_OK);
        ASSERT_STREQ(url, "http://127.0.0.1:9/x");
        char *escaped = curl_easy_escape(h, "a b/c", 0);
        ASSERT_STREQ(escaped, "a%20b%2Fc");
        curl_free(escaped);

        struct curl_slist *l = curl_slist_append(NULL, "Accept: x");
        ASSERT_NOT_NULL(l);
        ASSERT_STREQ(l->data, "Accept: x");
        curl_slist_free_all(l);

        CURLM *m = curl_multi_init();
        ASSERT_NOT_NULL(m);
        ASSERT_EQ(curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 4L), CURLM_OK);
        ASSERT_EQ(curl_multi_add_handle(m, h), CURLM_OK);
        ASSERT_EQ(curl_multi_remove_handle(m, h), CURLM_OK);
        ASSERT_EQ(curl_multi_cleanup(m), CURLM_OK);
        curl_easy_cleanup(h);
}

TEST(archive_loads_and_round_trips_a_tar) {
        berr *e = NULL;
        ASSERT_OK(archive_lib_load(&e));
        int fd = memfd_create("lazy-libs-tar", MFD_CLOEXEC);
        ASSERT_TRUE(fd >= 0);

        struct archive *w = archive_write_new();
        ASSERT_NOT_NULL(w);
        ASSERT_EQ(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_fd(w, fd), ARCHIVE_OK);
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, "dir/file");
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_perm(en, 0640);
        archive_entry_set_size(en, 5);
        archive_entry_set_mtime(en, 1700000000, 0);
        ASSERT_EQ(archive_write_header(w, en), ARCHIVE_OK);
        ASSERT_EQ(archive_write_data(w, "hello", 5), 5);
        archive_entry_free(en);
        ASSERT_EQ(archive_write_close(w), ARCHIVE_OK);
        ASSERT_EQ(archive_write_free(w), ARCHIVE_OK);

        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        struct archive *r = archive_read_new();
        ASSERT_NOT_NULL(r);
        ASSERT_EQ(archive_read_support_format_tar(r), ARCHIVE_OK);
        ASSERT_EQ(archive_read_open_fd(r, fd, 10240), ARCHIVE_OK);
        struct archive_entry *got = NULL;
        ASSERT_EQ(archive_read_next_header(r, &got), ARCHIVE_OK);
        ASSERT_STREQ(archive_entry_pathname(got), "dir/file");
        ASSERT_EQ(archive_entry_filetype(got), AE_IFREG);
        ASSERT_EQ(archive_entry_perm(got), 0640);
        ASSERT_EQ(archive_entry_size(got), 5);
        ASSERT_EQ(archive_entry_mtime(got), 1700000000);
        char buf[8] = { 0 };
        ASSERT_EQ(archive_read_data(r, buf, sizeof buf), 5);
        ASSERT_STREQ(buf, "hello");
        ASSERT_EQ(archive_read_next_header(r, &got), ARCHIVE_EOF);

        archive_set_error(r, EINVAL, "bad %s %d", "thing", 7);
        ASSERT_EQ(archive_errno(r), EINVAL);
        ASSERT_STREQ(archive_error_string(r), "bad thing 7");
        ASSERT_EQ(archive_read_free(r), ARCHIVE_OK);
        close(fd);
}
