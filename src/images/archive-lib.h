/* libarchive is loaded on first use (archive-lib.c), not linked: it and its dependencies (xml2, icu, lzma, bz2,
 * lz4, nettle, acl ...) cost milliseconds at every berthd start, and only layer unpack, import and export need it. */
#pragma once

#include "basic/error.h"

/* Loads libarchive (once; thread-safe). Every path into libarchive passes here first (layer apply, import,
 * export), so a missing or broken libarchive is an error of that request, not a crash. */
int archive_lib_load(berr **err);
