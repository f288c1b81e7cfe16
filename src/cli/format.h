/* Output helpers: human sizes and durations, short digests, docker's familiar image names, aligned tables. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "0 B", "512 B", "1.5 KiB", "12.3 MiB" (binary units). buf holds at least 16 bytes. */
const char *format_size(int64_t bytes, char buf[static 16]);
/* docker's HumanDuration: "Less than a second", "3 seconds", "About a minute", "5 hours", "2 weeks"... */
char *format_duration(int64_t nsec);
/* The first 12 hex digits of "sha256:<hex>" (the whole string when it has no "algo:" prefix). */
char *format_short_id(const char *digest);
/* "sha256:" + 12 hex digits: layer names in pull progress. */
char *format_short_digest(const char *digest);
/* docker.io/library/busybox:latest -> repository "busybox", tag "latest"; a digest-only name has tag "<none>". */
void format_split_name(const char *name, char **ret_repository, char **ret_tag);

/* A table printed like docker's (columns padded to the widest cell + 3 spaces). */
typedef struct table table;
table *table_new(size_t n_columns, const char *const *headers);
/* Adds a row of n_columns cells (copied). */
void table_add(table *t, const char *const *cells);
void table_print(const table *t, FILE *f);
table *table_free(table *t);
