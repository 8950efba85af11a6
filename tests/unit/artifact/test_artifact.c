/*
 * Tests for artifact: packing folders deterministically, extracting them
 * back, refusing unsafe or oversized archives without leaving anything
 * behind, and the content-addressed store. Malicious archives are crafted
 * here with libarchive's writer. Each test works in its own mkdtemp dir.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#include "artifact/artifact.h"

#define MAX_TAR (4u << 20)

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = inf_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/inferd-artifact-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    inf_rm_rf(f->dir, NULL);
    free(f);
    return 0;
}

/* f->dir + "/" + rel in a fresh string. */
static char *at(const struct fixture *f, const char *rel)
{
    return inf_asprintf("%s/%s", f->dir, rel);
}

static void put_file(const struct fixture *f, const char *rel, const char *body, mode_t mode)
{
    char *p = at(f, rel);
    assert_int_equal(inf_write_file_atomic(p, body, strlen(body), 0644, NULL), 0);
    assert_int_equal(chmod(p, mode), 0);
    free(p);
}

static void put_dir(const struct fixture *f, const char *rel)
{
    char *p = at(f, rel);
    assert_int_equal(inf_mkdir_p(p, 0755, NULL), 0);
    free(p);
}

static void put_link(const struct fixture *f, const char *rel, const char *target)
{
    char *p = at(f, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static void assert_file(const struct fixture *f, const char *rel, const char *body, mode_t mode)
{
    char *p = at(f, rel);
    char *got = NULL;
    size_t len = 0;
    struct inf_err err = {0};
    if (inf_read_file(p, 1 << 20, &got, &len, &err) != 0)
        fail_msg("%s: %s", rel, err.msg);
    assert_int_equal(len, strlen(body));
    assert_memory_equal(got, body, len);
    struct stat st; /* through symlinks */
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, mode);
    free(got);
    free(p);
}

static void assert_link(const struct fixture *f, const char *rel, const char *target)
{
    char *p = at(f, rel);
    char buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    if (n < 0)
        fail_msg("%s is not a symlink", rel);
    buf[n] = '\0';
    assert_string_equal(buf, target);
    free(p);
}

static void assert_is_dir(const struct fixture *f, const char *rel)
{
    char *p = at(f, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    free(p);
}

static int exists(const struct fixture *f, const char *rel)
{
    char *p = at(f, rel);
    struct stat st;
    int r = lstat(p, &st) == 0;
    free(p);
    return r;
}

/* Number of entries in directory rel of the fixture, not counting . and ..,
 * and whether any of them is a leftover temporary directory. */
static size_t count_entries(const struct fixture *f, const char *rel, int *tmp_seen)
{
    char *p = at(f, rel);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    *tmp_seen = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (strstr(de->d_name, ".tmp-") != NULL)
            *tmp_seen = 1;
    }
    closedir(d);
    free(p);
    return n;
}

static void pack_ok(const struct fixture *f, const char *rel, int include_self, struct inf_buf *out)
{
    char *p = at(f, rel);
    struct inf_err err = {0};
    inf_buf_init(out, MAX_TAR);
    if (artifact_pack(p, include_self, out, &err) != 0)
        fail_msg("pack %s: %s", rel, err.msg);
    free(p);
}

static void unpack_ok(const struct fixture *f, const struct inf_buf *tar, const char *rel)
{
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    char *p = at(f, rel);
    struct inf_err err = {0};
    if (artifact_unpack(tar->data, tar->len, p, &lim, &err) != 0)
        fail_msg("unpack into %s: %s", rel, err.msg);
    free(p);
}

/* A nested folder with every kind of entry the packer stores. */
static void make_tree(const struct fixture *f)
{
    put_dir(f, "src/model/layers");
    put_dir(f, "src/empty");
    put_file(f, "src/score.py", "def run(x):\n    return x\n", 0700);
    put_file(f, "src/.env", "A=1\n", 0600);
    put_file(f, "src/model/weights.json", "{\"w\": [1, 2, 3]}", 0664);
    put_file(f, "src/model/layers/0.bin", "\x01\x02\x03", 0644);
    put_file(f, "src/caf\xc3\xa9.txt", "utf-8 name", 0644);
    put_file(f, "src/\xff\xfe.bin", "not utf-8", 0644);
    put_link(f, "src/latest", "model/weights.json");
    put_link(f, "src/model/layers/up", "../../score.py");
}

static void assert_tree(const struct fixture *f, const char *base)
{
    char rel[256];
#define REL(s) (snprintf(rel, sizeof(rel), "%s/%s", base, s), rel)
    assert_file(f, REL("score.py"), "def run(x):\n    return x\n", 0755);
    assert_file(f, REL(".env"), "A=1\n", 0644);
    assert_file(f, REL("model/weights.json"), "{\"w\": [1, 2, 3]}", 0644);
    assert_file(f, REL("model/layers/0.bin"), "\x01\x02\x03", 0644);
    assert_file(f, REL("caf\xc3\xa9.txt"), "utf-8 name", 0644);
    assert_file(f, REL("\xff\xfe.bin"), "not utf-8", 0644);
    assert_link(f, REL("latest"), "model/weights.json");
    assert_link(f, REL("model/layers/up"), "../../score.py");
    assert_is_dir(f, REL("empty"));
    assert_file(f, REL("model/layers/up"), "def run(x):\n    return x\n", 0755);
#undef REL
}

static void test_round_trip_contents(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    struct inf_buf tar;
    pack_ok(f, "src", 0, &tar);
    /* Modes in the artifact do not depend on the server's umask. */
    mode_t old_umask = umask(077);
    unpack_ok(f, &tar, "out");
    umask(old_umask);
    assert_is_dir(f, "out");
    assert_is_dir(f, "out/model/layers");
    assert_tree(f, "out");
    assert_false(exists(f, "out/src"));
    int tmp;
    assert_int_equal(count_entries(f, "", &tmp), 2); /* src, out */
    assert_false(tmp);
    inf_buf_fini(&tar);
}

static void test_round_trip_include_self(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    struct inf_buf tar;
    pack_ok(f, "src/", 1, &tar);
    unpack_ok(f, &tar, "out");
    assert_tree(f, "out/src");
    int tmp;
    assert_int_equal(count_entries(f, "out", &tmp), 1);
    inf_buf_fini(&tar);

    /* "." includes itself under its real name. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    char *src = at(f, "src");
    assert_int_equal(chdir(src), 0);
    struct inf_err err = {0};
    inf_buf_init(&tar, MAX_TAR);
    int rc = artifact_pack(".", 1, &tar, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    unpack_ok(f, &tar, "out2");
    assert_tree(f, "out2/src");
    inf_buf_fini(&tar);
    free(src);
}

static void test_round_trip_single_file(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "src");
    put_file(f, "src/model.onnx", "ONNX bytes", 0644);
    struct inf_buf tar;
    pack_ok(f, "src/model.onnx", 0, &tar);
    unpack_ok(f, &tar, "out");
    assert_file(f, "out/model.onnx", "ONNX bytes", 0644);
    int tmp;
    assert_int_equal(count_entries(f, "out", &tmp), 1);
    inf_buf_fini(&tar);

    /* include_self makes no difference for a single file. */
    struct inf_buf tar1;
    pack_ok(f, "src/model.onnx", 1, &tar1);
    pack_ok(f, "src/model.onnx", 0, &tar);
    assert_int_equal(tar.len, tar1.len);
    assert_memory_equal(tar.data, tar1.data, tar.len);
    inf_buf_fini(&tar);
    inf_buf_fini(&tar1);
}

static void test_round_trip_empty_folder(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "src");
    struct inf_buf tar;
    pack_ok(f, "src", 0, &tar);
    unpack_ok(f, &tar, "out");
    int tmp;
    assert_int_equal(count_entries(f, "out", &tmp), 0);
    inf_buf_fini(&tar);
}

