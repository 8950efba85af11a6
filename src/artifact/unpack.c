/*
 * unpack: the server side of artifact. Validates an uploaded tar and
 * extracts it into the content-addressed store.
 *
 * Extraction never trusts the filesystem view of a path: every entry is
 * created relative to directory descriptors opened with O_NOFOLLOW, one
 * component at a time, so no entry can go through a symlink, even one the
 * archive itself created. Symlink targets are checked lexically and must
 * only climb with leading ".." (at most as deep as the link sits): with no
 * entry going through a link, every link then resolves inside the artifact,
 * also when followed through other links. Everything lands in a temporary
 * directory that is synced and renamed into place, or removed on error.
 *
 * Stateless; any thread, but blocking (disk I/O, syncfs): call it from a
 * worker pool, never from an event loop.
 */
#include "artifact/artifact.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/artifact_int.h"
#include "core/log.h"

enum { UNPACK_CHUNK = 64 * 1024 };

/* The set of entry names seen so far (open addressing, linear probing). */
struct name_set {
    char **slots;
    size_t cap; /* a power of two */
    size_t len;
};

struct unpack {
    struct archive *ar;
    const struct artifact_limits *lim;
    int root_fd;          /* the temporary directory being filled */
    size_t entries;       /* headers read so far */
    uint64_t file_bytes;  /* regular file bytes written so far */
    struct name_set seen; /* normalised names, to refuse duplicates */
    char *chunk;          /* UNPACK_CHUNK bytes of file data */
    struct inf_err *err;
};

/* See artifact.h. */
void artifact_limits_default(struct artifact_limits *lim)
{
    lim->max_archive_bytes = (size_t)1 << 30;
    lim->max_extracted_bytes = (size_t)4 << 30;
    lim->max_entries = 100000;
}

/* See artifact.h. Guards every path built from a client-supplied id. */
int artifact_id_valid(const char *s)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '\0';
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211u;
    }
    return h;
}

static void set_insert(char **slots, size_t cap, char *name)
{
    size_t i = (size_t)hash_name(name) & (cap - 1);
    while (slots[i] != NULL)
        i = (i + 1) & (cap - 1);
    slots[i] = name;
}

/* Adds a copy of name; returns 0, or -1 if it was already there. */
static int set_add(struct name_set *s, const char *name)
{
    if (s->cap > 0) {
        for (size_t i = (size_t)hash_name(name) & (s->cap - 1); s->slots[i] != NULL;
             i = (i + 1) & (s->cap - 1))
            if (strcmp(s->slots[i], name) == 0)
                return -1;
    }
    if (2 * (s->len + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **slots = inf_calloc(cap, sizeof(*slots));
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i] != NULL)
                set_insert(slots, cap, s->slots[i]);
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    set_insert(s->slots, s->cap, inf_strdup(name));
    s->len++;
    return 0;
}

static void set_fini(struct name_set *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
}

/* Checks an entry name and sets *out to it normalised, in a fresh string:
 * no ".", empty or trailing components ("./a//b/" -> "a/b"); "" is the root
 * itself. INF_EINVAL for an empty or absolute name or a ".." component. */
static int clean_name(const char *name, char **out, struct inf_err *err)
{
    size_t len = strlen(name);
    if (len == 0)
        return inf_err_set(err, INF_EINVAL, "archive entry with an empty name");
    if (name[0] == '/')
        return inf_err_set(err, INF_EINVAL, "archive entry '%.200s': absolute path", name);
    if (len >= PATH_MAX)
        return inf_err_set(err, INF_EINVAL, "archive entry '%.200s...': name is too long", name);
    char *clean = inf_malloc(len + 1);
    size_t used = 0;
    for (const char *c = name; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            free(clean);
            return inf_err_set(err, INF_EINVAL, "archive entry '%.200s': path leaves the artifact",
                               name);
        }
        if (n > 0 && !(n == 1 && c[0] == '.')) {
            if (used > 0)
                clean[used++] = '/';
            memcpy(clean + used, c, n);
            used += n;
        }
        c += n;
        c += *c == '/';
    }
    clean[used] = '\0';
    *out = clean;
    return 0;
}

/* 1 if a symlink at `path` (normalised) may point to `target`: relative,
 * climbing only with leading ".." and no higher than the artifact root. */
