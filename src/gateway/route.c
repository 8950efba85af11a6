/*
 * route: smooth weighted round-robin over traffic weights. Pure logic.
 */
#include "gateway/route.h"

void route_init(struct route_table *rt, const int *weights, size_t n)
{
    if (n > ROUTE_MAX_ENTRIES)
        n = ROUTE_MAX_ENTRIES;
    rt->n = n;
    rt->total = 0;
    for (size_t i = 0; i < n; i++) {
        rt->weight[i] = weights[i] > 0 ? weights[i] : 0;
        rt->credit[i] = 0;
        rt->total += rt->weight[i];
    }
}

int route_pick(struct route_table *rt)
{
    if (rt->total == 0)
        return -1;
    int best = -1;
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->weight[i] == 0)
            continue;
        rt->credit[i] += rt->weight[i];
        if (best < 0 || rt->credit[i] > rt->credit[best])
            best = (int)i;
    }
    if (best < 0) /* cannot happen while total > 0; keeps the index provably valid */
        return -1;
    rt->credit[best] -= rt->total;
    return best;
}
