/* How the container commands show containers: docker's ps columns and status texts, inspect's JSON, the
 * timestamps docker prints. Pure functions of their inputs (now is passed in) so they can be tested. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "berth/berth.h"

/* docker ps STATUS: "Created", "Up 3 seconds", "Up 3 seconds (Paused)", "Exited (7) 2 seconds ago",
 * "Restarting (1) 1 second ago". */
char *format_container_status(const berth_container_info *i, int64_t now_ns);
/* docker ps CREATED: "5 seconds ago". */
char *format_ago(int64_t then_ns, int64_t now_ns);
/* docker ps COMMAND: the args joined by spaces, cut to 20 characters with "…" and quoted like Go's %q. */
char *format_container_command(const char *const *args, bool truncate);
/* The image as the user would have typed it: "busybox", "berth/busybox:1.36", "host:5000/x:latest". */
char *format_familiar_image(const char *name);
/* Go's time.RFC3339Nano in UTC ("2023-05-01T10:00:00.123456789Z"); 0 = "0001-01-01T00:00:00Z". */
char *format_rfc3339(int64_t ns);
/* Go's time.Time.String() in local time: "2001-09-09 01:46:40.000000123 +0000 UTC" (ctr events, ps json). */
char *format_go_time(int64_t ns);
/* "k=v,k2=v2" (docker ps --format json Labels). */
char *format_labels_csv(const char *const *labels);
/* One `berth ps --format json` object (docker's keys). */
json_t *container_ps_json(const berth_container_info *i, int64_t now_ns);
/* One element of `berth inspect` (docker's shape). */
json_t *container_inspect_json(const berth_container_info *i);
/* "1.523MiB", "7.667GiB", "0B": docker's units.BytesSize (stats). buf holds at least 32 bytes. */
const char *format_bytes_docker(uint64_t bytes, char buf[static 32]);
int64_t now_realtime_ns(void);
