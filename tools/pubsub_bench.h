/*
 * pubsub_bench.h — what the two halves of `rcm pubsub-bench` share: the throughput
 * comparison (pubsub_bench.c) and the failover recovery time (pubsub_failover.c).
 */
#ifndef RCM_TOOLS_PUBSUB_BENCH_H
#define RCM_TOOLS_PUBSUB_BENCH_H

#include "cli.h"
#include "target.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every payload starts with its sequence number in PSB_SEQ_DIGITS decimal digits, so a
 * receiver sees loss and reordering without any bookkeeping of the publisher's. */
#define PSB_SEQ_DIGITS 10

/** Writes seq into the first PSB_SEQ_DIGITS bytes of p (zero-padded). */
void psb_put_seq(char *p, long long seq);

/** The sequence number at the head of a payload; -1 when it has none. */
long long psb_get_seq(const char *p, size_t len);

/** CPU seconds (user + system) of the calling thread. */
double psb_thread_cpu_s(void);

/** CPU seconds (user + system) of the whole process, every thread. */
double psb_process_cpu_s(void);

/** `rcm pubsub-bench --failover ...` (pubsub_failover.c); argv as cli_pubsub_bench got it. */
int psb_failover(const cli_opts *opts, const cli_target *target, int argc, char **argv);

#endif /* RCM_TOOLS_PUBSUB_BENCH_H */
