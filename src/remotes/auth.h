/* WWW-Authenticate challenges (RFC 7235 as registries use them: Basic, and Bearer with realm/service/scope). */
#pragma once

typedef enum auth_scheme {
        AUTH_SCHEME_NONE = 0, /* unknown or unsupported (Digest, Negotiate ...) */
        AUTH_SCHEME_BASIC,
        AUTH_SCHEME_BEARER,
} auth_scheme;

typedef struct auth_challenge {
        auth_scheme scheme;
        char *realm;
        char *service;
        char *scope;
        char *error; /* Bearer error="invalid_token" / "insufficient_scope" */
} auth_challenge;

/* Parses one header value such as `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"`.
 * Parameter names are case-insensitive, values may be tokens or quoted strings with backslash escapes. */
void auth_challenge_parse(const char *value, auth_challenge *ret);
void auth_challenge_done(auth_challenge *c);
