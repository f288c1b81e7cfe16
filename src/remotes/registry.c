/* The registry object: options, host lists, curl defaults, cancellation. */
#include <jansson.h>
#include <string.h>

#include "basic/strv.h"
#include "remotes/curl-lib.h"
#include "remotes/registry-internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void registry_global_cleanup(void) {
        curl_global_cleanup();
}

static char *dup_or_null(const char *s) {
        return s ? xstrdup(s) : NULL;
}

int registry_new(const registry_options *opts, registry **ret, berr **err) {
        static const registry_options none = { 0 };
        if (!opts)
                opts = &none;
        if (curl_lib_load(err) < 0)
                return -1;
        pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return berr_set(err, BERR_INTERNAL, 0, "curl_global_init: %s", curl_easy_strerror(curl_init_result));
        registry *r = xcalloc(1, sizeof *r);
        r->hosts_dir = dup_or_null(opts->hosts_dir);
        r->docker_config = dup_or_null(opts->docker_config);
        r->username = dup_or_null(opts->username);
        r->password = dup_or_null(opts->password);
        r->plain_http = opts->plain_http;
        r->skip_verify = opts->skip_verify;
        r->user_agent = xstrdup(opts->user_agent ? opts->user_agent : "berth/1");
        r->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 10000;
        r->low_speed_time_s = opts->low_speed_time_s > 0 ? opts->low_speed_time_s : 30;
        r->auto_resume = opts->auto_resume == 0 ? 3 : opts->auto_resume < 0 ? 0 : opts->auto_resume;
        r->settings = xcalloc(opts->n_hosts + 1, sizeof *r->settings);
        for (size_t i = 0; i < opts->n_hosts; i++) {
                const registry_host_settings *o = &opts->hosts[i];
                size_t nm = strv_length(o->mirrors);
                r->settings[r->n_settings++] = (registry_host_settings) {
                        .domain = xstrdup(o->domain ? o->domain : ""),
                        .plain_http = o->plain_http,
                        .skip_verify = o->skip_verify,
                        .ca_file = dup_or_null(o->ca_file),
                        .mirrors = o->mirrors ? strv_copy_n(o->mirrors, nm) : NULL,
                };
        }
        pthread_mutex_init(&r->lock, NULL);
        atomic_init(&r->canceled, false);
        *ret = r;
        return 0;
}

registry *registry_free(registry *r) {
        if (!r)
                return NULL;
        registry_auth_free_all(r);
        for (size_t i = 0; i < r->n_host_lists; i++) {
                free(r->host_lists[i].domain);
                registry_hosts_free(r->host_lists[i].hosts, r->host_lists[i].n);
        }
        free(r->host_lists);
        for (size_t i = 0; i < r->n_settings; i++) {
                free((char *) r->settings[i].domain);
                free((char *) r->settings[i].ca_file);
                strv_free((char **) r->settings[i].mirrors);
        }
        free(r->settings);
        free(r->active);
        free(r->hosts_dir);
        free(r->docker_config);
        free(r->username);
        free(r->password);
        free(r->user_agent);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
}

void registry_cancel(registry *r) {
        atomic_store(&r->canceled, true);
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_active; i++)
                curl_multi_wakeup(r->active[i]);
        pthread_mutex_unlock(&r->lock);
}

bool registry_is_canceled(registry *r) {
        return atomic_load(&r->canceled);
}

