/*
 * route: choosing a deployment for a request by traffic weights.
 *
 * Smooth weighted round-robin: each pick adds every weight to its running
 * credit and takes the entry with the most credit, which then pays back the
 * total. Over any window of `total` picks each entry is chosen exactly in
 * proportion to its weight, interleaved (90/10 gives 9 blue, 1 green, ...
 * spread out, not 90 then 10). Pure; the caller owns the table and
 * serialises access (event-loop thread).
 */
#ifndef INF_GATEWAY_ROUTE_H
#define INF_GATEWAY_ROUTE_H

#include <stddef.h>

#define ROUTE_MAX_ENTRIES 64

struct route_table {
    size_t n;
    int weight[ROUTE_MAX_ENTRIES];
    long credit[ROUTE_MAX_ENTRIES];
    int total;
};

/* Resets the table to the given weights (0..100 each; zero weights never win).
 * Entries past ROUTE_MAX_ENTRIES are ignored. */
void route_init(struct route_table *rt, const int *weights, size_t n);

/* The index of the next entry to serve, or -1 when every weight is zero. */
int route_pick(struct route_table *rt);

#endif
