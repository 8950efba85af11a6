/*
 * Unit tests for store: open/migrate, endpoints, deployments, artifacts and
 * metadata against a real SQLite file in a fresh temporary directory per
 * test. A second raw sqlite3 connection inspects and tampers with the file
 * where the store's API cannot (schema version, timestamps, journal mode).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/util.h"
#include "store/store.h"

#define SHA_A "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_B "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

struct fixture {
    char dir[64];
    char *path;       /* dir/inferd.db */
    struct store *st; /* open on path, or NULL */
};

static int setup(void **state)
{
    struct fixture *fx = inf_calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/inferd-store-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    fx->path = inf_asprintf("%s/inferd.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    store_close(fx->st);
    inf_rm_rf(fx->dir, NULL);
    free(fx->path);
    free(fx);
    return 0;
}

/* Opens fx->path as the fixture's store, failing the test on error. */
static struct store *open_store(struct fixture *fx)
{
    struct inf_err err = {0};
    int rc = store_open(fx->path, &fx->st, &err);
    if (rc != 0)
        fail_msg("store_open: %s", err.msg);
    return fx->st;
}

static void reopen_store(struct fixture *fx)
{
    store_close(fx->st);
    fx->st = NULL;
    open_store(fx);
}

/* Runs sql on a separate raw connection to path. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("raw_exec '%s': %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* The first column of the first row of sql, as text, in out. */
static void raw_text(const char *path, const char *sql, char *out, size_t out_len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    const unsigned char *s = sqlite3_column_text(stmt, 0);
    snprintf(out, out_len, "%s", s != NULL ? (const char *)s : "");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static long raw_long(const char *path, const char *sql)
{
    char buf[64];
    long v = 0;
    raw_text(path, sql, buf, sizeof(buf));
    assert_int_equal(inf_parse_long(buf, -1000000, 1L << 40, &v), 0);
    return v;
}

static void put_endpoint(struct store *st, const char *name)
{
    struct inf_err err = {0};
    int rc = store_endpoint_put(st, name, "{\"name\":\"x\"}", "pk", "sk", &err);
    if (rc != 0)
        fail_msg("put endpoint %s: %s", name, err.msg);
}

static int64_t put_deployment(struct store *st, const char *endpoint, const char *name)
{
    struct inf_err err = {0};
    int64_t gen = -1;
    int rc = store_deployment_put(st, endpoint, name, "{}", "Creating", "", &gen, &err);
    if (rc != 0)
        fail_msg("put deployment %s/%s: %s", endpoint, name, err.msg);
    return gen;
}

/* ---- open and migrations ---------------------------------------------- */

static void test_open_creates_private_wal_database(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    assert_int_equal(store_schema_version(st), 3);

    struct stat sb;
    assert_int_equal(stat(fx->path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0); /* holds keys and secrets */

    char mode[32];
    raw_text(fx->path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    assert_int_equal(raw_long(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                                        "AND name IN ('meta', 'endpoints', 'deployments', "
                                        "'artifacts')"),
                     4);
}

static void test_open_twice_is_idempotent(void **state)
{
    struct fixture *fx = *state;
    put_endpoint(open_store(fx), "ep");
    reopen_store(fx);
    assert_int_equal(store_schema_version(fx->st), 3);
    assert_int_equal(raw_long(fx->path, "PRAGMA user_version"), 3);

    /* A second connection on the same file at the same time (WAL). */
    struct store *other = NULL;
    struct inf_err err = {0};
    assert_int_equal(store_open(fx->path, &other, &err), 0);
    struct store_endpoint e;
    assert_int_equal(store_endpoint_get(other, "ep", &e, &err), 0);
    store_endpoint_fini(&e);
    put_endpoint(other, "ep2");
    assert_int_equal(store_endpoint_get(fx->st, "ep2", &e, &err), 0);
    store_endpoint_fini(&e);
    store_close(other);
}

static void test_open_refuses_newer_schema(void **state)
{
    struct fixture *fx = *state;
    raw_exec(fx->path, "CREATE TABLE future (x); PRAGMA user_version = 99");

    struct store *st = (struct store *)fx; /* must be reset to NULL */
    struct inf_err err = {0};
    assert_int_equal(store_open(fx->path, &st, &err), INF_ESTORE);
    assert_null(st);
    assert_int_equal(err.code, INF_ESTORE);
    assert_non_null(strstr(err.msg, "has schema version 99 but this inferd knows up to 3"));
    assert_non_null(strstr(err.msg, "upgrade inferd"));
    assert_non_null(strstr(err.msg, fx->path));
    /* Left untouched. */
    assert_int_equal(raw_long(fx->path, "PRAGMA user_version"), 99);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'meta'"),
                     0);
}

static void test_open_refuses_negative_schema(void **state)
{
    struct fixture *fx = *state;
    raw_exec(fx->path, "PRAGMA user_version = -3");
    struct store *st = NULL;
    struct inf_err err = {0};
    assert_int_equal(store_open(fx->path, &st, &err), INF_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "invalid schema version -3"));
}

static void test_failed_migration_rolls_back(void **state)
{
    struct fixture *fx = *state;
    /* A stray table in the way of migration 1: it must fail as a whole. */
    raw_exec(fx->path, "CREATE TABLE artifacts (junk)");
    struct store *st = NULL;
    struct inf_err err = {0};
    assert_int_equal(store_open(fx->path, &st, &err), INF_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "to schema version 1"));
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(raw_long(fx->path, "PRAGMA user_version"), 0);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'meta'"),
                     0);

    /* Once the obstacle is gone, the next open migrates. */
    raw_exec(fx->path, "DROP TABLE artifacts");
    assert_int_equal(store_schema_version(open_store(fx)), 3);
}

