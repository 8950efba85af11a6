/*
 * Unit tests for http/upstream: a call whose connection is refused at once
 * reports it from the event loop, never from inside upstream_start(), and a
 * call cancelled before that report never calls back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "http/upstream.h"

struct fixture {
    h2o_loop_t *loop;
    struct upstream_ctx ctx;
    h2o_socketpool_t pool;
};

struct seen {
    int calls;
    int status;
    const char *error;
};

static void on_result(const struct upstream_result *res, void *data)
{
    struct seen *s = data;
    s->calls++;
    s->status = res->status;
    s->error = res->error;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->loop = h2o_evloop_create();
    upstream_ctx_init(&f->ctx, f->loop, 5000);
    /* A socket path nobody listens on: connect(2) fails at once. */
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", "/nonexistent/inferd-test-upstream.sock");
    h2o_socketpool_init_by_address(&f->pool, (struct sockaddr *)&sa, sizeof(sa), 0, 4);
    h2o_socketpool_set_timeout(&f->pool, f->loop, 5000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h2o_socketpool_dispose(&f->pool);
    upstream_ctx_dispose(&f->ctx);
    h2o_evloop_destroy(f->loop);
    free(f);
    return 0;
}

static void test_refused_is_reported_from_the_loop(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};
    struct upstream_call *call = upstream_start(&f->ctx, &f->pool, "GET", "/health/ready", "",
                                                h2o_iovec_init(NULL, 0), 1024, on_result, &s);
    assert_non_null(call);
    assert_int_equal(s.calls, 0); /* not from inside upstream_start() */
    for (int i = 0; i < 10 && s.calls == 0; i++)
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, 0);
    assert_non_null(s.error);
}

static void test_cancel_before_the_report(void **state)
{
    struct fixture *f = *state;
    struct seen s = {0};
    struct upstream_call *call = upstream_start(&f->ctx, &f->pool, "GET", "/", "",
                                                h2o_iovec_init(NULL, 0), 1024, on_result, &s);
    upstream_cancel(call);
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(f->loop, 10);
    assert_int_equal(s.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refused_is_reported_from_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_the_report, setup, teardown),
    };
    return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