static void test_pack_deterministic(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    struct inf_buf a, b;
    pack_ok(f, "src", 1, &a);

    /* New times and other permission bits change nothing. */
    struct timespec ts[2] = {{.tv_sec = 1234567890}, {.tv_sec = 1234567890}};
    const char *touch[] = {"src", "src/score.py", "src/model", "src/model/weights.json",
                           "src/empty"};
    for (size_t i = 0; i < sizeof(touch) / sizeof(touch[0]); i++) {
        char *p = at(f, touch[i]);
        assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
        free(p);
    }
    char *w = at(f, "src/model/weights.json");
    assert_int_equal(chmod(w, 0600), 0);
    pack_ok(f, "src", 1, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    char sha_a[65], sha_b[65];
    inf_sha256_hex(a.data, a.len, sha_a);
    inf_sha256_hex(b.data, b.len, sha_b);
    assert_string_equal(sha_a, sha_b);
    inf_buf_fini(&b);

    /* But one changed byte or exec bit does. */
    assert_int_equal(chmod(w, 0755), 0);
    pack_ok(f, "src", 1, &b);
    assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
    inf_buf_fini(&b);
    assert_int_equal(chmod(w, 0644), 0);
    put_file(f, "src/.env", "A=2\n", 0600);
    pack_ok(f, "src", 1, &b);
    assert_true(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
    inf_buf_fini(&b);
    free(w);
    inf_buf_fini(&a);
}

static void test_pack_sorted_and_normalised(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "src/b");
    put_file(f, "src/b/z", "z", 0644);
    put_file(f, "src/a", "a", 0644);
    put_file(f, "src/B", "B", 0644);
    put_file(f, "src/.x", ".", 0644);
    struct inf_buf tar;
    pack_ok(f, "src", 0, &tar);

    const char *want[] = {".x", "B", "a", "b/", "b/z"};
    struct archive *ar = archive_read_new();
    archive_read_support_format_tar(ar);
    assert_int_equal(archive_read_open_memory(ar, tar.data, tar.len), ARCHIVE_OK);
    struct archive_entry *e;
    size_t i = 0;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        assert_true(i < sizeof(want) / sizeof(want[0]));
        assert_string_equal(archive_entry_pathname(e), want[i]);
        assert_int_equal(archive_entry_mtime(e), 0);
        assert_int_equal(archive_entry_uid(e), 0);
        assert_int_equal(archive_entry_gid(e), 0);
        const char *uname = archive_entry_uname(e), *gname = archive_entry_gname(e);
        assert_true(uname == NULL || uname[0] == '\0');
        assert_true(gname == NULL || gname[0] == '\0');
        assert_int_equal(archive_entry_perm(e),
                         archive_entry_filetype(e) == AE_IFDIR ? 0755 : 0644);
        i++;
    }
    assert_int_equal(i, sizeof(want) / sizeof(want[0]));
    archive_read_free(ar);
    inf_buf_fini(&tar);
}