static void test_open_bad_inputs(void **state)
{
    struct fixture *fx = *state;
    struct store *st = NULL;
    struct inf_err err = {0};

    assert_int_equal(store_open(NULL, &st, &err), INF_EINVAL);
    assert_int_equal(store_open("", &st, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "database path is empty"));
    assert_int_equal(store_open(fx->path, NULL, &err), INF_EINVAL);
    assert_int_equal(store_open(NULL, NULL, NULL), INF_EINVAL);

    /* Missing parent directory. */
    char *missing = inf_asprintf("%s/no/such/dir/inferd.db", fx->dir);
    assert_int_equal(store_open(missing, &st, &err), INF_EIO);
    assert_null(st);
    assert_non_null(strstr(err.msg, missing));
    free(missing);

    /* A directory where the file should be. */
    assert_int_equal(store_open(fx->dir, &st, &err), INF_EIO);
    assert_null(st);

    /* A file that is not a database. */
    static const char junk[] = "this is not an SQLite database, not even close..........";
    assert_int_equal(inf_write_file_atomic(fx->path, junk, sizeof(junk), 0600, &err), 0);
    assert_int_equal(store_open(fx->path, &st, &err), INF_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "not a database"));
    assert_non_null(strstr(err.msg, fx->path));
}

static void test_open_in_memory(void **state)
{
    (void)state;
    struct store *st = NULL;
    struct inf_err err = {0};
    assert_int_equal(store_open(":memory:", &st, &err), 0);
    assert_int_equal(store_schema_version(st), 3);
    put_endpoint(st, "ep");
    assert_int_equal(put_deployment(st, "ep", "blue"), 1);
    store_close(st);
    assert_int_equal(access(":memory:", F_OK), -1); /* no stray file */
    store_close(NULL);
}

static void test_store_errors_name_the_operation(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    /* Sabotage behind the store's back: every SQLite failure is INF_ESTORE
     * and names what was being done. */
    raw_exec(fx->path, "PRAGMA foreign_keys = OFF; DROP TABLE deployments; DROP TABLE endpoints");
    struct inf_err err = {0};
    struct store_endpoint *list = NULL;
    size_t n = 7;
    assert_int_equal(store_endpoint_list(st, &list, &n, &err), INF_ESTORE);
    assert_null(list);
    assert_int_equal(n, 0);
    assert_string_equal(err.msg, "store: list endpoints: no such table: endpoints");

    assert_int_equal(store_endpoint_put(st, "ep", "{}", "a", "b", &err), INF_ESTORE);
    assert_string_equal(err.msg, "store: put endpoint 'ep': no such table: endpoints");
    assert_int_equal(store_deployment_put(st, "ep", "blue", "{}", "Creating", "", NULL, &err),
                     INF_ESTORE);
    assert_non_null(strstr(err.msg, "put deployment 'ep/blue'"));
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 0, "Failed", "x", &err),
                     INF_ESTORE);
    assert_non_null(strstr(err.msg, "set state of deployment 'ep/blue'"));
    /* Still usable afterwards: no transaction left open. */
    assert_int_equal(store_meta_set(st, "k", "v", &err), 0);
}

