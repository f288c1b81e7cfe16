/* How many entries a directory holds, "." and ".." aside (0 when it cannot be read): for tests that check what
 * was left on disk, or how many threads (/proc/self/task) a process has. */
#pragma once

#include <dirent.h>
#include <stddef.h>

static inline size_t test_count_entries(const char *path) {
        DIR *d = opendir(path);
        size_t n = 0;
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}
