/* A tiny TAP unit-test harness. Each TEST(name) registers itself; main() runs them all and prints
 * TAP ("ok N - name" / "not ok N - name"), so tests/run-all.sh can count results. An ASSERT that
 * fails prints the expression, the file and line, and ends that test as failed. */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tap_test_fn)(void);
struct tap_test {
        const char *name;
        tap_test_fn fn;
        struct tap_test *next;
};

extern struct tap_test *tap_tests;
extern jmp_buf tap_jmp;
extern int tap_skip_reason_set;
extern char tap_skip_reason[256];

#define TEST(name)                                                              \
        static void test_##name(void);                                          \
        static struct tap_test tap_reg_##name = { #name, test_##name, NULL };   \
        __attribute__((constructor)) static void tap_register_##name(void) {    \
                tap_reg_##name.next = tap_tests;                                \
                tap_tests = &tap_reg_##name;                                    \
        }                                                                       \
        static void test_##name(void)

#define TAP_FAIL(...)                                                           \
        do {                                                                    \
                printf("# %s:%d: ", __FILE__, __LINE__);                        \
                printf(__VA_ARGS__);                                            \
                printf("\n");                                                   \
                longjmp(tap_jmp, 1);                                            \
        } while (0)

#define ASSERT_TRUE(e)                                                          \
        do {                                                                    \
                if (!(e))                                                       \
                        TAP_FAIL("assertion failed: %s", #e);                   \
        } while (0)
#define ASSERT_FALSE(e) ASSERT_TRUE(!(e))
#define ASSERT_EQ(a, b)                                                         \
        do {                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);           \
                if (_a != _b)                                                   \
                        TAP_FAIL("%s == %s: %lld != %lld", #a, #b, _a, _b);     \
        } while (0)
#define ASSERT_NE(a, b)                                                         \
        do {                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);           \
                if (_a == _b)                                                   \
                        TAP_FAIL("%s != %s: both %lld", #a, #b, _a);            \
        } while (0)
#define ASSERT_OK(e)                                                            \
        do {                                                                    \
                long long _r = (long long) (e);                                 \
                if (_r < 0)                                                     \
                        TAP_FAIL("%s failed: %lld (errno %d %s)", #e, _r, errno, strerror(errno)); \
        } while (0)
#define ASSERT_STREQ(a, b)                                                      \
        do {                                                                    \
                const char *_a = (a), *_b = (b);                                \
                if (!_a || !_b || strcmp(_a, _b) != 0)                          \
                        TAP_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, _a ? _a : "(null)", _b ? _b : "(null)"); \
        } while (0)
#define ASSERT_NULL(e) ASSERT_TRUE((e) == NULL)
#define ASSERT_NOT_NULL(e) ASSERT_TRUE((e) != NULL)
/* Skips the current test with a reason (prints "ok N - name # SKIP reason"). */
#define TAP_SKIP(...)                                                           \
        do {                                                                    \
                snprintf(tap_skip_reason, sizeof tap_skip_reason, __VA_ARGS__); \
                tap_skip_reason_set = 1;                                        \
                longjmp(tap_jmp, 2);                                            \
        } while (0)

/* Define TAP_MAIN in exactly one translation unit per test binary (each test file is one). */
struct tap_test *tap_tests;
jmp_buf tap_jmp;
int tap_skip_reason_set;
char tap_skip_reason[256];

int main(void) {
        /* Registration order is reversed by the constructors; restore source order. */
        struct tap_test *rev = NULL;
        int n = 0;
        while (tap_tests) {
                struct tap_test *t = tap_tests;
                tap_tests = t->next;
                t->next = rev;
                rev = t;
                n++;
        }
        printf("1..%d\n", n);
        int i = 0, failed = 0;
        for (struct tap_test *t = rev; t; t = t->next) {
                i++;
                fflush(stdout);
                tap_skip_reason_set = 0;
                int r = setjmp(tap_jmp);
                if (r == 0) {
                        t->fn();
                        printf("ok %d - %s\n", i, t->name);
                } else if (r == 2) {
                        printf("ok %d - %s # SKIP %s\n", i, t->name, tap_skip_reason);
                } else {
                        printf("not ok %d - %s\n", i, t->name);
                        failed++;
                }
                fflush(stdout);
        }
        return failed ? 1 : 0;
}
