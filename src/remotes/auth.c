/* Per-host authorization, as containerd's docker authorizer does it: a 401's challenge creates a handler for
 * that host (Basic with the configured credentials, or Bearer with the realm's token service); later requests to
 * the host send the Authorization header up front; bearer tokens are cached per scope. Token requests use the
 * GET flow of the Docker token spec (realm?service=..&scope=.., Basic credentials when we have them). */
#include <jansson.h>
#include <string.h>

#include "basic/log.h"
#include "remotes/credentials.h"
#include "remotes/registry-internal.h"

static void handler_done(auth_handler *h) {
        free(h->host);
        free(h->realm);
        free(h->service);
        free(h->challenge_scope);
        free(h->username);
        free(h->secret);
        for (size_t i = 0; i < h->n_tokens; i++) {
                free(h->tokens[i].scope);
                free(h->tokens[i].value);
        }
        free(h->tokens);
}

void registry_auth_free_all(registry *r) {
        for (size_t i = 0; i < r->n_auth; i++)
                handler_done(&r->auth[i]);
        free(r->auth);
        r->auth = NULL;
        r->n_auth = 0;
}

/* Caller holds r->lock. */
static auth_handler *handler_find(registry *r, const char *host) {
        for (size_t i = 0; i < r->n_auth; i++)
                if (strcmp(r->auth[i].host, host) == 0)
                        return &r->auth[i];
        return NULL;
}

static const char *token_find(const auth_handler *h, const char *scope) {
        for (size_t i = 0; i < h->n_tokens; i++)
                if (strcmp(h->tokens[i].scope, scope) == 0)
                        return h->tokens[i].value;
        return NULL;
}

static void token_drop(auth_handler *h, const char *scope) {
        for (size_t i = 0; i < h->n_tokens; i++)
                if (strcmp(h->tokens[i].scope, scope) == 0) {
                        free(h->tokens[i].scope);
                        free(h->tokens[i].value);
                        h->tokens[i] = h->tokens[--h->n_tokens];
                        return;
                }
}

typedef struct membuf {
        char *buf;
        size_t len;
        bool overflow;
} membuf;

static size_t membuf_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        membuf *m = userdata;
        size_t n = size * nmemb;
        if (m->len + n > (1u << 20)) { /* a token response is small */
                m->overflow = true;
                return 0;
        }
        m->buf = xrealloc(m->buf, m->len + n + 1);
        memcpy(m->buf + m->len, ptr, n);
        m->len += n;
        m->buf[m->len] = '\0';
        return n;
}

static void url_add_param(CURL *easy, char **url, const char *key, const char *value) {
        char *esc = curl_easy_escape(easy, value, 0);
        char *n = xasprintf("%s%s%s=%s", *url, strchr(*url, '?') ? "&" : "?", key, esc ? esc : "");
        curl_free(esc);
        free(*url);
        *url = n;
}