static void test_pack_absolute_link_inside(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "src/d");
    put_file(f, "src/file", "x", 0644);
    char *abs = at(f, "src/file");
    put_link(f, "src/d/abs", abs);
    put_link(f, "src/d/self", "..");
    put_link(f, "src/d/twisty", "./../d/../file");
    struct inf_buf tar;
    pack_ok(f, "src", 0, &tar);
    unpack_ok(f, &tar, "out");
    assert_link(f, "out/d/abs", "../file");
    assert_link(f, "out/d/self", "..");
    assert_link(f, "out/d/twisty", "../file");
    assert_file(f, "out/d/abs", "x", 0644);
    inf_buf_fini(&tar);
    free(abs);
}

static void pack_fails(const struct fixture *f, const char *rel, int code, const char *needle)
{
    char *p = at(f, rel);
    struct inf_buf out;
    inf_buf_init(&out, MAX_TAR);
    struct inf_err err = {0};
    assert_int_equal(artifact_pack(p, 1, &out, &err), code);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_int_equal(out.len, 0);
    inf_buf_fini(&out);
    free(p);
}

static void test_pack_refuses(void **state)
{
    struct fixture *f = *state;
    pack_fails(f, "missing", INF_ENOTFOUND, "missing");

    put_dir(f, "out1");
    put_link(f, "out1/passwd", "/etc/passwd");
    pack_fails(f, "out1", INF_EINVAL, "out1/passwd points outside the folder");

    put_dir(f, "out2/sub");
    put_link(f, "out2/sub/up", "../..");
    pack_fails(f, "out2", INF_EINVAL, "out2/sub/up points outside");

    put_dir(f, "fifo");
    char *p = at(f, "fifo/pipe");
    assert_int_equal(mkfifo(p, 0644), 0);
    free(p);
    pack_fails(f, "fifo", INF_EINVAL, "fifo/pipe is not a regular file, directory or symlink");
}