/* ---- endpoints ---------------------------------------------------------- */

static void test_endpoint_crud(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint e;
    int64_t before = inf_unix_now();

    assert_int_equal(store_endpoint_put(st, "ep1", "{\"auth_mode\":\"key\"}", "k1", "k2", &err), 0);
    assert_int_equal(store_endpoint_get(st, "ep1", &e, &err), 0);
    assert_string_equal(e.name, "ep1");
    assert_string_equal(e.spec_json, "{\"auth_mode\":\"key\"}");
    assert_string_equal(e.primary_key, "k1");
    assert_string_equal(e.secondary_key, "k2");
    assert_true(e.created_at >= before && e.created_at <= inf_unix_now());
    assert_int_equal(e.updated_at, e.created_at);
    store_endpoint_fini(&e);
    assert_null(e.name); /* fini leaves it safe to fini again */
    store_endpoint_fini(&e);
    store_endpoint_fini(NULL);

    assert_int_equal(store_endpoint_delete(st, "ep1", &err), 0);
    assert_int_equal(store_endpoint_get(st, "ep1", &e, &err), INF_ENOTFOUND);
    assert_null(e.name);
    assert_string_equal(err.msg, "endpoint 'ep1' not found");
    assert_int_equal(store_endpoint_delete(st, "ep1", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "endpoint 'ep1' not found");
    assert_int_equal(store_endpoint_get(st, "never", &e, &err), INF_ENOTFOUND);
}

static void test_endpoint_replace_keeps_created_at(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint e;

    put_endpoint(st, "ep");
    raw_exec(fx->path, "UPDATE endpoints SET created_at = 100, updated_at = 200");
    int64_t before = inf_unix_now();
    assert_int_equal(store_endpoint_put(st, "ep", "{\"v\":2}", "new1", "new2", &err), 0);
    assert_int_equal(store_endpoint_get(st, "ep", &e, &err), 0);
    assert_int_equal(e.created_at, 100);
    assert_true(e.updated_at >= before);
    assert_string_equal(e.spec_json, "{\"v\":2}");
    assert_string_equal(e.primary_key, "new1");
    assert_string_equal(e.secondary_key, "new2");
    store_endpoint_fini(&e);
}

static void test_endpoint_replace_keeps_deployments(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    put_endpoint(st, "ep"); /* must not delete-and-insert (cascade) */
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_int_equal(d.generation, 1);
    store_deployment_fini(&d);
}

static void test_endpoint_null_keys_read_as_empty(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint e;

    assert_int_equal(store_endpoint_put(st, "ep", "{}", NULL, NULL, &err), 0);
    assert_int_equal(store_endpoint_get(st, "ep", &e, &err), 0);
    assert_string_equal(e.primary_key, "");
    assert_string_equal(e.secondary_key, "");
    store_endpoint_fini(&e);
}

static void test_endpoint_list_is_ordered(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint *list = (struct store_endpoint *)fx;
    size_t n = 99;

    assert_int_equal(store_endpoint_list(st, &list, &n, &err), 0);
    assert_null(list);
    assert_int_equal(n, 0);
    store_endpoint_list_free(list, n);

    /* More than the initial array capacity, inserted out of order. */
    const char *names[] = {"m", "b", "zz", "a", "B", "c1", "c10", "c2", "y", "x", "ab"};
    const char *sorted[] = {"B", "a", "ab", "b", "c1", "c10", "c2", "m", "x", "y", "zz"};
    size_t count = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < count; i++)
        put_endpoint(st, names[i]);
    assert_int_equal(store_endpoint_list(st, &list, &n, &err), 0);
    assert_int_equal(n, count);
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(list[i].name, sorted[i]);
        assert_string_equal(list[i].primary_key, "pk");
    }
    store_endpoint_list_free(list, n);
    store_endpoint_list_free(NULL, 3);
}

