/* cluster.slot_moves: the harness's own slot move (cu_setslot_node_everywhere, which
 * every slot-moving test ends with) leaves the new owner holding the cluster's highest
 * config epoch, so no node's gossip can take the slot back.
 *
 * Without that, a move to a node with a lower epoch than the old owner raced the old
 * owner's gossip: had the old owner heard the new claim before its own SETSLOT, it sent
 * the new owner an UPDATE that took the slot back, and the two disagreed for good (seen
 * once in a fresh chroot: cluster.pipeline failed moving a slot back, and every later
 * cluster test found the layout broken). The race is rare; its precondition is not, and
 * that is what this test holds: each move goes to the primary whose epoch is not the
 * highest, and must leave it the highest. */
#define _GNU_SOURCE
#include "cluster_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An empty slot of the primary on `port` (SETSLOT NODE needs no keys to follow). */
static int empty_slot_of(const cu_cluster *cl, int port) {
    for (int s = 0; s < CU_SLOTS; s++) {
        if (cu_owner_port(cl, s) != port) continue;
        char *out = cu_cli(port, "CLUSTER COUNTKEYSINSLOT %d", s);
        int keys = out ? atoi(out) : -1;
        free(out);
        if (keys == 0) return s;
    }
    return -1;
}

/* Fails unless the primary on `port` has a config epoch above every other primary's, as
 * the node on `port` itself reports them (a replica's line shows its primary's epoch). */
static void assert_highest_epoch(int port, int slot) {
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(port, &cl), 0);
    int me = cu_node_index(&cl, port);
    assert_true(me >= 0);
    for (int i = 0; i < cl.n; i++) {
        if (i == me || !cl.nodes[i].primary) continue;
        if (cl.nodes[i].config_epoch >= cl.nodes[me].config_epoch)
            fail_msg("after taking slot %d, %d has config epoch %lld, and %d has %lld: a gossip UPDATE "
                     "from %d could take the slot back",
                     slot, port, cl.nodes[me].config_epoch, cl.nodes[i].port, cl.nodes[i].config_epoch,
                     cl.nodes[i].port);
    }
}

/* The primary, other than `not_port`, with the lowest config epoch. */
static int lowest_epoch_primary(const cu_cluster *cl, int not_port) {
    int best = -1;
    for (int i = 0; i < cl->n; i++) {
        if (!cl->nodes[i].primary || cl->nodes[i].port == not_port) continue;
        if (best < 0 || cl->nodes[i].config_epoch < cl->nodes[best].config_epoch) best = i;
    }
    return best < 0 ? -1 : cl->nodes[best].port;
}

static void test_slot_moves__new_owner_holds_the_highest_epoch(void **state) {
    (void)state;
    cu_cluster cl;
    assert_int_equal(cu_cluster_read(cu_port(0), &cl), 0);
    const int home = cu_port(0);
    const int slot = empty_slot_of(&cl, home);
    if (slot < 0) fail_msg("%d owns no empty slot", home);
    const int away = lowest_epoch_primary(&cl, home);
    assert_true(away > 0);
    char why[256];

    /* Away, to the primary with the lowest epoch: it cannot hold the highest already. */
    if (cu_setslot_node_everywhere(slot, home, away, why, sizeof why) != 0) fail_msg("moving slot %d: %s", slot, why);
    if (!cu_wait_owner_everywhere(slot, away, 20)) fail_msg("not every node names %d the owner of slot %d", away, slot);
    assert_highest_epoch(away, slot);

    /* And back: home's epoch is now below away's. */
    if (cu_setslot_node_everywhere(slot, away, home, why, sizeof why) != 0) fail_msg("moving slot %d back: %s", slot, why);
    if (!cu_wait_owner_everywhere(slot, home, 20)) fail_msg("slot %d did not return to %d everywhere", slot, home);
    assert_highest_epoch(home, slot);

    /* Nothing left open: no node still marks the slot importing or migrating. */
    for (int i = 0; i < CU_NODES; i++) {
        assert_int_equal(cu_cluster_read(cu_port(i), &cl), 0);
        if (cl.open_slots) fail_msg("node %d still shows an open slot after the moves", cu_port(i));
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_moves__new_owner_holds_the_highest_epoch),
    };
    return TU_RUN(tests, argc, argv);
}
