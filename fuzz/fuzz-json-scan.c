/* libFuzzer target: basic/json-scan on arbitrary bytes. It must never read past the input, and whenever jansson
 * parses the input as an object holding the key, the scan must find that member and the value at its offset must
 * parse to the same value (or the scan says "not found": it may give up, never answer wrong). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "basic/json-scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* a copy of exactly size bytes, so ASan catches any read past the end */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        static const char *const keys[] = { "process", "k", "" };
        json_t *whole = json_loadb(text, size, 0, NULL);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                ssize_t off = json_scan_member(text, size, keys[i]);
                if (off < 0)
                        continue;
                if ((size_t) off >= size)
                        abort();
                json_t *want = json_object_get(whole, keys[i]);
                if (!want)
                        continue; /* jansson refused the text (the scan checks only the structure) */
                json_t *got = json_loadb(text + off, size - (size_t) off, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY,
                                         NULL);
                if (!got || !json_equal(want, got))
                        abort();
                json_decref(got);
        }
        json_decref(whole);
        free(text);
        return 0;
}