static void test_endpoint_bad_args(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint e;
    size_t n;

    assert_int_equal(store_endpoint_put(st, NULL, "{}", "a", "b", &err), INF_EINVAL);
    assert_int_equal(store_endpoint_put(st, "", "{}", "a", "b", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: endpoint name is empty");
    assert_int_equal(store_endpoint_put(st, "ep", NULL, "a", "b", &err), INF_EINVAL);
    assert_string_equal(err.msg, "store: endpoint spec is empty");
    assert_int_equal(store_endpoint_get(st, "", &e, &err), INF_EINVAL);
    assert_int_equal(store_endpoint_get(st, "ep", NULL, &err), INF_EINVAL);
    assert_int_equal(store_endpoint_list(st, NULL, &n, &err), INF_EINVAL);
    assert_int_equal(store_endpoint_delete(st, NULL, NULL), INF_EINVAL);
}

static void test_hostile_and_huge_values(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_endpoint e;

    static const char evil[] = "x'); DROP TABLE endpoints; -- \"\xc3\xa9\xe2\x9c\x93 %s%n";
    assert_int_equal(store_endpoint_put(st, evil, evil, evil, evil, &err), 0);
    assert_int_equal(store_endpoint_get(st, evil, &e, &err), 0);
    assert_string_equal(e.name, evil);
    assert_string_equal(e.spec_json, evil);
    assert_string_equal(e.secondary_key, evil);
    store_endpoint_fini(&e);

    /* A 4 MiB spec survives intact. */
    size_t big_len = 4u << 20;
    char *big = inf_malloc(big_len + 1);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + i % 26);
    big[big_len] = '\0';
    assert_int_equal(store_endpoint_put(st, "big", big, "", "", &err), 0);
    put_deployment(st, "big", "blue");
    assert_int_equal(store_deployment_put(st, "big", "blue", big, "Failed", big, NULL, &err), 0);
    reopen_store(fx);
    assert_int_equal(store_endpoint_get(fx->st, "big", &e, &err), 0);
    assert_int_equal(strlen(e.spec_json), big_len);
    assert_string_equal(e.spec_json, big);
    store_endpoint_fini(&e);
    struct store_deployment d;
    assert_int_equal(store_deployment_get(fx->st, "big", "blue", &d, &err), 0);
    assert_string_equal(d.reason, big);
    store_deployment_fini(&d);

    /* A huge name in a not-found message is truncated, not overflowed. */
    assert_int_equal(store_endpoint_get(fx->st, big, &e, &err), INF_ENOTFOUND);
    assert_true(strlen(err.msg) < sizeof(err.msg));
    assert_memory_equal(err.msg, "endpoint 'abcdef", 16);
    free(big);
}

/* ---- deployments -------------------------------------------------------- */

static void test_deployment_put_needs_endpoint(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    int64_t gen = 42;

    assert_int_equal(store_deployment_put(st, "nope", "blue", "{}", "Creating", "", &gen, &err),
                     INF_ENOTFOUND);
    assert_string_equal(err.msg, "endpoint 'nope' not found");
    assert_int_equal(gen, 42);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM deployments"), 0);
    /* No transaction was left open. */
    put_endpoint(st, "nope");
    assert_int_equal(put_deployment(st, "nope", "blue"), 1);
}

static void test_deployment_put_bumps_generation(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;
    int64_t gen = 0;

    put_endpoint(st, "ep");
    assert_int_equal(put_deployment(st, "ep", "blue"), 1);
    raw_exec(fx->path, "UPDATE deployments SET created_at = 100, updated_at = 100");
    assert_int_equal(
        store_deployment_put(st, "ep", "blue", "{\"v\":2}", "Updating", NULL, &gen, &err), 0);
    assert_int_equal(gen, 2);
    assert_int_equal(
        store_deployment_put(st, "ep", "blue", "{\"v\":3}", "Updating", "", NULL, &err), 0);

    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.endpoint, "ep");
    assert_string_equal(d.name, "blue");
    assert_string_equal(d.spec_json, "{\"v\":3}");
    assert_string_equal(d.state, "Updating");
    assert_string_equal(d.reason, "");
    assert_int_equal(d.generation, 3);
    assert_int_equal(d.created_at, 100);
    assert_true(d.updated_at > 100);
    store_deployment_fini(&d);
    store_deployment_fini(&d);
    store_deployment_fini(NULL);

    /* Generations are per deployment. */
    assert_int_equal(put_deployment(st, "ep", "green"), 1);
}