static void test_pack_buffer_cap(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "big");
    char *body = inf_malloc(100001);
    memset(body, 'x', 100000);
    body[100000] = '\0';
    put_file(f, "big/blob", body, 0644);
    free(body);
    char *p = at(f, "big");
    struct inf_buf out;
    inf_buf_init(&out, 50000);
    struct inf_err err = {0};
    assert_int_equal(artifact_pack(p, 0, &out, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "larger than 50000 bytes"));
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(out.len, 0);
    inf_buf_fini(&out);

    inf_buf_init(&out, 200000);
    assert_int_equal(artifact_pack(p, 0, &out, &err), 0);
    assert_true(out.len > 100000);
    inf_buf_fini(&out);
    free(p);

    /* Many small files: the cap is hit while writing, not foreseen. */
    put_dir(f, "many");
    for (int i = 0; i < 40; i++) {
        char rel[32];
        snprintf(rel, sizeof(rel), "many/f%02d", i);
        put_file(f, rel, "some bytes", 0644);
    }
    p = at(f, "many");
    inf_buf_init(&out, 20000);
    assert_int_equal(artifact_pack(p, 1, &out, &err), INF_ETOOBIG);
    assert_non_null(strstr(err.msg, "larger than 20000 bytes"));
    assert_int_equal(out.len, 0);
    inf_buf_fini(&out);
    free(p);
}

/* One entry of a hand-made archive. */
struct craft {
    const char *name;
    mode_t type;        /* AE_IFREG unless set */
    const char *body;   /* file contents */
    const char *target; /* symlink target or hard link source */
    int64_t size;       /* declared size if nonzero, else strlen(body) */
};

/* Writes the entries as a tar into out (caller frees out->data). */
static void craft_tar(const struct craft *c, size_t n, struct inf_buf *out)
{
    inf_buf_init(out, MAX_TAR);
    size_t cap = MAX_TAR, used = 0;
    char *mem = inf_malloc(cap);
    struct archive *ar = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(ar), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(ar, mem, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_copy_pathname(e, c[i].name);
        mode_t type = c[i].type ? c[i].type : AE_IFREG;
        archive_entry_set_filetype(e, type);
        archive_entry_set_perm(e, 0644);
        size_t len = c[i].body != NULL ? strlen(c[i].body) : 0;
        if (type == AE_IFLNK)
            archive_entry_copy_symlink(e, c[i].target);
        else if (c[i].target != NULL)
            archive_entry_copy_hardlink(e, c[i].target);
        if (type == AE_IFCHR)
            archive_entry_set_rdev(e, makedev(1, 3));
        if (type == AE_IFREG)
            archive_entry_set_size(e, c[i].size ? c[i].size : (int64_t)len);
        assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
        if (len > 0)
            assert_int_equal(archive_write_data(ar, c[i].body, len), (la_ssize_t)len);
        archive_entry_free(e);
    }
    archive_write_close(ar);
    archive_write_free(ar);
    assert_int_equal(inf_buf_append(out, mem, used), 0);
    free(mem);
}

