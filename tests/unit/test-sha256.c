#include "basic/sha256.h"
#include "tap.h"

TEST(known_vectors) {
        char hex[65];
        sha256_hex("", 0, hex);
        ASSERT_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        sha256_hex("abc", 3, hex);
        ASSERT_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        sha256_hex(two_blocks, strlen(two_blocks), hex);
        ASSERT_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(incremental_equals_one_shot) {
        static char buf[1000001];
        memset(buf, 'a', 1000000);
        sha256_ctx ctx;
        uint8_t d[32];
        sha256_init(&ctx);
        for (size_t off = 0; off < 1000000; off += 7919)
                sha256_update(&ctx, buf + off, off + 7919 > 1000000 ? 1000000 - off : 7919);
        sha256_final(&ctx, d);
        char hex[65];
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        ASSERT_STREQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
