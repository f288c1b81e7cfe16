/* Keeping the resident memory of the per-container processes small (the shim, berth-logger): they idle for the
 * container's whole life. */
#pragma once

/* Drops the page-table entries of the shim binary's read-only, never-written mappings (code and constants), which
 * start-up and the kernel's fault-around pulled in; the few pages the server then uses fault back in from the page
 * cache. Only pages that are byte-for-byte the file's are dropped, so nothing is lost. */
void memory_release_clean_pages(void);

/* Idle trim: the above plus returning free heap to the kernel. The server runs it periodically; the cost is a few
 * minor faults at the next request. Page-cache pages stay cached and shared between all shims either way: what
 * this changes is how many of them each idle shim keeps mapped (its RSS), not what the machine keeps in memory. */
void memory_trim(void);
