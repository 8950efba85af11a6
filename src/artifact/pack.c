/*
 * pack: the CLI side of artifact. Packs a file or a folder into a tar
 * (pax restricted) held in a caller's bounded buffer.
 *
 * The archive is deterministic: entries of each directory are written in
 * bytewise-sorted order, directories included, with mtime 0, uid/gid 0, no
 * owner names and modes normalised to 0755 (directories, executables) or
 * 0644, so the same tree gives the same bytes and hence the same artifact id
 * wherever and whenever it is packed. Symlinks are stored with a normalised
 * relative target when they stay inside the folder and refused otherwise.
 *
 * Stateless; any thread. Each call owns its libarchive writer.
 */
#include "artifact/artifact.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact/artifact_int.h"
#include "core/log.h"

enum { PACK_CHUNK = 64 * 1024 };

struct pack {
    struct archive *ar;
    struct inf_buf *out;
    const char *src;    /* the path the caller gave, for messages */
    char *root_real;    /* realpath of the packed directory */
    const char *prefix; /* "" or "<name>/" when the folder includes itself */
    int out_full;       /* the write callback hit out->max */
    char *chunk;        /* PACK_CHUNK bytes of file data */
    struct inf_err *err;
};

/* Past the cap, bytes are dropped and out_full set rather than failing the
 * write: libarchive leaks its block buffer when a write callback fails, so
 * callers check out_full after each call instead. */
static la_ssize_t write_cb(struct archive *ar, void *ud, const void *buf, size_t n)
{
    (void)ar;
    struct pack *p = ud;
    if (!p->out_full && inf_buf_append(p->out, buf, n) != 0)
        p->out_full = 1;
    return (la_ssize_t)n;
}

/* The error for a failed libarchive call while writing `what`. */
static int archive_fail(struct pack *p, const char *what)
{
    if (p->out_full)
        return inf_err_set(p->err, INF_ETOOBIG, "cannot pack %s: it is larger than %zu bytes",
                           p->src, p->out->max);
    const char *why = archive_error_string(p->ar);
    return inf_err_set(p->err, INF_EIO, "cannot pack %s: writing %s: %s", p->src, what,
                       why != NULL ? why : "unknown libarchive error");
}

static struct archive_entry *entry_new(const char *name, mode_t type, mode_t perm)
{
    struct archive_entry *e = archive_entry_new();
    if (e == NULL) {
        inf_error("oom", "what=archive_entry");
        abort();
    }
    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    return e;
}

/* Writes the header of entry e (the caller still frees e). */
static int write_header(struct pack *p, struct archive_entry *e)
{
    /* ARCHIVE_WARN: a name that is not UTF-8, stored as raw bytes. */
    int r = archive_write_header(p->ar, e);
    if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || p->out_full)
        return archive_fail(p, archive_entry_pathname(e));
    return 0;
}

static int pack_dir_entry(struct pack *p, const char *rel)
{
    char *name = inf_asprintf("%s%s", p->prefix, rel);
    struct archive_entry *e = entry_new(name, AE_IFDIR, 0755);
    int rc = write_header(p, e);
    archive_entry_free(e);
    free(name);
    return rc;
}

/* Stores the regular file at fs_path under the archive name `name`. */
static int pack_file(struct pack *p, const char *fs_path, const char *name)
{
    struct archive_entry *e = NULL;
    int rc = 0;
    /* O_NONBLOCK: a FIFO swapped in since lstat must not hang us. */
    int fd = open(fs_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return inf_err_set(p->err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO,
                           "cannot pack %s: cannot open %s: %s", p->src, fs_path,
                           inf_strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot stat %s: %s", p->src, fs_path,
                         inf_strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = inf_err_set(p->err, INF_EINVAL, "cannot pack %s: %s is no longer a regular file",
                         p->src, fs_path);
        goto done;
    }
    if ((uint64_t)st.st_size > p->out->max - p->out->len) {
        p->out_full = 1; /* no need to read it to know */
        rc = archive_fail(p, name);
        goto done;
    }
    e = entry_new(name, AE_IFREG, (st.st_mode & S_IXUSR) ? 0755 : 0644);
    archive_entry_set_size(e, st.st_size);
    rc = write_header(p, e);
    if (rc != 0)
        goto done;
    /* Exactly the size in the header: a file that shrinks or grows while we
     * read it would otherwise produce a corrupt or silently cut entry. */
    off_t left = st.st_size;
    while (left > 0) {
        size_t want = left < PACK_CHUNK ? (size_t)left : PACK_CHUNK;
        ssize_t got = read(fd, p->chunk, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot read %s: %s", p->src, fs_path,
                             inf_strerror(errno));
            goto done;
        }
        if (got == 0) {
            rc = inf_err_set(p->err, INF_EIO, "cannot pack %s: %s changed while being packed",
                             p->src, fs_path);
            goto done;
        }
        if (archive_write_data(p->ar, p->chunk, (size_t)got) != got || p->out_full) {
            rc = archive_fail(p, name);
            goto done;
        }
        left -= got;
    }
done:
    archive_entry_free(e);
    close(fd);
    return rc;
}

