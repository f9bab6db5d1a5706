/* histogram.c — see histogram.h. */
#include "histogram.h"

#include <string.h>

void hist_reset(hist *h)
{
    memset(h, 0, sizeof *h);
}

void hist_merge(hist *dst, const hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++) dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
}

/* The lowest value of bucket i and its width. */
static void bucket_range(unsigned i, uint64_t *low, uint64_t *width)
{
    if (i < HIST_LINEAR) {
        *low = i;
        *width = 1;
        return;
    }
    unsigned msb = (i - HIST_LINEAR) / HIST_SUB + 6u;
    unsigned sub = (i - HIST_LINEAR) % HIST_SUB;
    *width = 1ull << (msb - HIST_SUB_BITS);
    *low = (1ull << msb) + (uint64_t)sub * *width;
}

uint64_t hist_percentile(const hist *h, double p)
{
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count);
    if (rank >= h->count) rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen > rank) {
            uint64_t low, width;
            bucket_range(i, &low, &width);
            return low + width / 2;
        }
    }
    return 0;
}
