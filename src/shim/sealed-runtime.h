/* The OCI runtime executed from berthd's sealed copy of it (src/runtime/sealed-runtime.c, basic/sealed-exe.h):
 * berthd hands the server the descriptor and describes the file it copied in BERTH_SEALED_RUNTIME. */
#pragma once

/* Takes over the descriptor named by BERTH_SEALED_RUNTIME (close-on-exec from now on) and drops the variable;
 * nothing happens when it is absent or does not describe a sealed copy. Call once, in the server. */
void shim_sealed_runtime_init(void);

/* The sealed copy's descriptor when path (an absolute path) still names the very file that was copied; else -1
 * (execute path itself). */
int shim_sealed_runtime_fd(const char *path);
