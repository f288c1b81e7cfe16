/* Finding one member of a JSON object without parsing the rest of it. berth's listings read a few fields of each
 * container's OCI spec (process, hostname, linux.resources); a full parse of every ~3 KB spec (mounts, masked
 * paths, devices, capabilities: dozens of small objects) was three quarters of a 50-container `ps`. The scan
 * skips over the other members' text (strings, nesting) and the caller parses just the value it wants. It never
 * reads past len; on anything it does not understand it says "not found", and callers then parse the whole text. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* The offset in text of the value of the member named key (compared byte for byte with the raw, unescaped key
 * text) of the object text starts with (after whitespace); the last one when the key repeats (as a parser keeps
 * it). -1 when text does not start with an object, the key is not one of its own members (nested ones do not
 * count), or the object is malformed or does not end within len. */
ssize_t json_scan_member(const char *text, size_t len, const char *key);