/* Resolves `target` lexically against `dir` (both relative to the packed
 * root) into a fresh normalised path ("" is the root itself). NULL if it
 * climbs above the root. */
static char *resolve_lexical(const char *dir, const char *target)
{
    size_t dlen = strlen(dir);
    char *out = inf_malloc(dlen + strlen(target) + 2);
    memcpy(out, dir, dlen + 1);
    size_t len = dlen;
    const char *c = target;
    while (*c != '\0') {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            if (len == 0) {
                free(out);
                return NULL;
            }
            char *slash = memrchr(out, '/', len);
            len = slash != NULL ? (size_t)(slash - out) : 0;
        } else if (n > 0 && !(n == 1 && c[0] == '.')) {
            if (len > 0)
                out[len++] = '/';
            memcpy(out + len, c, n);
            len += n;
        }
        out[len] = '\0';
        c += n;
        c += *c == '/';
    }
    return out;
}

/* The relative symlink target that leads from directory `dir` to `dest`,
 * both normalised paths relative to the root: "../b/c", "x", ".". */
static char *relative_target(const char *dir, const char *dest)
{
    /* Skip the leading components the two paths share. */
    size_t common = 0;
    for (size_t i = 0;; i++) {
        int dir_end = dir[i] == '\0' || dir[i] == '/';
        int dest_end = dest[i] == '\0' || dest[i] == '/';
        if (dir_end && dest_end) {
            common = i;
            if (dir[i] == '\0' || dest[i] == '\0')
                break;
        } else if (dir_end || dest_end || dir[i] != dest[i]) {
            break;
        }
    }
    const char *up = dir + common;
    up += *up == '/';
    const char *down = dest + common;
    down += *down == '/';

    /* One ".." per component left in dir, then the rest of dest. */
    struct inf_buf b;
    inf_buf_init(&b, 3 * strlen(up) + strlen(down) + 8);
    if (*up != '\0') {
        inf_buf_append(&b, "..", 2);
        for (const char *s = up; *s != '\0'; s++)
            if (*s == '/')
                inf_buf_append(&b, "/..", 3);
    }
    if (*down != '\0') {
        if (b.len > 0)
            inf_buf_append(&b, "/", 1);
        inf_buf_append(&b, down, strlen(down));
    }
    if (b.len == 0)
        inf_buf_append(&b, ".", 1);
    return b.data;
}

/* Strips the packed root from an absolute path under it: "/r/x" -> "x",
 * "/r" -> "". NULL if the path is not under the root. */
static const char *under_root(const char *root, const char *abs)
{
    size_t n = strlen(root);
    if (n == 1) /* the root is "/" */
        return abs + 1;
    if (strncmp(abs, root, n) != 0 || (abs[n] != '/' && abs[n] != '\0'))
        return NULL;
    return abs[n] == '/' ? abs + n + 1 : abs + n;
}

/* Stores the symlink at fs_path (rel in the tree, inside directory rel_dir)
 * with a target relative to its own directory, or refuses it if the target
 * leaves the packed folder. */
static int pack_link(struct pack *p, const char *fs_path, const char *rel, const char *rel_dir)
{
    char target[PATH_MAX];
    ssize_t n = readlink(fs_path, target, sizeof(target) - 1);
    if (n < 0)
        return inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot read link %s: %s", p->src,
                           fs_path, inf_strerror(errno));
    target[n] = '\0';
    if (n == 0)
        return inf_err_set(p->err, INF_EINVAL, "cannot pack %s: symlink %s has an empty target",
                           p->src, fs_path);

    char *resolved = NULL;
    if (target[0] == '/') {
        /* Absolute targets count when they name a place inside the folder,
         * literally or once their own symlinks are resolved. */
        const char *inside = under_root(p->root_real, target);
        char *real = inside == NULL ? realpath(target, NULL) : NULL;
        if (real != NULL)
            inside = under_root(p->root_real, real);
        if (inside != NULL)
            resolved = resolve_lexical("", inside);
        free(real);
    } else {
        resolved = resolve_lexical(rel_dir, target);
    }
    if (resolved == NULL)
        return inf_err_set(p->err, INF_EINVAL,
                           "cannot pack %s: symlink %s points outside the folder (to %s)", p->src,
                           fs_path, target);

    char *link_target = relative_target(rel_dir, resolved);
    char *name = inf_asprintf("%s%s", p->prefix, rel);
    struct archive_entry *e = entry_new(name, AE_IFLNK, 0777);
    archive_entry_copy_symlink(e, link_target);
    int rc = write_header(p, e);
    archive_entry_free(e);
    free(name);
    free(link_target);
    free(resolved);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names in directory fs_dir, sorted bytewise, without "." and
 * "..". The caller frees each name and the array. */
