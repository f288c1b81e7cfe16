/* libcurl is loaded on first use (curl-lib.c), not linked: its ~30 dependencies (TLS, ldap, krb5, ssh, idn ...)
 * cost several ms at every berthd start, and only registry pulls need it. */
#pragma once

#include "basic/error.h"

/* Loads libcurl (once; thread-safe). Every path into libcurl passes here first (registry_new), so a missing or
 * broken libcurl is an error of the pull that needs it, not a crash. */
int curl_lib_load(berr **err);