/* Unpacks into f->dir/out and checks the refusal and that nothing remains. */
static void unpack_fails(const struct fixture *f, const void *tar, size_t len,
                         const struct artifact_limits *lim, int code, const char *needle)
{
    char *dest = at(f, "out");
    struct inf_err err = {0};
    int rc = artifact_unpack(tar, len, dest, lim, &err);
    if (rc != code)
        fail_msg("expected %d for '%s', got %d: %s", code, needle, rc, err.msg);
    assert_int_equal(err.code, code);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));
    int tmp;
    assert_int_equal(count_entries(f, "", &tmp), 0);
    free(dest);
}

static void refuse(const struct fixture *f, const struct craft *c, size_t n, int code,
                   const char *needle)
{
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    struct inf_buf tar;
    craft_tar(c, n, &tar);
    unpack_fails(f, tar.data, tar.len, &lim, code, needle);
    inf_buf_fini(&tar);
}

#define REFUSE(f, code, needle, ...)                                                               \
    do {                                                                                           \
        const struct craft c_[] = {__VA_ARGS__};                                                   \
        refuse(f, c_, sizeof(c_) / sizeof(c_[0]), code, needle);                                   \
    } while (0)

static void test_unpack_refuses_bad_paths(void **state)
{
    struct fixture *f = *state;
    REFUSE(f, INF_EINVAL, "archive entry '/etc/cron.d/x': absolute path",
           {.name = "ok", .body = "fine"}, {.name = "/etc/cron.d/x", .body = "evil"});
    REFUSE(f, INF_EINVAL, "archive entry '../x': path leaves the artifact",
           {.name = "../x", .body = "evil"});
    REFUSE(f, INF_EINVAL, "archive entry 'a/../../b': path leaves the artifact",
           {.name = "a/", .type = AE_IFDIR}, {.name = "a/../../b", .body = "evil"});
    REFUSE(f, INF_EINVAL, "'a/../': path leaves", {.name = "a/..", .type = AE_IFDIR});
    REFUSE(f, INF_EINVAL, "archive entry './a': duplicate entry", {.name = "a", .body = "1"},
           {.name = "./a", .body = "2"});
    REFUSE(f, INF_EINVAL, "archive entry 'd/': duplicate entry", {.name = "d/", .type = AE_IFDIR},
           {.name = "d/", .type = AE_IFDIR});
    REFUSE(f, INF_EINVAL, "archive entry 'f/x': 'f' is a symlink or a file",
           {.name = "f", .body = "1"}, {.name = "f/x", .body = "2"});
    REFUSE(f, INF_EINVAL, "archive entry 'd': conflicts with an earlier entry",
           {.name = "d/x", .body = "1"}, {.name = "d", .body = "2"});
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    REFUSE(f, INF_EINVAL, "': name is too long", {.name = "ok", .body = "1"},
           {.name = long_name, .body = "2"});
    REFUSE(f, INF_EINVAL, "archive entry '.': not a file name", {.name = ".", .body = "1"});
}