int registry_hosts_for(registry *r, const char *domain, const registry_host **ret, size_t *ret_n, berr **err) {
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->n_host_lists; i++)
                if (strcmp(r->host_lists[i].domain, domain) == 0) {
                        *ret = r->host_lists[i].hosts;
                        *ret_n = r->host_lists[i].n;
                        pthread_mutex_unlock(&r->lock);
                        return 0;
                }
        pthread_mutex_unlock(&r->lock);

        registry_host *hosts;
        size_t n;
        if (registry_hosts_lookup(r->hosts_dir, domain, false, false, &hosts, &n, err) < 0)
                return -1;
        for (size_t i = 0; i < r->n_settings; i++) {
                const registry_host_settings *s = &r->settings[i];
                if (strcmp(s->domain, domain) == 0 &&
                    registry_hosts_apply(&hosts, &n, domain, s->plain_http, s->skip_verify, s->ca_file, s->mirrors,
                                         err) < 0) {
                        registry_hosts_free(hosts, n);
                        return -1;
                }
        }
        /* Command-line overrides win over every file. */
        for (size_t i = 0; i < n; i++) {
                if (r->plain_http) {
                        free(hosts[i].scheme);
                        hosts[i].scheme = xstrdup("http");
                }
                hosts[i].skip_verify = hosts[i].skip_verify || r->skip_verify;
        }
        pthread_mutex_lock(&r->lock);
        r->host_lists = xrealloc(r->host_lists, (r->n_host_lists + 1) * sizeof *r->host_lists);
        r->host_lists[r->n_host_lists++] = (host_list) { .domain = xstrdup(domain), .hosts = hosts, .n = n };
        pthread_mutex_unlock(&r->lock);
        *ret = hosts;
        *ret_n = n;
        return 0;
}

/* Lets registry_cancel() stop a transfer that is not delivering data (connecting, stalled, a token request). */
static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        return registry_is_canceled(userdata) ? 1 : 0;
}

void registry_curl_setup(registry *r, CURL *easy, const registry_host *host, char *errbuf) {
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
        curl_easy_setopt(easy, CURLOPT_XFERINFODATA, r);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, r->user_agent);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
        /* No overall timeout (a 10 GB layer is fine); a stalled transfer is cut by the low-speed limit. */
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, r->low_speed_time_s);
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
        /* HTTP/2 where TLS negotiates it, HTTP/1.1 otherwise (and always on plain http). */
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
        bool skip = r->skip_verify || (host && host->skip_verify);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, skip ? 0L : 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, skip ? 0L : 2L);
        if (host && host->ca_file)
                curl_easy_setopt(easy, CURLOPT_CAINFO, host->ca_file);
        if (host && host->client_cert) {
                curl_easy_setopt(easy, CURLOPT_SSLCERT, host->client_cert);
                curl_easy_setopt(easy, CURLOPT_SSLKEY, host->client_key ? host->client_key : host->client_cert);
        }
}

char *registry_error_text(const char *body, size_t len) {
        if (!body || len == 0)
                return NULL;
        json_t *root = json_loadb(body, len, 0, NULL);
        json_t *errors = json_object_get(root, "errors");
        char *out = NULL;
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) {
                const char *code = json_string_value(json_object_get(e, "code"));
                const char *msg = json_string_value(json_object_get(e, "message"));
                _cleanup_free_ char *lc = xstrdup(code ? code : "unknown");
                for (char *p = lc; *p; p++)
                        *p = *p == '_' ? ' ' : (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
                char *one = msg && *msg ? xasprintf("%s: %s", lc, msg) : xstrdup(lc);
                if (out) {
                        char *joined = xasprintf("%s; %s", out, one);
                        free(out);
                        free(one);
                        out = joined;
                } else {
                        out = one;
                }
        }
        json_decref(root);
        return out;
}

const EVP_MD *registry_digest_md(const char *digest) {
        if (!digest)
                return NULL;
        if (strncmp(digest, "sha256:", 7) == 0)
                return EVP_sha256();
        if (strncmp(digest, "sha384:", 7) == 0)
                return EVP_sha384();
        if (strncmp(digest, "sha512:", 7) == 0)
                return EVP_sha512();
        return NULL;
}

char *registry_digest_final(EVP_MD_CTX *md, const char *alg) {
        unsigned char buf[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_DigestFinal_ex(md, buf, &n);
        char *out = xmalloc(strlen(alg) + 1 + 2 * n + 1);
        size_t o = sprintf(out, "%s:", alg);
        for (unsigned i = 0; i < n; i++)
                o += sprintf(out + o, "%02x", buf[i]);
        return out;
}