static int link_target_ok(const char *path, const char *target)
{
    if (target[0] == '\0' || target[0] == '/')
        return 0;
    size_t depth = 0; /* components of the link's directory */
    for (const char *c = path; *c != '\0'; c++)
        depth += *c == '/';
    int named = 0;
    for (const char *c = target; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (named || depth == 0)
                return 0;
            depth--;
        } else if (n > 0 && !(n == 1 && c[0] == '.')) {
            named = 1;
        }
        c += n;
        c += *c == '/';
    }
    return 1;
}

static const char *type_name(mode_t type)
{
    switch (type) {
    case AE_IFCHR:
        return "character device";
    case AE_IFBLK:
        return "block device";
    case AE_IFIFO:
        return "FIFO";
    case AE_IFSOCK:
        return "socket";
    default:
        return "special file";
    }
}

/* The error for a syscall that failed creating (part of) entry `name`: the
 * archive's fault when a name is too long for the filesystem, else ours. */
static int create_fail(struct unpack *u, const char *name, int e)
{
    if (e == ENAMETOOLONG)
        return inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': name is too long", name);
    return inf_err_set(u->err, INF_EIO, "archive entry '%.200s': cannot create: %s", name,
                       inf_strerror(e));
}

/* Creates directory leaf in dir_fd with mode 0755 whatever the umask. The
 * temporary tree is ours alone, so fchmodat cannot be raced. */
static int make_dir(int dir_fd, const char *leaf)
{
    if (mkdirat(dir_fd, leaf, 0755) != 0)
        return -1;
    return fchmodat(dir_fd, leaf, 0755, 0);
}

/* Opens (creating as needed) the directory holding entry `path`, walking
 * from the root one component at a time without following symlinks. The
 * caller closes *fd_out unless it is u->root_fd. */
static int open_parent(struct unpack *u, char *path, const char *name, int *fd_out)
{
    int fd = u->root_fd;
    char *c = path;
    for (char *slash; (slash = strchr(c, '/')) != NULL; c = slash + 1) {
        *slash = '\0';
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT) {
            if (make_dir(fd, c) != 0 && errno != EEXIST)
                next = -1;
            else
                next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        *slash = '/';
        if (next < 0) {
            if (fd != u->root_fd)
                close(fd);
            if (e == ELOOP || e == ENOTDIR)
                return inf_err_set(u->err, INF_EINVAL,
                                   "archive entry '%.200s': '%.*s' is a symlink or a file, not a "
                                   "directory",
                                   name, (int)(slash - path), path);
            return create_fail(u, name, e);
        }
        if (fd != u->root_fd)
            close(fd);
        fd = next;
    }
    *fd_out = fd;
    return 0;
}

static int too_big(struct unpack *u, const char *name)
{
    return inf_err_set(u->err, INF_ETOOBIG,
                       "archive entry '%.200s': extracted files are larger than %zu bytes "
                       "(max_extracted_bytes)",
                       name, u->lim->max_extracted_bytes);
}

static int extract_file(struct unpack *u, struct archive_entry *e, int dir_fd, const char *leaf,
                        const char *name)
{
    /* Refuse on the declared size before writing a byte, then count what
     * is actually written, which is what the limit is about. */
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0)
        return inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': negative size", name);
    if ((uint64_t)size > u->lim->max_extracted_bytes - u->file_bytes)
        return too_big(u, name);

    mode_t mode = (archive_entry_perm(e) & S_IXUSR) ? 0755 : 0644;
    int fd = openat(dir_fd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST)
        return inf_err_set(u->err, INF_EINVAL,
                           "archive entry '%.200s': conflicts with an earlier entry", name);
    if (fd < 0)
        return create_fail(u, name, errno);
    int rc = 0;
    if (fchmod(fd, mode) != 0)
        rc = create_fail(u, name, errno);
    while (rc == 0) {
        la_ssize_t n = archive_read_data(u->ar, u->chunk, UNPACK_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            const char *why = archive_error_string(u->ar);
            rc = inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': cannot read data: %s",
                             name, why != NULL ? why : "corrupt archive");
            break;
        }
        if ((uint64_t)n > u->lim->max_extracted_bytes - u->file_bytes) {
            rc = too_big(u, name);
            break;
        }
        u->file_bytes += (uint64_t)n;
        if (inf_write_all(fd, u->chunk, (size_t)n) != 0) {
            rc = inf_err_set(u->err, INF_EIO, "archive entry '%.200s': cannot write: %s", name,
                             inf_strerror(errno));
            break;
        }
    }
    if (close(fd) != 0 && rc == 0)
        rc = inf_err_set(u->err, INF_EIO, "archive entry '%.200s': cannot write: %s", name,
                         inf_strerror(errno));
    return rc;
}

