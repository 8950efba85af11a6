#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/route.h"

static void split_90_10_is_exact(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {90, 10};
    route_init(&rt, w, 2);
    int count[2] = {0, 0};
    for (int i = 0; i < 10000; i++)
        count[route_pick(&rt)]++;
    assert_int_equal(count[0], 9000);
    assert_int_equal(count[1], 1000);
}

static void picks_are_interleaved(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {50, 50};
    route_init(&rt, w, 2);
    int prev = route_pick(&rt);
    for (int i = 0; i < 100; i++) {
        int cur = route_pick(&rt);
        assert_int_not_equal(cur, prev);
        prev = cur;
    }
}

static void zero_weights_never_win(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {0, 100, 0};
    route_init(&rt, w, 3);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(route_pick(&rt), 1);
}

static void all_zero_gives_none(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {0, 0};
    route_init(&rt, w, 2);
    assert_int_equal(route_pick(&rt), -1);
    route_init(&rt, w, 0);
    assert_int_equal(route_pick(&rt), -1);
}

static void three_way_split(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {33, 33, 34};
    route_init(&rt, w, 3);
    int count[3] = {0, 0, 0};
    for (int i = 0; i < 100; i++)
        count[route_pick(&rt)]++;
    assert_int_equal(count[0], 33);
    assert_int_equal(count[1], 33);
    assert_int_equal(count[2], 34);
}

static void negative_weights_are_zero(void **state)
{
    (void)state;
    struct route_table rt;
    int w[] = {-5, 100};
    route_init(&rt, w, 2);
    assert_int_equal(rt.total, 100);
    assert_int_equal(route_pick(&rt), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_90_10_is_exact),   cmocka_unit_test(picks_are_interleaved),
        cmocka_unit_test(zero_weights_never_win), cmocka_unit_test(all_zero_gives_none),
        cmocka_unit_test(three_way_split),        cmocka_unit_test(negative_weights_are_zero),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