static int list_dir(struct pack *p, const char *fs_dir, char ***names_out, size_t *count_out)
{
    DIR *d = opendir(fs_dir);
    if (d == NULL)
        return inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot open directory %s: %s", p->src,
                           fs_dir, inf_strerror(errno));
    char **names = NULL;
    size_t count = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            names = inf_realloc(names, cap * sizeof(*names));
        }
        names[count++] = inf_strdup(de->d_name);
    }
    int e = errno;
    closedir(d);
    if (e != 0) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        return inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot read directory %s: %s", p->src,
                           fs_dir, inf_strerror(e));
    }
    if (count > 0)
        qsort(names, count, sizeof(*names), cmp_names);
    *names_out = names;
    *count_out = count;
    return 0;
}

/* Packs the contents of directory fs_dir, which is rel_dir in the tree ("" at
 * the root), depth first in sorted order. */
static int pack_tree(struct pack *p, const char *fs_dir, const char *rel_dir)
{
    char **names = NULL;
    size_t count = 0;
    int rc = list_dir(p, fs_dir, &names, &count);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char *fs = inf_asprintf("%s/%s", fs_dir, names[i]);
        char *rel =
            rel_dir[0] != '\0' ? inf_asprintf("%s/%s", rel_dir, names[i]) : inf_strdup(names[i]);
        struct stat st;
        if (lstat(fs, &st) != 0) {
            rc = inf_err_set(p->err, INF_EIO, "cannot pack %s: cannot stat %s: %s", p->src, fs,
                             inf_strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = pack_dir_entry(p, rel);
            if (rc == 0)
                rc = pack_tree(p, fs, rel);
        } else if (S_ISREG(st.st_mode)) {
            char *name = inf_asprintf("%s%s", p->prefix, rel);
            rc = pack_file(p, fs, name);
            free(name);
        } else if (S_ISLNK(st.st_mode)) {
            rc = pack_link(p, fs, rel, rel_dir);
        } else {
            rc = inf_err_set(p->err, INF_EINVAL,
                             "cannot pack %s: %s is not a regular file, directory or symlink",
                             p->src, fs);
        }
        free(rel);
        free(fs);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* The name a file or folder is stored under: the last component of the path
 * as given, or of its real path for "." and the like. NULL for "/". */
static char *own_name(const char *path, const char *real)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *slash = memrchr(path, '/', n);
    const char *base = slash != NULL ? slash + 1 : path;
    size_t blen = n - (size_t)(base - path);
    int dots = (blen == 1 && base[0] == '.') || (blen == 2 && base[0] == '.' && base[1] == '.');
    if (blen > 0 && !dots)
        return inf_strndup(base, blen);
    const char *rslash = strrchr(real, '/');
    if (rslash == NULL || rslash[1] == '\0')
        return NULL;
    return inf_strdup(rslash + 1);
}

/* See artifact.h. Blocking file I/O; the CLI calls it before uploading. */
int artifact_pack(const char *path, int include_self, struct inf_buf *out, struct inf_err *err)
{
    struct pack p = {.out = out, .src = path, .prefix = "", .err = err};
    char *name = NULL, *prefix = NULL;
    struct artifact_locale loc = {0};
    int rc = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return inf_err_set(err, errno == ENOENT ? INF_ENOTFOUND : INF_EIO, "cannot pack %s: %s",
                           path, inf_strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return inf_err_set(err, INF_EINVAL, "cannot pack %s: not a regular file or directory",
                           path);
    p.root_real = realpath(path, NULL);
    if (p.root_real == NULL)
        return inf_err_set(err, INF_EIO, "cannot pack %s: %s", path, inf_strerror(errno));
    name = own_name(path, p.root_real);
    if (name == NULL) {
        rc = inf_err_set(err, INF_EINVAL, "cannot pack %s: it has no name to store it under", path);
        goto done;
    }

    artifact_locale_enter(&loc);
    p.chunk = inf_malloc(PACK_CHUNK);
    p.ar = archive_write_new();
    if (p.ar == NULL) {
        inf_error("oom", "what=archive_write");
        abort();
    }
    /* No padding of the last block keeps small artifacts small. */
    if (archive_write_set_format_pax_restricted(p.ar) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(p.ar, 1) != ARCHIVE_OK ||
        archive_write_open(p.ar, &p, NULL, write_cb, NULL) != ARCHIVE_OK) {
        rc = archive_fail(&p, "the archive header");
        goto done;
    }

    if (S_ISREG(st.st_mode)) {
        rc = pack_file(&p, path, name);
    } else {
        if (include_self) {
            prefix = inf_asprintf("%s/", name);
            p.prefix = prefix;
            rc = pack_dir_entry(&p, "");
        }
        if (rc == 0)
            rc = pack_tree(&p, path, "");
    }
    if (rc == 0 && (archive_write_close(p.ar) != ARCHIVE_OK || p.out_full))
        rc = archive_fail(&p, "the end of the archive");

done:
    if (p.ar != NULL)
        archive_write_free(p.ar);
    artifact_locale_leave(&loc);
    if (rc != 0)
        inf_buf_reset(out);
    free(p.chunk);
    free(prefix);
    free(name);
    free(p.root_real);
    return rc;
}