static int extract_dir(struct unpack *u, int dir_fd, const char *leaf, const char *name)
{
    if (make_dir(dir_fd, leaf) == 0)
        return 0;
    int e = errno;
    struct stat st;
    /* Already made as the parent of an earlier entry: fine. */
    if (e == EEXIST && fstatat(dir_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (e == EEXIST)
        return inf_err_set(u->err, INF_EINVAL,
                           "archive entry '%.200s': conflicts with an earlier entry", name);
    return create_fail(u, name, e);
}

static int extract_link(struct unpack *u, struct archive_entry *e, int dir_fd, const char *leaf,
                        const char *path, const char *name)
{
    const char *target = archive_entry_symlink(e);
    if (target == NULL)
        return inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': symlink without a target",
                           name);
    if (!link_target_ok(path, target))
        return inf_err_set(u->err, INF_EINVAL,
                           "archive entry '%.200s': symlink target '%.200s' leaves the artifact",
                           name, target);
    if (symlinkat(target, dir_fd, leaf) == 0)
        return 0;
    if (errno == EEXIST)
        return inf_err_set(u->err, INF_EINVAL,
                           "archive entry '%.200s': conflicts with an earlier entry", name);
    return create_fail(u, name, errno);
}

/* Validates and extracts the entry whose header was just read. */
static int extract_entry(struct unpack *u, struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    if (name == NULL)
        return inf_err_set(u->err, INF_EINVAL, "archive entry %zu: name cannot be decoded",
                           u->entries);
    char *path = NULL;
    int rc = clean_name(name, &path, u->err);
    if (rc != 0)
        return rc;

    int dir_fd = -1;
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) != NULL) {
        rc = inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': hard links are not allowed",
                         name);
        goto done;
    }
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
        rc = inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': %s not allowed", name,
                         type_name(type));
        goto done;
    }
    if (path[0] == '\0') {
        /* "./": the artifact root, which exists already. */
        if (type != AE_IFDIR)
            rc = inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': not a file name", name);
        goto done;
    }
    if (set_add(&u->seen, path) != 0) {
        rc = inf_err_set(u->err, INF_EINVAL, "archive entry '%.200s': duplicate entry", name);
        goto done;
    }
    rc = open_parent(u, path, name, &dir_fd);
    if (rc != 0)
        goto done;
    const char *slash = strrchr(path, '/');
    const char *leaf = slash != NULL ? slash + 1 : path;
    if (type == AE_IFREG)
        rc = extract_file(u, e, dir_fd, leaf, name);
    else if (type == AE_IFDIR)
        rc = extract_dir(u, dir_fd, leaf, name);
    else
        rc = extract_link(u, e, dir_fd, leaf, path, name);
done:
    if (dir_fd >= 0 && dir_fd != u->root_fd)
        close(dir_fd);
    free(path);
    return rc;
}

/* Extracts every entry of the archive into u->root_fd. */
static int extract_all(struct unpack *u, const void *tar, size_t len)
{
    u->ar = archive_read_new();
    if (u->ar == NULL) {
        inf_error("oom", "what=archive_read");
        abort();
    }
    archive_read_support_format_tar(u->ar);
    if (archive_read_open_memory(u->ar, tar, len) != ARCHIVE_OK)
        return inf_err_set(u->err, INF_EINVAL, "not a valid tar archive: %s",
                           archive_error_string(u->ar) ? archive_error_string(u->ar) : "?");
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(u->ar, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            const char *why = archive_error_string(u->ar);
            if (why == NULL)
                why = "unreadable header";
            if (u->entries == 0)
                return inf_err_set(u->err, INF_EINVAL, "not a valid tar archive: %s", why);
            return inf_err_set(u->err, INF_EINVAL, "archive is corrupt after entry %zu: %s",
                               u->entries, why);
        }
        if (++u->entries > u->lim->max_entries)
            return inf_err_set(u->err, INF_ETOOBIG,
                               "archive has more than %zu entries (max_entries)",
                               u->lim->max_entries);
        int rc = extract_entry(u, e);
        if (rc != 0)
            return rc;
    }
}

static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* A filesystem without RENAME_NOREPLACE: rename(2) still refuses to
     * replace a non-empty directory, which is what a finished artifact is. */
    return rename(from, to);
}

