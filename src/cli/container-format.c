/* The container commands' output: docker's texts (ps STATUS and COMMAND, units.BytesSize), its inspect shape, and Go's
 * time formats. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "basic/macro.h"
#include "cli/container-format.h"
#include "cli/format.h"

int64_t now_realtime_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *since(int64_t then_ns, int64_t now_ns) {
        return format_duration(now_ns > then_ns ? now_ns - then_ns : 0);
}

char *format_ago(int64_t then_ns, int64_t now_ns) {
        if (then_ns <= 0)
                return xstrdup("N/A");
        _cleanup_free_ char *d = since(then_ns, now_ns);
        return xasprintf("%s ago", d);
}

char *format_container_status(const berth_container_info *i, int64_t now_ns) {
        /* docker's State.String(), in its order. */
        if (i->restarting) {
                _cleanup_free_ char *d = since(i->finished_at, now_ns);
                return xasprintf("Restarting (%d) %s ago", (int) i->exit_code, d);
        }
        if (i->running || i->paused) {
                _cleanup_free_ char *d = since(i->started_at, now_ns);
                return xasprintf("Up %s%s", d, i->paused ? " (Paused)" : "");
        }
        if (i->started_at == 0 || strcmp(i->status, "created") == 0)
                return xstrdup("Created");
        if (i->finished_at == 0)
                return xasprintf("Exited (%d)", (int) i->exit_code);
        _cleanup_free_ char *d = since(i->finished_at, now_ns);
        return xasprintf("Exited (%d) %s ago", (int) i->exit_code, d);
}

/* Go's strconv.Quote for UTF-8 text. */
static char *go_quote(const char *s) {
        size_t n = strlen(s);
        char *out = xmalloc(n * 4 + 3), *o = out;
        *o++ = '"';
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                case '\\':
                        *o++ = '\\';
                        *o++ = (char) *p;
                        break;
                case '\n':
                        o = stpcpy(o, "\\n");
                        break;
                case '\t':
                        o = stpcpy(o, "\\t");
                        break;
                case '\r':
                        o = stpcpy(o, "\\r");
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                o += sprintf(o, "\\x%02x", *p);
                        else
                                *o++ = (char) *p;
                }
        }
        *o++ = '"';
        *o = '\0';
        return out;
}

/* docker's formatter.Ellipsis for text of single-width characters: max-1 characters + "…". */
static char *ellipsis(const char *s, size_t max) {
        size_t runes = 0, cut = 0;
        for (const char *p = s; *p; p++)
                if (((unsigned char) *p & 0xc0) != 0x80) {
                        if (runes == max - 1)
                                cut = (size_t) (p - s);
                        runes++;
                }
        if (runes <= max)
                return xstrdup(s);
        return xasprintf("%.*s…", (int) cut, s);
}

char *format_container_command(const char *const *args, bool truncate) {
        size_t len = 1;
        for (const char *const *a = args; a && *a; a++)
                len += strlen(*a) + 1;
        _cleanup_free_ char *joined = xcalloc(1, len);
        char *j = joined;
        for (const char *const *a = args; a && *a; a++) {
                if (a != args)
                        *j++ = ' ';
                j = stpcpy(j, *a);
        }
        if (!truncate)
                return go_quote(joined);
        _cleanup_free_ char *cut = ellipsis(joined, 20);
        return go_quote(cut);
}

char *format_familiar_image(const char *name) {
        _cleanup_free_ char *repo = NULL, *tag = NULL;
        if (strchr(name, '@'))
                return xstrdup(name);
        format_split_name(name, &repo, &tag);
        if (strcmp(tag, "latest") == 0 || strcmp(tag, "<none>") == 0)
                return TAKE_PTR(repo);
        return xasprintf("%s:%s", repo, tag);
}

static void fraction(int64_t ns, char buf[static 16]) {
        buf[0] = '\0';
        int32_t nanos = (int32_t) (ns % 1000000000LL);
        if (nanos <= 0)
                return;
        snprintf(buf, 16, ".%09d", nanos);
        for (size_t l = strlen(buf); buf[l - 1] == '0'; l--)
                buf[l - 1] = '\0';
}

char *format_rfc3339(int64_t ns) {
        if (ns <= 0)
                return xstrdup("0001-01-01T00:00:00Z");
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        char date[40], frac[16];
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
        fraction(ns, frac);
        return xasprintf("%s%sZ", date, frac);
}

char *format_go_time(int64_t ns) {
        time_t t = (time_t) (ns / 1000000000LL);
        struct tm tm;
        char date[40], zone[40], frac[16];
        localtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
        strftime(zone, sizeof zone, "%z %Z", &tm);
        fraction(ns, frac);
        return xasprintf("%s%s %s", date, frac, zone);
}

char *format_labels_csv(const char *const *labels) {
        size_t len = 1;
        for (const char *const *l = labels; l && *l; l++)
                len += strlen(*l) + 1;
        char *s = xcalloc(1, len), *p = s;
        for (const char *const *l = labels; l && *l; l++) {
                if (l != labels)
                        *p++ = ',';
                p = stpcpy(p, *l);
        }
        return s;
}

