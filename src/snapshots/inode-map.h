/* (dev, ino) -> optional string, for counting each inode once (du) and re-creating hardlinks (copy). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct inode_map inode_map;

inode_map *inode_map_new(void);
/* Frees the map and the values it owns. */
void inode_map_free(inode_map *m);
/* Inserts (dev, ino) with value (owned by the map, may be NULL) unless present. Returns true if inserted. */
bool inode_map_put(inode_map *m, dev_t dev, ino_t ino, char *value_taken);
/* The value for (dev, ino), or NULL if absent (or stored as NULL). */
const char *inode_map_get(const inode_map *m, dev_t dev, ino_t ino);
size_t inode_map_size(const inode_map *m);