static void test_deployment_active_spec(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;

    put_endpoint(st, "ep");
    assert_int_equal(put_deployment(st, "ep", "blue"), 1);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.active_spec, "");
    assert_int_equal(d.active_generation, 0);
    store_deployment_fini(&d);

    /* Generation 1 became ready; generation 2 is then stored and fails. */
    assert_int_equal(store_deployment_set_active(st, "ep", "blue", 1, "{\"v\":1}", &err), 0);
    assert_int_equal(
        store_deployment_put(st, "ep", "blue", "{\"v\":2}", "Updating", NULL, NULL, &err), 0);
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 2, "Failed", "boom", &err), 0);
    reopen_store(fx);
    assert_int_equal(store_deployment_get(fx->st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.spec_json, "{\"v\":2}");
    assert_string_equal(d.state, "Failed");
    assert_string_equal(d.active_spec, "{\"v\":1}");
    assert_int_equal(d.active_generation, 1);
    store_deployment_fini(&d);
    assert_int_equal(store_deployment_set_active(fx->st, "ep", "blue", 3, NULL, &err), INF_EINVAL);
}

static void test_deployment_set_state(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    int64_t gen = put_deployment(st, "ep", "blue");
    assert_int_equal(gen, 2);

    assert_int_equal(store_deployment_set_state(st, "ep", "blue", gen, "Succeeded", NULL, &err), 0);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.state, "Succeeded");
    assert_string_equal(d.reason, "");
    assert_int_equal(d.generation, 2); /* set_state does not bump it */
    store_deployment_fini(&d);

    /* A stale generation is refused and changes nothing. */
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 1, "Failed", "old", &err),
                     INF_ECONFLICT);
    assert_string_equal(err.msg, "deployment 'blue' of endpoint 'ep' changed meanwhile: "
                                 "generation is 2, not 1");
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 3, "Failed", "new", &err),
                     INF_ECONFLICT);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.state, "Succeeded");
    store_deployment_fini(&d);

    /* 0 matches any generation. */
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 0, "Failed", "oom", &err), 0);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_string_equal(d.state, "Failed");
    assert_string_equal(d.reason, "oom");
    store_deployment_fini(&d);

    assert_int_equal(store_deployment_set_state(st, "ep", "red", 0, "Failed", "", &err),
                     INF_ENOTFOUND);
    assert_string_equal(err.msg, "deployment 'red' of endpoint 'ep' not found");
    assert_int_equal(store_deployment_set_state(st, "nope", "blue", 1, "Failed", "", &err),
                     INF_ENOTFOUND);
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", -1, "Failed", "", &err),
                     INF_EINVAL);
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 0, "", "", &err), INF_EINVAL);
    /* No transaction left open by the failures. */
    assert_int_equal(put_deployment(st, "ep", "blue"), 3);
}