static void test_unpack_refuses_bad_links(void **state)
{
    struct fixture *f = *state;
    REFUSE(f, INF_EINVAL, "archive entry 'pw': symlink target '/etc/passwd' leaves the artifact",
           {.name = "pw", .type = AE_IFLNK, .target = "/etc/passwd"});
    REFUSE(f, INF_EINVAL, "symlink target '../..' leaves",
           {.name = "up", .type = AE_IFLNK, .target = "../.."});
    REFUSE(f, INF_EINVAL, "symlink target '..' leaves",
           {.name = "up", .type = AE_IFLNK, .target = ".."});
    REFUSE(f, INF_EINVAL, "'d/up': symlink target '../..' leaves",
           {.name = "d/up", .type = AE_IFLNK, .target = "../.."});
    /* Lexically inside, but ".." after a link to the root would climb out. */
    REFUSE(f, INF_EINVAL, "'b': symlink target 'a/up/../x' leaves",
           {.name = "a/up", .type = AE_IFLNK, .target = ".."},
           {.name = "b", .type = AE_IFLNK, .target = "a/up/../x"});
    REFUSE(f, INF_EINVAL, "'d/e/b': symlink target 'a/up/../x' leaves",
           {.name = "d/e/a/up", .type = AE_IFLNK, .target = "../../.."},
           {.name = "d/e/b", .type = AE_IFLNK, .target = "a/up/../x"});
    REFUSE(f, INF_EINVAL, "archive entry 'e': symlink without a target",
           {.name = "e", .type = AE_IFLNK, .target = ""});
    /* Entries through a symlink, to outside or even inside. */
    REFUSE(f, INF_EINVAL, "archive entry 'l/x': 'l' is a symlink or a file",
           {.name = "sub/", .type = AE_IFDIR}, {.name = "l", .type = AE_IFLNK, .target = "sub"},
           {.name = "l/x", .body = "evil"});
    REFUSE(f, INF_EINVAL, "archive entry 'l/d/x': 'l' is a symlink",
           {.name = "l", .type = AE_IFLNK, .target = "."}, {.name = "l/d/x", .body = "evil"});
    REFUSE(f, INF_EINVAL, "archive entry './l/': duplicate entry", {.name = "l", .body = "1"},
           {.name = "./l/", .type = AE_IFLNK, .target = "x"});
    REFUSE(f, INF_EINVAL, "archive entry 'd': conflicts with an earlier entry",
           {.name = "d/x", .body = "1"}, {.name = "d", .type = AE_IFLNK, .target = "."});
    REFUSE(f, INF_EINVAL, "archive entry 'h': hard links are not allowed",
           {.name = "a", .body = "1"}, {.name = "h", .target = "a"});
    REFUSE(f, INF_EINVAL, "archive entry 'h': hard links are not allowed",
           {.name = "h", .target = "/etc/shadow"});
}

static void test_unpack_refuses_special_files(void **state)
{
    struct fixture *f = *state;
    REFUSE(f, INF_EINVAL, "archive entry 'p': FIFO not allowed", {.name = "p", .type = AE_IFIFO});
    REFUSE(f, INF_EINVAL, "archive entry 'null': character device not allowed",
           {.name = "null", .type = AE_IFCHR});
    REFUSE(f, INF_EINVAL, "archive entry 'sda': block device not allowed",
           {.name = "sda", .type = AE_IFBLK});
}

static void test_unpack_accepts_safe_links(void **state)
{
    struct fixture *f = *state;
    const struct craft c[] = {
        {.name = "./", .type = AE_IFDIR},
        {.name = "./a/b/file", .body = "deep"},
        {.name = "a/b/up", .type = AE_IFLNK, .target = "../../top"},
        {.name = "a/b/root", .type = AE_IFLNK, .target = "./../.."},
        {.name = "a/", .type = AE_IFDIR},
        {.name = "top", .body = "top"},
        {.name = "dangling", .type = AE_IFLNK, .target = "nowhere/x"},
    };
    struct inf_buf tar;
    craft_tar(c, sizeof(c) / sizeof(c[0]), &tar);
    unpack_ok(f, &tar, "out");
    assert_file(f, "out/a/b/file", "deep", 0644);
    assert_file(f, "out/a/b/up", "top", 0644);
    assert_file(f, "out/a/b/root/top", "top", 0644);
    assert_link(f, "out/dangling", "nowhere/x");
    inf_buf_fini(&tar);
}