/* Extracts into the new directory tmp, syncs it and renames it to dest.
 * Sets *raced (and returns INF_ECONFLICT) if dest appeared meanwhile. On
 * any error tmp is removed. */
static int extract_to(const void *tar, size_t len, const char *tmp, const char *dest,
                      const struct artifact_limits *lim, int *raced, struct inf_err *err)
{
    struct unpack u = {.lim = lim, .root_fd = -1, .err = err};
    int rc = 0;
    *raced = 0;
    if (mkdir(tmp, 0755) != 0)
        return inf_err_set(err, INF_EIO, "cannot create %s: %s", tmp, inf_strerror(errno));
    u.root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (u.root_fd < 0 || fchmod(u.root_fd, 0755) != 0) {
        rc = inf_err_set(err, INF_EIO, "cannot open %s: %s", tmp, inf_strerror(errno));
        goto fail;
    }
    u.chunk = inf_malloc(UNPACK_CHUNK);
    struct artifact_locale loc;
    artifact_locale_enter(&loc);
    rc = extract_all(&u, tar, len);
    artifact_locale_leave(&loc);
    if (rc != 0)
        goto fail;
    /* The artifact is immutable once named: its bytes must be on disk
     * before the rename can be. */
    if (syncfs(u.root_fd) != 0) {
        rc = inf_err_set(err, INF_EIO, "cannot sync %s: %s", tmp, inf_strerror(errno));
        goto fail;
    }
    if (rename_noreplace(tmp, dest) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            *raced = 1;
            rc = inf_err_set(err, INF_ECONFLICT, "cannot unpack into %s: it already exists", dest);
        } else {
            rc = inf_err_set(err, INF_EIO, "cannot rename %s to %s: %s", tmp, dest,
                             inf_strerror(errno));
        }
        goto fail;
    }
    goto done;

fail:
    inf_rm_rf(tmp, NULL);
done:
    if (u.ar != NULL)
        archive_read_free(u.ar);
    if (u.root_fd >= 0)
        close(u.root_fd);
    set_fini(&u.seen);
    free(u.chunk);
    return rc;
}

static int archive_too_big(size_t len, const struct artifact_limits *lim, struct inf_err *err)
{
    return inf_err_set(err, INF_ETOOBIG,
                       "archive of %zu bytes is larger than %zu bytes (max_archive_bytes)", len,
                       lim->max_archive_bytes);
}

/* See artifact.h. INF_ECONFLICT if dest_dir exists; blocking. */
int artifact_unpack(const void *tar, size_t len, const char *dest_dir,
                    const struct artifact_limits *lim, struct inf_err *err)
{
    if (len > lim->max_archive_bytes)
        return archive_too_big(len, lim, err);
    struct stat st;
    if (lstat(dest_dir, &st) == 0)
        return inf_err_set(err, INF_ECONFLICT, "cannot unpack into %s: it already exists",
                           dest_dir);
    char rnd[17];
    inf_random_hex(rnd, 8);
    char *tmp = inf_asprintf("%s.tmp-%s", dest_dir, rnd);
    int raced;
    int rc = extract_to(tar, len, tmp, dest_dir, lim, &raced, err);
    free(tmp);
    return rc;
}

/* See artifact.h. Safe against concurrent puts of the same archive, in
 * threads or processes: one rename wins, the others report created 0.
 * Blocking. */
int artifact_store_put(const char *root, const void *tar, size_t len,
                       const struct artifact_limits *lim, char sha_out[65], int *created,
                       struct inf_err *err)
{
    *created = 0;
    if (len > lim->max_archive_bytes)
        return archive_too_big(len, lim, err);
    inf_sha256_hex(tar, len, sha_out);
    int rc = inf_mkdir_p(root, 0755, err);
    if (rc != 0)
        return rc;
    char *dest = inf_asprintf("%s/%s", root, sha_out);
    char *tmp = NULL;
    struct stat st;
    if (lstat(dest, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            rc = inf_err_set(err, INF_EIO, "artifact %s is not a directory", dest);
        goto done;
    }
    char rnd[17];
    inf_random_hex(rnd, 8);
    tmp = inf_asprintf("%s/.tmp-%s", root, rnd);
    int raced;
    rc = extract_to(tar, len, tmp, dest, lim, &raced, err);
    if (rc == 0) {
        *created = 1;
    } else if (raced) {
        /* A concurrent put of the same archive won; its copy is identical. */
        inf_err_clear(err);
        rc = 0;
    }
done:
    free(tmp);
    free(dest);
    return rc;
}
