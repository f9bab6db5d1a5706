/* slotmap.c — see slotmap.h. */
#include "slotmap.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static uint16_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (unsigned b = 0; b < 256; b++) {
        uint16_t crc = (uint16_t)(b << 8);
        for (int k = 0; k < 8; k++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        crc_table[b] = crc;
    }
}

uint16_t slot_crc16(const char *buf, size_t len)
{
    pthread_once(&crc_once, crc_table_init);
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc_table[((crc >> 8) ^ (uint8_t)buf[i]) & 0xff]);
    return crc;
}

unsigned slot_of_key(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1)
            return slot_crc16(open + 1, (size_t)(close - open - 1)) & (SLOTMAP_SLOTS - 1);
    }
    return slot_crc16(key, len) & (SLOTMAP_SLOTS - 1);
}

/* The index of host:port in map->node, added when new; -1 when the table is full. */
static int node_index(slotmap *map, const char *host, size_t hostlen, int port)
{
    for (int i = 0; i < map->nnodes; i++)
        if (map->node[i].port == port && strlen(map->node[i].host) == hostlen &&
            memcmp(map->node[i].host, host, hostlen) == 0)
            return i;
    if (map->nnodes == SLOTMAP_MAX_NODES || hostlen >= sizeof map->node[0].host) return -1;
    slotmap_node *n = &map->node[map->nnodes];
    memcpy(n->host, host, hostlen);
    n->host[hostlen] = '\0';
    n->port = port;
    return map->nnodes++;
}

bool slotmap_fetch(redisContext *c, const char *seed_host, slotmap *map, char *err,
                   size_t errcap)
{
    memset(map, 0, sizeof *map);
    memset(map->owner, 0xff, sizeof map->owner);
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    if (r == NULL) {
        snprintf(err, errcap, "CLUSTER SLOTS: %s", c->errstr);
        return false;
    }
    bool ok = r->type == REDIS_REPLY_ARRAY;
    if (!ok)
        snprintf(err, errcap, "CLUSTER SLOTS: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "not an array (not a cluster node?)");
    for (size_t i = 0; ok && i < r->elements; i++) {
        const redisReply *range = r->element[i];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER ||
            range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2) {
            snprintf(err, errcap, "CLUSTER SLOTS: malformed range %zu", i);
            ok = false;
            break;
        }
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        const redisReply *primary = range->element[2];
        const redisReply *h = primary->element[0], *p = primary->element[1];
        if (lo < 0 || hi >= SLOTMAP_SLOTS || lo > hi || h->type != REDIS_REPLY_STRING ||
            p->type != REDIS_REPLY_INTEGER) {
            snprintf(err, errcap, "CLUSTER SLOTS: malformed range %zu", i);
            ok = false;
            break;
        }
        const char *host = h->len > 0 && strcmp(h->str, "?") != 0 ? h->str : seed_host;
        int idx = node_index(map, host, strlen(host), (int)p->integer);
        if (idx < 0) {
            snprintf(err, errcap, "CLUSTER SLOTS: more than %d primaries", SLOTMAP_MAX_NODES);
            ok = false;
            break;
        }
        for (long long s = lo; s <= hi; s++) {
            if (map->owner[s] == 0xff) map->covered++;
            map->owner[s] = (uint8_t)idx;
        }
    }
    if (ok && map->nnodes == 0) {
        snprintf(err, errcap, "CLUSTER SLOTS: no slot is assigned");
        ok = false;
    }
    freeReplyObject(r);
    return ok;
}