static void test_unpack_limits(void **state)
{
    struct fixture *f = *state;
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    assert_int_equal(lim.max_archive_bytes, (size_t)1 << 30);
    assert_int_equal(lim.max_extracted_bytes, (size_t)4 << 30);
    assert_int_equal(lim.max_entries, 100000);

    const struct craft four[] = {
        {.name = "a", .body = "123456"},
        {.name = "b", .body = "123456"},
        {.name = "d/", .type = AE_IFDIR},
        {.name = "d/c", .body = ""},
    };
    struct inf_buf tar;
    craft_tar(four, 4, &tar);

    lim.max_entries = 3;
    unpack_fails(f, tar.data, tar.len, &lim, INF_ETOOBIG,
                 "archive has more than 3 entries (max_entries)");
    lim.max_entries = 4;
    lim.max_extracted_bytes = 11;
    unpack_fails(f, tar.data, tar.len, &lim, INF_ETOOBIG,
                 "archive entry 'b': extracted files are larger than 11 bytes");
    lim.max_extracted_bytes = 5;
    unpack_fails(f, tar.data, tar.len, &lim, INF_ETOOBIG, "entry 'a': extracted files are larger");
    lim.max_extracted_bytes = 12;
    lim.max_archive_bytes = tar.len - 1;
    unpack_fails(f, tar.data, tar.len, &lim, INF_ETOOBIG, "(max_archive_bytes)");
    lim.max_archive_bytes = tar.len;
    char *dest = at(f, "out");
    struct inf_err err = {0};
    assert_int_equal(artifact_unpack(tar.data, tar.len, dest, &lim, &err), 0);
    free(dest);
    assert_file(f, "out/b", "123456", 0644);
    inf_buf_fini(&tar);
}

static void test_unpack_huge_declared_size(void **state)
{
    struct fixture *f = *state;
    /* Just the header of an 8 GiB file: refused before any data is read. */
    char mem[4096];
    size_t used = 0;
    struct archive *ar = archive_write_new();
    archive_write_set_format_pax_restricted(ar);
    archive_write_set_bytes_per_block(ar, 0);
    assert_int_equal(archive_write_open_memory(ar, mem, sizeof(mem), &used), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_copy_pathname(e, "bomb");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (int64_t)8 << 30);
    assert_int_equal(archive_write_header(ar, e), ARCHIVE_OK);
    archive_entry_free(e);
    size_t header_len = used;
    archive_write_free(ar); /* fails to pad 8 GiB into mem, which is fine */
    assert_true(header_len >= 512);

    struct artifact_limits lim;
    artifact_limits_default(&lim);
    unpack_fails(f, mem, header_len, &lim, INF_ETOOBIG,
                 "archive entry 'bomb': extracted files are larger than 4294967296 bytes");
}

static void test_unpack_garbage(void **state)
{
    struct fixture *f = *state;
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    const char text[] = "this is not a tar archive, just some words";
    unpack_fails(f, text, sizeof(text), &lim, INF_EINVAL, "not a valid tar archive");
    unpack_fails(f, "", 0, &lim, INF_EINVAL, "not a valid tar archive");
    char noise[4096];
    for (size_t i = 0; i < sizeof(noise); i++)
        noise[i] = (char)(i * 7919 % 251);
    unpack_fails(f, noise, sizeof(noise), &lim, INF_EINVAL, "not a valid tar archive");

    /* A real archive cut in the middle of a file's data. */
    char *body = inf_malloc(20001);
    memset(body, 'y', 20000);
    body[20000] = '\0';
    const struct craft c[] = {{.name = "first", .body = "1"}, {.name = "big", .body = body}};
    struct inf_buf tar;
    craft_tar(c, 2, &tar);
    unpack_fails(f, tar.data, 5000, &lim, INF_EINVAL, "archive entry 'big': cannot read data");
    inf_buf_fini(&tar);
    free(body);
}

static void test_unpack_dest_exists(void **state)
{
    struct fixture *f = *state;
    put_dir(f, "out");
    const struct craft c[] = {{.name = "a", .body = "1"}};
    struct inf_buf tar;
    craft_tar(c, 1, &tar);
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    char *dest = at(f, "out");
    struct inf_err err = {0};
    assert_int_equal(artifact_unpack(tar.data, tar.len, dest, &lim, &err), INF_ECONFLICT);
    assert_non_null(strstr(err.msg, "already exists"));
    int tmp;
    assert_int_equal(count_entries(f, "out", &tmp), 0);
    assert_int_equal(count_entries(f, "", &tmp), 1);
    free(dest);
    inf_buf_fini(&tar);
}