static void test_deployment_list_is_ordered(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment *list = NULL;
    size_t n = 0;

    put_endpoint(st, "b");
    put_endpoint(st, "a");
    put_deployment(st, "b", "green");
    put_deployment(st, "a", "zeta");
    put_deployment(st, "b", "blue");
    put_deployment(st, "a", "alpha");

    assert_int_equal(store_deployment_list(st, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 4);
    const char *want[][2] = {{"a", "alpha"}, {"a", "zeta"}, {"b", "blue"}, {"b", "green"}};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list[i].endpoint, want[i][0]);
        assert_string_equal(list[i].name, want[i][1]);
        assert_string_equal(list[i].state, "Creating");
        assert_int_equal(list[i].generation, 1);
    }
    store_deployment_list_free(list, n);

    assert_int_equal(store_deployment_list(st, "b", &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "blue");
    assert_string_equal(list[1].name, "green");
    store_deployment_list_free(list, n);

    assert_int_equal(store_deployment_list(st, "missing", &list, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(store_deployment_list(st, NULL, NULL, &n, &err), INF_EINVAL);
}

static void test_endpoint_delete_cascades(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;
    struct store_deployment *list = NULL;
    size_t n = 0;

    put_endpoint(st, "ep");
    put_endpoint(st, "keep");
    put_deployment(st, "ep", "blue");
    put_deployment(st, "ep", "green");
    put_deployment(st, "keep", "blue");

    assert_int_equal(store_endpoint_delete(st, "ep", &err), 0);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), INF_ENOTFOUND);
    assert_null(d.name);
    assert_int_equal(store_deployment_list(st, NULL, &list, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].endpoint, "keep");
    store_deployment_list_free(list, n);

    /* A re-created endpoint starts empty. */
    put_endpoint(st, "ep");
    assert_int_equal(store_deployment_list(st, "ep", &list, &n, &err), 0);
    assert_int_equal(n, 0);
}

static void test_deployment_delete(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    put_deployment(st, "ep", "green");
    assert_int_equal(store_deployment_delete(st, "ep", "blue", &err), 0);
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "deployment 'blue' of endpoint 'ep' not found");
    assert_int_equal(store_deployment_delete(st, "ep", "blue", &err), INF_ENOTFOUND);
    assert_string_equal(err.msg, "deployment 'blue' of endpoint 'ep' not found");
    assert_int_equal(store_deployment_delete(st, "other", "green", &err), INF_ENOTFOUND);
    assert_int_equal(store_deployment_get(st, "ep", "green", &d, &err), 0);
    store_deployment_fini(&d);
    /* The endpoint itself stays. */
    struct store_endpoint e;
    assert_int_equal(store_endpoint_get(st, "ep", &e, &err), 0);
    store_endpoint_fini(&e);
}

static void test_deployment_bad_args(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    struct store_deployment d;

    put_endpoint(st, "ep");
    assert_int_equal(store_deployment_put(st, "", "blue", "{}", "Creating", "", NULL, &err),
                     INF_EINVAL);
    assert_int_equal(store_deployment_put(st, "ep", NULL, "{}", "Creating", "", NULL, &err),
                     INF_EINVAL);
    assert_string_equal(err.msg, "store: deployment name is empty");
    assert_int_equal(store_deployment_put(st, "ep", "blue", "", "Creating", "", NULL, &err),
                     INF_EINVAL);
    assert_int_equal(store_deployment_put(st, "ep", "blue", "{}", NULL, "", NULL, &err),
                     INF_EINVAL);
    assert_string_equal(err.msg, "store: deployment state is empty");
    assert_int_equal(store_deployment_get(st, "ep", "", &d, &err), INF_EINVAL);
    assert_int_equal(store_deployment_get(st, "ep", "blue", NULL, &err), INF_EINVAL);
    assert_int_equal(store_deployment_delete(st, NULL, "blue", &err), INF_EINVAL);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM deployments"), 0);
}

/* ---- artifacts and metadata -------------------------------------------- */

static void test_artifacts(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};

    assert_int_equal(store_artifact_exists(st, SHA_A, &err), 0);
    assert_int_equal(store_artifact_put(st, SHA_A, 1234, &err), 0);
    assert_int_equal(store_artifact_exists(st, SHA_A, &err), 1);
    assert_int_equal(store_artifact_exists(st, SHA_B, &err), 0);
    /* Idempotent: a second put is fine and keeps the first record. */
    assert_int_equal(store_artifact_put(st, SHA_A, 1234, &err), 0);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM artifacts"), 1);
    assert_int_equal(raw_long(fx->path, "SELECT size FROM artifacts"), 1234);
    assert_int_equal(store_artifact_put(st, SHA_B, 0, &err), 0);
    assert_int_equal(store_artifact_exists(st, SHA_B, &err), 1);

    const char *bad[] = {
        NULL,
        "",
        "abc",
        "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        SHA_A "0",
        "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "../../etc/passwd",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(store_artifact_put(st, bad[i], 1, &err), INF_EINVAL);
        assert_non_null(strstr(err.msg, "is not a lower-case sha256 hex digest"));
        assert_int_equal(store_artifact_exists(st, bad[i], &err), INF_EINVAL);
    }
    assert_int_equal(store_artifact_put(st, SHA_B, -1, &err), INF_EINVAL);
    assert_non_null(strstr(err.msg, "negative size -1"));
}