json_t *container_ps_json(const berth_container_info *i, int64_t now_ns) {
        _cleanup_free_ char *cmd = format_container_command(i->command, true);
        _cleanup_free_ char *created = format_go_time(i->created_at / 1000000000LL * 1000000000LL);
        _cleanup_free_ char *image = format_familiar_image(i->image);
        _cleanup_free_ char *labels = format_labels_csv(i->labels);
        _cleanup_free_ char *running_for = format_ago(i->created_at, now_ns);
        _cleanup_free_ char *status = format_container_status(i, now_ns);
        _cleanup_free_ char *mounts = format_labels_csv(i->mounts);
        json_t *o = json_object();
        json_object_set_new(o, "Command", json_string(cmd));
        json_object_set_new(o, "CreatedAt", json_string(created));
        json_object_set_new(o, "ID", json_string(i->id));
        json_object_set_new(o, "Image", json_string(image));
        json_object_set_new(o, "Labels", json_string(labels));
        json_object_set_new(o, "LocalVolumes", json_string("0"));
        json_object_set_new(o, "Mounts", json_string(mounts));
        json_object_set_new(o, "Names", json_string(i->name));
        json_object_set_new(o, "Networks", json_string(""));
        json_object_set_new(o, "Ports", json_string(""));
        json_object_set_new(o, "RunningFor", json_string(running_for));
        json_object_set_new(o, "State", json_string(i->status));
        json_object_set_new(o, "Status", json_string(status));
        return o;
}

static json_t *strv_json(const char *const *v, size_t skip) {
        json_t *a = json_array();
        for (const char *const *p = v; p && *p; p++) {
                if (skip > 0) {
                        skip--;
                        continue;
                }
                json_array_append_new(a, json_string(*p));
        }
        return a;
}

static json_t *time_json(int64_t ns) {
        _cleanup_free_ char *s = format_rfc3339(ns);
        return json_string(s);
}

/* "on-failure:3" -> {"Name": "on-failure", "MaximumRetryCount": 3}; "" and "no" -> {"Name": "no", 0}. */
static json_t *restart_policy_json(const char *policy) {
        const char *colon = strchr(policy, ':');
        _cleanup_free_ char *name = colon ? xstrndup(policy, (size_t) (colon - policy)) : xstrdup(policy);
        json_t *o = json_object();
        json_object_set_new(o, "Name", json_string(*name ? name : "no"));
        json_object_set_new(o, "MaximumRetryCount", json_integer(colon ? atoi(colon + 1) : 0));
        return o;
}

json_t *container_inspect_json(const berth_container_info *i) {
        json_t *state = json_object();
        json_object_set_new(state, "Status", json_string(i->status));
        json_object_set_new(state, "Running", json_boolean(i->running || i->paused));
        json_object_set_new(state, "Paused", json_boolean(i->paused));
        json_object_set_new(state, "Restarting", json_boolean(i->restarting));
        json_object_set_new(state, "OOMKilled", json_boolean(i->oom_killed));
        json_object_set_new(state, "Dead", json_false());
        json_object_set_new(state, "Pid", json_integer(i->pid));
        json_object_set_new(state, "ExitCode", json_integer(i->exit_code));
        json_object_set_new(state, "Error", json_string(i->error));
        json_object_set_new(state, "StartedAt", time_json(i->started_at));
        json_object_set_new(state, "FinishedAt", time_json(i->finished_at));

        json_t *labels = json_object();
        for (const char *const *l = i->labels; l && *l; l++) {
                const char *eq = strchr(*l, '=');
                _cleanup_free_ char *k = eq ? xstrndup(*l, (size_t) (eq - *l)) : xstrdup(*l);
                json_object_set_new(labels, k, json_string(eq ? eq + 1 : ""));
        }
        json_t *config = json_object();
        json_object_set_new(config, "Hostname", json_string(i->hostname));
        json_object_set_new(config, "User", json_string(i->user));
        json_object_set_new(config, "Tty", json_boolean(i->tty));
        json_object_set_new(config, "OpenStdin", json_boolean(i->stdin_open));
        json_object_set_new(config, "Env", strv_json(i->env, 0));
        json_object_set_new(config, "Cmd", strv_json(i->command, 0));
        json_object_set_new(config, "Image", json_string(i->image));
        json_object_set_new(config, "WorkingDir", json_string(i->workdir));
        json_object_set_new(config, "Labels", labels);

        json_t *host = json_object();
        json_object_set_new(host, "Binds", strv_json(i->mounts, 0));
        json_object_set_new(host, "RestartPolicy", restart_policy_json(i->restart_policy));
        json_object_set_new(host, "AutoRemove", json_boolean(i->auto_remove));
        json_object_set_new(host, "Runtime", json_string(i->runtime));
        json_object_set_new(host, "Memory", json_integer(i->memory));
        json_object_set_new(host, "NanoCpus", json_integer((json_int_t) i->nano_cpus));

        _cleanup_free_ char *name = xasprintf("/%s", i->name);
        _cleanup_free_ char *log_path = *i->log_dir ? xasprintf("%s/%s-json.log", i->log_dir, i->id) : xstrdup("");
        json_t *o = json_object();
        json_object_set_new(o, "Id", json_string(i->id));
        json_object_set_new(o, "Created", time_json(i->created_at));
        json_object_set_new(o, "Path", json_string(i->command && i->command[0] ? i->command[0] : ""));
        json_object_set_new(o, "Args", strv_json(i->command, 1));
        json_object_set_new(o, "State", state);
        json_object_set_new(o, "Image", json_string(i->image));
        json_object_set_new(o, "LogPath", json_string(log_path));
        json_object_set_new(o, "Name", json_string(name));
        json_object_set_new(o, "RestartCount", json_integer(i->restart_count));
        json_object_set_new(o, "Driver", json_string(i->snapshotter));
        json_object_set_new(o, "Platform", json_string("linux"));
        json_object_set_new(o, "HostConfig", host);
        json_object_set_new(o, "Config", config);
        return o;
}

const char *format_bytes_docker(uint64_t bytes, char buf[static 32]) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        double v = (double) bytes;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, 32, "%.4g%s", v, units[u]);
        return buf;
}
