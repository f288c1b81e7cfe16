#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "shim/args.h"

typedef enum { FLAG_STRING, FLAG_BOOL } flag_kind;

static int set_flag(shim_args *a, const char *name, const char *value, bool *ret_consumed_value) {
        static const struct {
                const char *name;
                flag_kind kind;
                size_t offset;
        } flags[] = {
                { "namespace", FLAG_STRING, offsetof(shim_args, ns) },
                { "address", FLAG_STRING, offsetof(shim_args, address) },
                { "publish-binary", FLAG_STRING, offsetof(shim_args, publish_binary) },
                { "id", FLAG_STRING, offsetof(shim_args, id) },
                { "bundle", FLAG_STRING, offsetof(shim_args, bundle) },
                { "socket", FLAG_STRING, offsetof(shim_args, socket) },
                { "debug", FLAG_BOOL, offsetof(shim_args, debug) },
                { "v", FLAG_BOOL, offsetof(shim_args, version) },
        };
        for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
                if (strcmp(flags[i].name, name) != 0)
                        continue;
                char *field = (char *) a + flags[i].offset;
                if (flags[i].kind == FLAG_BOOL) {
                        *(bool *) field = !value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
                        *ret_consumed_value = false;
                } else {
                        if (!value) {
                                fprintf(stderr, "flag needs an argument: -%s\n", name);
                                return -1;
                        }
                        *(const char **) field = value;
                        *ret_consumed_value = true;
                }
                return 0;
        }
        fprintf(stderr, "flag provided but not defined: -%s\n", name);
        return -1;
}

int shim_args_parse(int argc, char **argv, shim_args *ret) {
        shim_args a = { .ns = "", .address = "", .id = "" };
        int i = 1;
        for (; i < argc; i++) {
                const char *arg = argv[i];
                if (arg[0] != '-' || arg[1] == '\0')
                        break;
                if (strcmp(arg, "--") == 0) {
                        i++;
                        break;
                }
                const char *name = arg + 1 + (arg[1] == '-');
                const char *eq = strchr(name, '=');
                bool consumed = false;
                if (eq) {
                        char flag[64];
                        size_t n = (size_t) (eq - name);
                        if (n >= sizeof flag) {
                                fprintf(stderr, "bad flag syntax: %s\n", arg);
                                return -1;
                        }
                        memcpy(flag, name, n);
                        flag[n] = '\0';
                        /* Only string flags take "=value"; booleans accept "=true/false" too. */
                        if (set_flag(&a, flag, eq + 1, &consumed) < 0)
                                return -1;
                        continue;
                }
                const char *value = i + 1 < argc ? argv[i + 1] : NULL;
                if (set_flag(&a, name, value, &consumed) < 0)
                        return -1;
                if (consumed)
                        i++;
        }
        if (i < argc) {
                a.action = argv[i];
                if (strcmp(a.action, "start") != 0 && strcmp(a.action, "delete") != 0) {
                        fprintf(stderr, "unknown action: %s\n", a.action);
                        return -1;
                }
        }
        *ret = a;
        return 0;
}
