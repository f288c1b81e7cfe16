/* Open addressing with linear probing; grows at 50% load. */
#include <stdint.h>
#include <stdlib.h>

#include "basic/macro.h"
#include "snapshots/inode-map.h"

typedef struct slot {
        dev_t dev;
        ino_t ino;
        char *value;
        bool used;
} slot;

struct inode_map {
        slot *slots;
        size_t cap, n;
};

static size_t hash(dev_t dev, ino_t ino) {
        uint64_t h = (uint64_t) ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t) dev * 0xC2B2AE3D27D4EB4FULL;
        return (size_t) (h ^ (h >> 29));
}

inode_map *inode_map_new(void) {
        inode_map *m = xcalloc(1, sizeof *m);
        m->cap = 64;
        m->slots = xcalloc(m->cap, sizeof(slot));
        return m;
}

void inode_map_free(inode_map *m) {
        if (!m)
                return;
        for (size_t i = 0; i < m->cap; i++)
                free(m->slots[i].value);
        free(m->slots);
        free(m);
}

static slot *find(const inode_map *m, dev_t dev, ino_t ino) {
        for (size_t i = hash(dev, ino) & (m->cap - 1);; i = (i + 1) & (m->cap - 1))
                if (!m->slots[i].used || (m->slots[i].dev == dev && m->slots[i].ino == ino))
                        return &m->slots[i];
}

static void grow(inode_map *m) {
        slot *old = m->slots;
        size_t oldcap = m->cap;
        m->cap *= 2;
        m->slots = xcalloc(m->cap, sizeof(slot));
        for (size_t i = 0; i < oldcap; i++)
                if (old[i].used)
                        *find(m, old[i].dev, old[i].ino) = old[i];
        free(old);
}

bool inode_map_put(inode_map *m, dev_t dev, ino_t ino, char *value_taken) {
        slot *s = find(m, dev, ino);
        if (s->used) {
                free(value_taken);
                return false;
        }
        *s = (slot) { .dev = dev, .ino = ino, .value = value_taken, .used = true };
        if (++m->n * 2 > m->cap)
                grow(m);
        return true;
}

const char *inode_map_get(const inode_map *m, dev_t dev, ino_t ino) {
        const slot *s = find(m, dev, ino);
        return s->used ? s->value : NULL;
}

size_t inode_map_size(const inode_map *m) {
        return m->n;
}
