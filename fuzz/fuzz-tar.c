/* libFuzzer target: arbitrary bytes as a layer (any compression), applied into a fresh root at
 * <box>/a/b/root; whatever happens, nothing may appear next to the root or above it. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "images/apply.h"

typedef struct input {
        const uint8_t *data;
        size_t len, pos;
} input;

static ssize_t input_read(void *userdata, void *buf, size_t len) {
        input *in = userdata;
        size_t n = in->len - in->pos;
        if (n > len)
                n = len;
        /* Small reads shake out boundary handling in the decompressors and libarchive. */
        if (n > 4096)
                n = 4096;
        memcpy(buf, in->data + in->pos, n);
        in->pos += n;
        return (ssize_t) n;
}

/* dir must hold exactly the one entry named only. */
static void assert_only(const char *dir, const char *only) {
        DIR *d = opendir(dir);
        if (!d)
                abort();
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, only)) {
                        fprintf(stderr, "escaped: %s/%s\n", dir, de->d_name);
                        abort();
                }
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char box[] = "/tmp/berth-fuzz-tar.XXXXXX";
        if (!mkdtemp(box))
                abort();
        char *a = xasprintf("%s/a", box), *b = xasprintf("%s/a/b", box), *root = xasprintf("%s/a/b/root", box);
        if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0 || mkdir(root, 0755) < 0)
                abort();
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                abort();
        /* The first byte picks the whiteout mode, so both code paths get exercised. */
        apply_options opts = { .whiteouts = size > 0 && (data[0] & 1) ? APPLY_WHITEOUT_OVERLAY : APPLY_WHITEOUT_DELETE };
        input in = { data, size, 0 };
        berr *e = NULL;
        apply_result r;
        if (apply_layer(fd, input_read, &in, &opts, &r, &e) < 0)
                berr_free(e);
        close(fd);
        assert_only(box, "a");
        assert_only(a, "b");
        assert_only(b, "root");
        e = NULL;
        if (rm_rf(box, &e) < 0) {
                fprintf(stderr, "cleanup: %s\n", e->msg);
                abort();
        }
        free(a);
        free(b);
        free(root);
        return 0;
}