/* Fetches a bearer token for scope (blocking). Returns "Bearer <token>". */
static int fetch_token(registry *r, const registry_host *host, const char *realm, const char *service,
                       const char *scope, const char *challenge_scope, const char *user, const char *secret,
                       char **ret, berr **err) {
        if (strncmp(realm, "http://", 7) != 0 && strncmp(realm, "https://", 8) != 0)
                return berr_set(err, BERR_UNAUTHENTICATED, 0, "invalid token auth challenge realm \"%s\"", realm);
        CURL *easy = curl_easy_init();
        if (!easy)
                return berr_set(err, BERR_INTERNAL, ENOMEM, "curl_easy_init failed");
        char errbuf[CURL_ERROR_SIZE] = "";
        /* The host's TLS settings apply when the token service is on the same host. */
        _cleanup_free_ char *realm_host = NULL;
        {
                const char *p = strstr(realm, "://") + 3;
                realm_host = xstrndup(p, strcspn(p, "/?#"));
        }
        registry_curl_setup(r, easy, strcmp(realm_host, host->host) == 0 ? host : NULL, errbuf);
        _cleanup_free_ char *url = xstrdup(realm);
        if (service && *service)
                url_add_param(easy, &url, "service", service);
        url_add_param(easy, &url, "scope", scope);
        if (challenge_scope && *challenge_scope && strcmp(challenge_scope, scope) != 0)
                url_add_param(easy, &url, "scope", challenge_scope);
        membuf body = { 0 };
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, membuf_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
        if (user && secret) {
                curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                curl_easy_setopt(easy, CURLOPT_USERNAME, user);
                curl_easy_setopt(easy, CURLOPT_PASSWORD, secret);
        }
        CURLcode res = curl_easy_perform(easy);
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(easy);
        _cleanup_free_ char *bodybuf = body.buf;
        if (res != CURLE_OK)
                return berr_set(err, BERR_UNAVAILABLE, 0, "failed to fetch token from %s: %s", realm,
                                body.overflow ? "response too large" : *errbuf ? errbuf : curl_easy_strerror(res));
        if (status < 200 || status >= 400) {
                _cleanup_free_ char *text = registry_error_text(body.buf, body.len);
                if (status == 401 || status == 403)
                        return berr_set(err, BERR_UNAUTHENTICATED, 0, "failed to fetch token from %s: unauthorized: %s",
                                        realm, text ? text : "invalid credentials");
                return berr_set(err, BERR_UNAVAILABLE, 0, "failed to fetch token from %s: unexpected status %ld%s%s",
                                realm, status, text ? ": " : "", text ? text : "");
        }
        json_t *root = json_loadb(body.buf ? body.buf : "", body.len, 0, NULL);
        const char *tok = json_string_value(json_object_get(root, "access_token"));
        if (!tok || !*tok)
                tok = json_string_value(json_object_get(root, "token"));
        if (!tok || !*tok) {
                json_decref(root);
                return berr_set(err, BERR_UNAUTHENTICATED, 0,
                                "authorization server %s did not include a token in the response", realm);
        }
        *ret = xasprintf("Bearer %s", tok);
        json_decref(root);
        return 0;
}

int registry_auth_header(registry *r, const registry_host *host, const char *scope, char **ret, berr **err) {
        pthread_mutex_lock(&r->lock);
        auth_handler *h = handler_find(r, host->host);
        if (!h) {
                pthread_mutex_unlock(&r->lock);
                *ret = NULL;
                return 0;
        }
        if (h->scheme == AUTH_SCHEME_BASIC) {
                _cleanup_free_ char *pair = xasprintf("%s:%s", h->username, h->secret);
                _cleanup_free_ char *enc = registry_base64_encode(pair, strlen(pair));
                pthread_mutex_unlock(&r->lock);
                *ret = xasprintf("Basic %s", enc);
                return 0;
        }
        const char *cached = token_find(h, scope);
        if (cached) {
                *ret = xstrdup(cached);
                pthread_mutex_unlock(&r->lock);
                return 0;
        }
        /* Copy what the token request needs: the handler array may move while the lock is released. */
        _cleanup_free_ char *realm = xstrdup(h->realm), *service = h->service ? xstrdup(h->service) : NULL;
        _cleanup_free_ char *cscope = h->challenge_scope ? xstrdup(h->challenge_scope) : NULL;
        _cleanup_free_ char *user = h->username ? xstrdup(h->username) : NULL;
        _cleanup_free_ char *secret = h->secret ? xstrdup(h->secret) : NULL;
        pthread_mutex_unlock(&r->lock);

        _cleanup_free_ char *value = NULL;
        if (fetch_token(r, host, realm, service, scope, cscope, user, secret, &value, err) < 0)
                return -1;
        pthread_mutex_lock(&r->lock);
        h = handler_find(r, host->host);
        if (h && !token_find(h, scope)) {
                h->tokens = xrealloc(h->tokens, (h->n_tokens + 1) * sizeof *h->tokens);
                h->tokens[h->n_tokens++] = (auth_token) { .scope = xstrdup(scope), .value = xstrdup(value) };
        }
        pthread_mutex_unlock(&r->lock);
        *ret = TAKE_PTR(value);
        return 0;
}

static int credentials_for(registry *r, const char *host, char **user, char **secret, berr **err) {
        if (r->username && r->password) {
                *user = xstrdup(r->username);
                *secret = xstrdup(r->password);
                return 1;
        }
        return registry_credentials_lookup(r->docker_config, host, user, secret, err);
}

static int unauthorized(berr **err, const char *host, const char *why, const char *server_msg) {
        /* Callers pass a server message that already says "unauthorized". */
        return berr_set(err, BERR_UNAUTHENTICATED, 0, "pull access denied for %s, %s: %s", host, why,
                        server_msg ? server_msg : "unauthorized: authentication required");
}

