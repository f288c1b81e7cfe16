/* ext4's "top of a directory hierarchy" hint (chattr +T) for directories whose subdirectories are unrelated to
 * each other: one per container (bundles, snapshots, log dirs, runc state).
 *
 * ext4's Orlov allocator places a new directory near its parent, unless the parent is the root or carries this
 * flag; then it spreads the new directory to a block group with plenty of free inodes. Near the parent is where
 * the previous containers' files were, and on ext4 without a journal, inodes freed in the last 60 s (360 s while
 * their inode table block is dirty) are skipped one by one while searching for a free one: after a burst of
 * removals every file or directory created there cost ~0.5 ms here, 7 of them in berthd's part of every start.
 * Spread out, each container's directory lands in a quiet group. Elsewhere (a journal, tmpfs, another
 * filesystem) the flag changes nothing measurable, and where it is unsupported nothing is done. */
#pragma once

/* Best effort: sets the flag on the directory at path unless it is already set; errors are ignored. */
void dir_mark_topdir(const char *path);
