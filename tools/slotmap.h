/*
 * slotmap.h — the cluster slot map of the bench's raw-hiredis baseline: CRC16/XMODEM hash
 * slots with the {hash tag} rule, and the slot -> primary table read once with CLUSTER
 * SLOTS through a hiredis context.
 *
 * This is deliberately the simplest routing a hand-written client would do (no MOVED,
 * no refresh): the baseline rcm's cluster mode is measured against. It is not librcm's
 * router, which the tool never sees.
 */
#ifndef RCM_TOOLS_SLOTMAP_H
#define RCM_TOOLS_SLOTMAP_H

#include <hiredis/hiredis.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTMAP_SLOTS 16384
#define SLOTMAP_MAX_NODES 64

/** CRC16/XMODEM (poly 0x1021, init 0) of len bytes, table-driven. Thread-safe. */
uint16_t slot_crc16(const char *buf, size_t len);

/** The hash slot of a key: CRC16 of the content of the first non-empty {...} when there
 *  is one, else of the whole key, mod 16384. */
unsigned slot_of_key(const char *key, size_t len);

typedef struct slotmap_node {
    char host[256];
    int port;
} slotmap_node;

typedef struct slotmap {
    int nnodes;                        /* primaries that own at least one slot */
    slotmap_node node[SLOTMAP_MAX_NODES];
    uint8_t owner[SLOTMAP_SLOTS];      /* index into node[]; 0xff: uncovered */
    int covered;                       /* slots with an owner */
} slotmap;

/** Fills *map from CLUSTER SLOTS sent on c (an address the reply leaves empty is
 *  seed_host). Returns false with a message in err when the reply is not a slot map. */
bool slotmap_fetch(redisContext *c, const char *seed_host, slotmap *map, char *err,
                   size_t errcap);

#endif /* RCM_TOOLS_SLOTMAP_H */
