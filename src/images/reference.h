/* Image references in docker's grammar: [domain[:port]/]path[:tag][@digest].
 *
 *   domain      := component ('.' component)* [':' port]     component := [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
 *   path        := path-component ('/' path-component)*      path-component := [a-z0-9]+ (sep [a-z0-9]+)*
 *   sep         := '.' | '_' | '__' | '-'+
 *   tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest      := algorithm ':' hex                         (sha256/sha384/sha512, lowercase hex of the right length)
 *
 * Normalization follows docker: "busybox" is docker.io/library/busybox:latest, a first component is a domain
 * only if it holds a '.' or ':' or is "localhost", index.docker.io becomes docker.io. */
#pragma once

#include <stdbool.h>

#include "basic/error.h"

#define IMAGE_REF_DEFAULT_DOMAIN "docker.io"
#define IMAGE_REF_DEFAULT_TAG "latest"
#define IMAGE_REF_NAME_MAX 255

typedef struct image_ref {
        char *domain; /* "" when the reference has none (only possible from image_ref_parse) */
        char *path;   /* repository path below the domain, e.g. "library/busybox" */
        char *tag;    /* NULL when absent */
        char *digest; /* NULL when absent */
} image_ref;

/* Parses s exactly as written (no default domain, no default tag). Errors: BERR_INVALID_ARGUMENT with the
 * reason ("invalid reference format", "repository name must be lowercase", ...). */
int image_ref_parse(const char *s, image_ref **ret, berr **err);
/* Parses a familiar or full reference and normalizes it: default domain docker.io, "library/" for
 * docker.io's one-component names, tag "latest" when neither tag nor digest is given. */
int image_ref_parse_normalized(const char *s, image_ref **ret, berr **err);

image_ref *image_ref_free(image_ref *r);
static inline void image_ref_freep(image_ref **r) {
        *r = image_ref_free(*r);
}
#define _cleanup_image_ref_ _cleanup_(image_ref_freep)
image_ref *image_ref_copy(const image_ref *r);

/* "domain/path" (just "path" without a domain). */
char *image_ref_name(const image_ref *r);
/* "name[:tag][@digest]". */
char *image_ref_to_string(const image_ref *r);
/* Docker's familiar form: docker.io and library/ dropped, e.g. "busybox:latest", "user/app@sha256:...". */
char *image_ref_familiar(const image_ref *r);
/* The object a registry is asked for: the digest when present, else the tag (NULL if neither). */
const char *image_ref_object(const image_ref *r);

/* Validates a digest string the way go-digest does ("sha256:<64 lowercase hex>", sha384, sha512). */
int image_digest_validate(const char *digest, berr **err);
bool image_digest_is_valid(const char *digest);
