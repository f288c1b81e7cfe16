/* berth events [--filter F]...: the daemon's events of every namespace, one line each as ctr prints them:
 *   <time> <namespace> <topic> <event as JSON>
 * A filter is either containerd's syntax, passed on as is (topic=="/tasks/exit", namespace==default,
 * event.container_id==web), or docker's KEY=VALUE for type, event, container and namespace. Docker's rule: values of
 * one key are alternatives, different keys must all match (translated into containerd filters, which are OR'ed). */
#include <stdio.h>
#include <string.h>

#include "basic/strv.h"
#include "cli/cli.h"
#include "cli/container-format.h"

static const char usage[] =
        "Usage: berth events [OPTIONS]\n\n"
        "Get real time events from the daemon (every namespace).\n\n"
        "Options:\n"
        "  -f, --filter FILTER   containerd filter (topic==\"/tasks/exit\") or docker's\n"
        "                        type=container|image|snapshot|namespace|content, event=start|die|..., container=ID,\n"
        "                        namespace=NS\n";

typedef struct events_args {
        const cli_context *ctx;
        char **raw;                 /* containerd filters given as such */
        char **type, **event, **container, **namespace_; /* docker filters: alternatives of each key */
} events_args;

static bool is_docker_filter(const char *f, const char **ret_value) {
        static const char *const keys[] = { "type=", "event=", "container=", "namespace=" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                size_t l = strlen(keys[i]);
                /* "namespace==x" is containerd's; "namespace=x" docker's. */
                if (strncmp(f, keys[i], l) == 0 && f[l] != '=' && f[l] != '\0') {
                        *ret_value = f + l;
                        return true;
                }
        }
        return false;
}

static int on_option(int opt, const char *arg, void *userdata) {
        events_args *a = userdata;
        const char *v;
        if (!is_docker_filter(arg, &v)) {
                strv_extend(&a->raw, arg);
                return 0;
        }
        char ***list = arg[0] == 't' ? &a->type : arg[0] == 'e' ? &a->event : arg[0] == 'c' ? &a->container
                                                                                              : &a->namespace_;
        strv_extend(list, v);
        return 0;
}

static char *type_condition(const cli_context *ctx, const char *type) {
        static const char *const map[][2] = {
                { "container", "topic~=\"^/(containers|tasks)/\"" },
                { "task", "topic~=\"^/tasks/\"" },
                { "image", "topic~=\"^/images/\"" },
                { "snapshot", "topic~=\"^/snapshot/\"" },
                { "namespace", "topic~=\"^/namespaces/\"" },
                { "content", "topic~=\"^/content/\"" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strcmp(type, map[i][0]) == 0)
                        return xstrdup(map[i][1]);
        cli_usage_error(ctx, "unknown event type \"%s\"", type);
        return NULL;
}

static char *event_condition(const char *event) {
        /* docker's container event names -> containerd topics; anything else matches the topic's last part. */
        static const char *const map[][2] = {
                { "create", "/containers/create" },  { "destroy", "/containers/delete" },
                { "start", "/tasks/start" },         { "die", "/tasks/exit" },
                { "exit", "/tasks/exit" },           { "pause", "/tasks/paused" },
                { "unpause", "/tasks/resumed" },     { "oom", "/tasks/oom" },
                { "exec_create", "/tasks/exec-added" }, { "exec_start", "/tasks/exec-started" },
                { "delete", "/tasks/delete" },
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (strcmp(event, map[i][0]) == 0)
                        return xasprintf("topic==\"%s\"", map[i][1]);
        return xasprintf("topic~=\"/%s$\"", event);
}

/* Cross product: every existing combination AND each alternative of this key. */
static void and_alternatives(char ***combos, char **alts) {
        if (!alts)
                return;
        char **next = NULL;
        for (char **c = *combos; c && *c; c++)
                for (char **a = alts; *a; a++)
                        strv_push(&next, **c ? xasprintf("%s,%s", *c, *a) : xstrdup(*a));
        strv_free(*combos);
        *combos = next;
}

static int build_filters(events_args *a, char ***ret) {
        char **combos = NULL;
        strv_extend(&combos, "");
        char **alts = NULL;
        for (char **t = a->type; t && *t; t++) {
                char *cond = type_condition(a->ctx, *t);
                if (!cond) {
                        strv_free(alts);
                        strv_free(combos);
                        return -1;
                }
                strv_push(&alts, cond);
        }
        and_alternatives(&combos, alts);
        alts = strv_free(alts);
        for (char **e = a->event; e && *e; e++)
                strv_push(&alts, event_condition(*e));
        and_alternatives(&combos, alts);
        alts = strv_free(alts);
        for (char **c = a->container; c && *c; c++) {
                /* Task events name the container in container_id, container events in id. */
                strv_push(&alts, xasprintf("event.container_id==\"%s\"", *c));
                strv_push(&alts, xasprintf("event.id==\"%s\"", *c));
        }
        and_alternatives(&combos, alts);
        alts = strv_free(alts);
        for (char **n = a->namespace_; n && *n; n++)
                strv_push(&alts, xasprintf("namespace==\"%s\"", *n));
        and_alternatives(&combos, alts);
        strv_free(alts);
        if (strv_length(combos) == 1 && !*combos[0])
                combos = strv_free(combos); /* no docker filter */
        for (char **r = a->raw; r && *r; r++)
                strv_extend(&combos, *r);
        *ret = combos;
        return 0;
}

static int on_event(const berth_event *ev, void *userdata) {
        _cleanup_free_ char *when = format_go_time(ev->timestamp);
        _cleanup_free_ char *json = berth_event_json(ev);
        printf("%s %s %s %s\n", when, ev->namespace_, ev->topic, json);
        /* A reader that went away (| head) ends the command. */
        return fflush(stdout) != 0 || ferror(stdout);
}

int cmd_events(cli_context *ctx, int argc, char **argv) {
        static const struct option longopts[] = {
                { "filter", required_argument, NULL, 'f' },
                {},
        };
        events_args a = { .ctx = ctx };
        int rc = 0;
        int first = cli_parse(ctx, argc, argv, "f:", longopts, usage, on_option, &a, &rc);
        char **filters = NULL;
        if (first >= 0 && argc - first != 0) {
                rc = cli_usage_error(ctx, "accepts no arguments");
                first = -1;
        }
        if (first >= 0 && build_filters(&a, &filters) < 0) {
                rc = CLI_EXIT_USAGE;
                first = -1;
        }
        if (first >= 0) {
                berth_client *c = NULL;
                if ((rc = cli_connect(ctx, &c)) == 0) {
                        _cleanup_berr_ berr *e = NULL;
                        if (berth_events(c, (const char *const *) filters, on_event, NULL, &e) < 0)
                                rc = cli_error(e);
                        berth_client_free(c);
                }
        }
        strv_free(filters);
        strv_free(a.raw);
        strv_free(a.type);
        strv_free(a.event);
        strv_free(a.container);
        strv_free(a.namespace_);
        return rc;
}