int registry_auth_challenge(registry *r, const registry_host *host, char **challenges, size_t n,
                            const char *scope, bool sent_auth, const char *server_msg, berr **err) {
        _cleanup_free_ char *msg = NULL;
        if (server_msg && !strstr(server_msg, "unauthorized"))
                msg = xasprintf("unauthorized: %s", server_msg);
        const char *smsg = msg ? msg : server_msg;

        auth_challenge bearer = { 0 }, basic = { 0 };
        for (size_t i = 0; i < n; i++) {
                auth_challenge c;
                auth_challenge_parse(challenges[i], &c);
                if (c.scheme == AUTH_SCHEME_BEARER && bearer.scheme == AUTH_SCHEME_NONE)
                        bearer = c;
                else if (c.scheme == AUTH_SCHEME_BASIC && basic.scheme == AUTH_SCHEME_NONE)
                        basic = c;
                else
                        auth_challenge_done(&c);
        }
        int ret = 0;
        if (bearer.scheme == AUTH_SCHEME_BEARER) {
                if (!bearer.realm) {
                        ret = berr_set(err, BERR_UNAUTHENTICATED, 0,
                                       "%s: no realm specified for token auth challenge", host->host);
                        goto out;
                }
                pthread_mutex_lock(&r->lock);
                auth_handler *h = handler_find(r, host->host);
                if (h && h->scheme == AUTH_SCHEME_BEARER) {
                        /* A refused token is dropped and fetched again once (the caller counts retries); a
                         * request sent before another one set the handler up just goes again with it. */
                        if (sent_auth)
                                token_drop(h, scope);
                        pthread_mutex_unlock(&r->lock);
                        goto out;
                }
                pthread_mutex_unlock(&r->lock);
                _cleanup_free_ char *user = NULL, *secret = NULL;
                if (credentials_for(r, host->host, &user, &secret, err) < 0) {
                        ret = -1;
                        goto out;
                }
                pthread_mutex_lock(&r->lock);
                h = handler_find(r, host->host);
                if (h) {
                        handler_done(h);
                } else {
                        r->auth = xrealloc(r->auth, (r->n_auth + 1) * sizeof *r->auth);
                        h = &r->auth[r->n_auth++];
                }
                *h = (auth_handler) {
                        .host = xstrdup(host->host),
                        .scheme = AUTH_SCHEME_BEARER,
                        .realm = TAKE_PTR(bearer.realm),
                        .service = TAKE_PTR(bearer.service),
                        .challenge_scope = TAKE_PTR(bearer.scope),
                        .username = TAKE_PTR(user),
                        .secret = TAKE_PTR(secret),
                };
                pthread_mutex_unlock(&r->lock);
                goto out;
        }
        if (basic.scheme == AUTH_SCHEME_BASIC) {
                if (sent_auth) {
                        ret = unauthorized(err, host->host, "invalid username or password", smsg);
                        goto out;
                }
                pthread_mutex_lock(&r->lock);
                bool ready = handler_find(r, host->host) != NULL;
                pthread_mutex_unlock(&r->lock);
                if (ready)
                        goto out;
                _cleanup_free_ char *user = NULL, *secret = NULL;
                int found = credentials_for(r, host->host, &user, &secret, err);
                if (found < 0) {
                        ret = -1;
                        goto out;
                }
                if (found == 0 || !*user || !*secret) {
                        ret = unauthorized(err, host->host, "no credentials configured", smsg);
                        goto out;
                }
                pthread_mutex_lock(&r->lock);
                auth_handler *h = handler_find(r, host->host);
                if (h) {
                        handler_done(h);
                } else {
                        r->auth = xrealloc(r->auth, (r->n_auth + 1) * sizeof *r->auth);
                        h = &r->auth[r->n_auth++];
                }
                *h = (auth_handler) {
                        .host = xstrdup(host->host),
                        .scheme = AUTH_SCHEME_BASIC,
                        .username = TAKE_PTR(user),
                        .secret = TAKE_PTR(secret),
                };
                pthread_mutex_unlock(&r->lock);
                goto out;
        }
        ret = unauthorized(err, host->host, "no supported authentication scheme offered", smsg);
out:
        auth_challenge_done(&bearer);
        auth_challenge_done(&basic);
        return ret;
}
