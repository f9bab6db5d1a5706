/*
 * histogram.h — a small log-linear latency histogram for the rcm tool's bench.
 *
 * Values are nanoseconds. Below 64 ns every value has its own bucket; above, each power
 * of two is split into 32 buckets, so a percentile is within ~3% of the true value. A
 * histogram is written by one thread; merge per-thread histograms after a run.
 */
#ifndef RCM_TOOLS_HISTOGRAM_H
#define RCM_TOOLS_HISTOGRAM_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_LINEAR 64u
#define HIST_BUCKETS (HIST_LINEAR + (64u - 6u) * HIST_SUB)

typedef struct hist {
    uint64_t count;
    uint64_t bucket[HIST_BUCKETS];
} hist;

static inline unsigned hist_bucket_of(uint64_t ns)
{
    if (ns < HIST_LINEAR) return (unsigned)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns); /* >= 6 */
    unsigned sub = (unsigned)(ns >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1u);
    return HIST_LINEAR + (msb - 6u) * HIST_SUB + sub;
}

/** Records one value. One thread per histogram. */
static inline void hist_add(hist *h, uint64_t ns)
{
    h->bucket[hist_bucket_of(ns)]++;
    h->count++;
}

/** Zeroes a histogram. */
void hist_reset(hist *h);

/** Adds every count of src into dst. */
void hist_merge(hist *dst, const hist *src);

/** The value (ns, a bucket's midpoint) below which a fraction p (0..1) of the values
 *  lie; 0 for an empty histogram. */
uint64_t hist_percentile(const hist *h, double p);

#endif /* RCM_TOOLS_HISTOGRAM_H */