static void test_store_put(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    struct inf_buf tar;
    pack_ok(f, "src", 0, &tar);
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    char *root = at(f, "store/artifacts");
    char sha[65], sha2[65], want[65];
    inf_sha256_hex(tar.data, tar.len, want);
    int created = -1;
    struct inf_err err = {0};
    assert_int_equal(artifact_store_put(root, tar.data, tar.len, &lim, sha, &created, &err), 0);
    assert_int_equal(created, 1);
    assert_string_equal(sha, want);
    assert_true(artifact_id_valid(sha));
    char base[128];
    snprintf(base, sizeof(base), "store/artifacts/%s", sha);
    assert_tree(f, base);

    /* The same archive again: nothing written, same id. */
    char *marker = inf_asprintf("%s/marker", base);
    put_file(f, marker, "m", 0644);
    assert_int_equal(artifact_store_put(root, tar.data, tar.len, &lim, sha2, &created, &err), 0);
    assert_int_equal(created, 0);
    assert_string_equal(sha2, sha);
    assert_file(f, marker, "m", 0644);
    int tmp;
    assert_int_equal(count_entries(f, "store/artifacts", &tmp), 1);
    assert_false(tmp);
    free(marker);

    /* Unsafe or oversized archives leave nothing in the store. */
    const struct craft bad[] = {{.name = "ok", .body = "1"}, {.name = "../evil", .body = "2"}};
    struct inf_buf evil;
    craft_tar(bad, 2, &evil);
    assert_int_equal(artifact_store_put(root, evil.data, evil.len, &lim, sha2, &created, &err),
                     INF_EINVAL);
    assert_int_equal(created, 0);
    assert_non_null(strstr(err.msg, "'../evil'"));
    lim.max_archive_bytes = 10;
    assert_int_equal(artifact_store_put(root, evil.data, evil.len, &lim, sha2, &created, &err),
                     INF_ETOOBIG);
    assert_int_equal(count_entries(f, "store/artifacts", &tmp), 1);
    assert_false(tmp);
    inf_buf_fini(&evil);
    inf_buf_fini(&tar);
    free(root);
}

struct racer {
    const char *root;
    const struct inf_buf *tar;
    int rc;
    int created;
    char sha[65];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct artifact_limits lim;
    artifact_limits_default(&lim);
    r->rc = artifact_store_put(r->root, r->tar->data, r->tar->len, &lim, r->sha, &r->created, NULL);
    return NULL;
}

static void test_store_put_concurrent(void **state)
{
    struct fixture *f = *state;
    make_tree(f);
    struct inf_buf tar;
    pack_ok(f, "src", 1, &tar);
    char *root = at(f, "store");
    enum { N = 6 };
    struct racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.root = root, .tar = &tar};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    int created = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, 0);
        assert_string_equal(r[i].sha, r[0].sha);
        created += r[i].created;
    }
    assert_int_equal(created, 1);
    int tmp;
    assert_int_equal(count_entries(f, "store", &tmp), 1);
    assert_false(tmp);
    char base[128];
    snprintf(base, sizeof(base), "store/%s/src", r[0].sha);
    assert_tree(f, base);
    free(root);
    inf_buf_fini(&tar);
}

static void test_id_valid(void **state)
{
    (void)state;
    char sha[65];
    inf_sha256_hex("x", 1, sha);
    assert_true(artifact_id_valid(sha));
    assert_true(
        artifact_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(
        artifact_id_valid("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(
        artifact_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"));
    assert_false(
        artifact_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"));
    assert_false(
        artifact_id_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"));
    assert_false(artifact_id_valid("../../etc/passwd"));
    assert_false(artifact_id_valid(""));
    assert_false(artifact_id_valid(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_include_self, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_single_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_empty_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_sorted_and_normalised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_absolute_link_inside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_buffer_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_refuses_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_refuses_bad_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_refuses_special_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_accepts_safe_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_huge_declared_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unpack_dest_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_put_concurrent, setup, teardown),
        cmocka_unit_test(test_id_valid),
    };
    return cmocka_run_group_tests_name("artifact", tests, NULL, NULL);
}
