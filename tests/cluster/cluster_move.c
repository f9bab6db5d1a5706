/* Slot moves of the cluster tests (cluster.migration, cluster.pubsub): see cluster_util.h. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cu_move_slot(int slot, int from_port, int to_port, int batch, int pause_ms, char *why, size_t n) {
    cu_cluster cl;
    if (cu_cluster_read(from_port, &cl) != 0) {
        snprintf(why, n, "CLUSTER NODES on %d failed", from_port);
        return -1;
    }
    int fi = cu_node_index(&cl, from_port), ti = cu_node_index(&cl, to_port);
    if (fi < 0 || ti < 0) {
        snprintf(why, n, "nodes %d/%d not found", from_port, to_port);
        return -1;
    }
    char from_id[48], to_id[48];
    snprintf(from_id, sizeof from_id, "%s", cl.nodes[fi].id);
    snprintf(to_id, sizeof to_id, "%s", cl.nodes[ti].id);
    char *out = cu_cli(to_port, "CLUSTER SETSLOT %d IMPORTING %s", slot, from_id);
    if (!out || strncmp(out, "OK", 2) != 0) {
        snprintf(why, n, "SETSLOT IMPORTING on %d: %s", to_port, out ? out : "(cli failed)");
        free(out);
        return -1;
    }
    free(out);
    out = cu_cli(from_port, "CLUSTER SETSLOT %d MIGRATING %s", slot, to_id);
    if (!out || strncmp(out, "OK", 2) != 0) {
        snprintf(why, n, "SETSLOT MIGRATING on %d: %s", from_port, out ? out : "(cli failed)");
        free(out);
        return -1;
    }
    free(out);
    for (int round = 0;; round++) {
        out = cu_cli(from_port, "CLUSTER GETKEYSINSLOT %d %d", slot, batch);
        if (!out) {
            snprintf(why, n, "GETKEYSINSLOT on %d failed", from_port);
            return -1;
        }
        char args[8192];
        size_t off = 0;
        int nkeys = 0;
        char *save = NULL;
        for (char *k = strtok_r(out, "\n", &save); k; k = strtok_r(NULL, "\n", &save)) {
            if (!*k) continue;
            off += (size_t)snprintf(args + off, sizeof args - off, " '%s'", k);
            nkeys++;
        }
        free(out);
        if (nkeys == 0) break;
        out = cu_cli(from_port, "MIGRATE 127.0.0.1 %d '' 0 5000 AUTH %s KEYS%s", to_port, CU_PASSWORD, args);
        if (!out || (strncmp(out, "OK", 2) != 0 && strncmp(out, "NOKEY", 5) != 0)) {
            snprintf(why, n, "MIGRATE from %d to %d: %s", from_port, to_port, out ? out : "(cli failed)");
            free(out);
            return -1;
        }
        free(out);
        if (pause_ms) tu_sleep_ms(pause_ms);
        if (round > 100000) {
            snprintf(why, n, "slot %d never emptied on %d", slot, from_port);
            return -1;
        }
    }
    return cu_setslot_node_everywhere(slot, from_port, to_port, why, n);
}

int cu_return_slot(int slot, int home_port, char *why, size_t n) {
    cu_cluster cl;
    int dirty = 0;
    for (int i = 0; i < CU_NODES; i++)
        if (cu_cluster_read(cu_port(i), &cl) != 0 || cl.open_slots) dirty = 1;
    if (dirty) {
        char *out = cu_cli(home_port, "--cluster fix 127.0.0.1:%d --cluster-yes", home_port);
        free(out);
    }
    if (cu_cluster_read(home_port, &cl) != 0) {
        snprintf(why, n, "CLUSTER NODES on %d failed", home_port);
        return -1;
    }
    int owner = cu_owner_port(&cl, slot);
    if (owner > 0 && owner != home_port) return cu_move_slot(slot, owner, home_port, 100, 0, why, n);
    return 0;
}