static void test_meta(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};
    char *value = (char *)fx;

    assert_int_equal(store_meta_get(st, "jwt_secret", &value, &err), INF_ENOTFOUND);
    assert_null(value);
    assert_string_equal(err.msg, "meta key 'jwt_secret' not found");

    assert_int_equal(store_meta_set(st, "jwt_secret", "s3cr3t", &err), 0);
    assert_int_equal(store_meta_get(st, "jwt_secret", &value, &err), 0);
    assert_string_equal(value, "s3cr3t");
    free(value);

    assert_int_equal(store_meta_set(st, "jwt_secret", "", &err), 0);
    assert_int_equal(store_meta_get(st, "jwt_secret", &value, &err), 0);
    assert_string_equal(value, "");
    free(value);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM meta"), 1);

    assert_int_equal(store_meta_set(st, "k", NULL, &err), INF_EINVAL);
    assert_int_equal(store_meta_set(st, "", "v", &err), INF_EINVAL);
    assert_int_equal(store_meta_get(st, NULL, &value, &err), INF_EINVAL);
    assert_int_equal(store_meta_get(st, "k", NULL, &err), INF_EINVAL);
}

static void test_data_survives_reopen(void **state)
{
    struct fixture *fx = *state;
    struct store *st = open_store(fx);
    struct inf_err err = {0};

    put_endpoint(st, "ep");
    put_deployment(st, "ep", "blue");
    put_deployment(st, "ep", "blue");
    assert_int_equal(store_deployment_set_state(st, "ep", "blue", 2, "Succeeded", "", &err), 0);
    assert_int_equal(store_artifact_put(st, SHA_A, 9, &err), 0);
    assert_int_equal(store_meta_set(st, "secret", "xyz", &err), 0);
    reopen_store(fx);
    st = fx->st;

    struct store_endpoint e;
    assert_int_equal(store_endpoint_get(st, "ep", &e, &err), 0);
    assert_string_equal(e.primary_key, "pk");
    store_endpoint_fini(&e);
    struct store_deployment d;
    assert_int_equal(store_deployment_get(st, "ep", "blue", &d, &err), 0);
    assert_int_equal(d.generation, 2);
    assert_string_equal(d.state, "Succeeded");
    store_deployment_fini(&d);
    assert_int_equal(store_artifact_exists(st, SHA_A, &err), 1);
    char *value = NULL;
    assert_int_equal(store_meta_get(st, "secret", &value, &err), 0);
    assert_string_equal(value, "xyz");
    free(value);
    /* Foreign keys are per connection: the reopened one enforces them too. */
    assert_int_equal(store_endpoint_delete(st, "ep", &err), 0);
    assert_int_equal(raw_long(fx->path, "SELECT count(*) FROM deployments"), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_open_creates_private_wal_database),
        T(test_open_twice_is_idempotent),
        T(test_open_refuses_newer_schema),
        T(test_open_refuses_negative_schema),
        T(test_failed_migration_rolls_back),
        T(test_open_bad_inputs),
        T(test_open_in_memory),
        T(test_deployment_active_spec),
        T(test_store_errors_name_the_operation),
        T(test_endpoint_crud),
        T(test_endpoint_replace_keeps_created_at),
        T(test_endpoint_replace_keeps_deployments),
        T(test_endpoint_null_keys_read_as_empty),
        T(test_endpoint_list_is_ordered),
        T(test_endpoint_bad_args),
        T(test_hostile_and_huge_values),
        T(test_deployment_put_needs_endpoint),
        T(test_deployment_put_bumps_generation),
        T(test_deployment_set_state),
        T(test_deployment_list_is_ordered),
        T(test_endpoint_delete_cascades),
        T(test_deployment_delete),
        T(test_deployment_bad_args),
        T(test_artifacts),
        T(test_meta),
        T(test_data_survives_reopen),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
