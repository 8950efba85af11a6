/*
 * artifact: model and code folders moved from the CLI to the server as tar
 * archives and stored content-addressed and immutable.
 *
 * The CLI packs a folder into a deterministic ustar/pax archive (sorted
 * entries, mtime 0, uid/gid 0, modes 0644/0755) so the same folder always
 * hashes the same. The server validates and extracts it into
 * ROOT/<sha256 of the archive bytes>/ through a temporary directory and an
 * atomic rename, so a half-extracted artifact is never visible.
 *
 * Rejected with INF_EINVAL (message naming the entry): absolute paths, any
 * ".." component, symlinks whose target is absolute or leaves the artifact,
 * hard links, devices, FIFOs, sockets. INF_ETOOBIG: archive or total
 * extracted size or entry count over the limits. Uses libarchive.
 */
#ifndef INF_ARTIFACT_ARTIFACT_H
#define INF_ARTIFACT_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"

struct artifact_limits {
    size_t max_archive_bytes;   /* the tar itself */
    size_t max_extracted_bytes; /* sum of regular file sizes */
    size_t max_entries;
};

/* Defaults: 1 GiB archive, 4 GiB extracted, 100000 entries. */
void artifact_limits_default(struct artifact_limits *lim);

/* Packs `path` into a tar in `out` (initialised by the caller with its cap).
 * If path is a directory and include_self is 1, entries are prefixed with the
 * directory's own name ("model/weights.json"); with include_self 0 the
 * directory's contents are at the root ("score.py"). A single file is stored
 * under its own name. Symlinks inside the folder are stored as links if they
 * stay inside, else refused. INF_ENOTFOUND if path is missing. */
int artifact_pack(const char *path, int include_self, struct inf_buf *out, struct inf_err *err);

/* Validates and extracts an archive into dest_dir, which must not exist. On
 * error nothing is left at dest_dir. */
int artifact_unpack(const void *tar, size_t len, const char *dest_dir,
                    const struct artifact_limits *lim, struct inf_err *err);

/* Stores an archive under root: sha_out gets its SHA-256 (hex); if
 * root/<sha> already exists nothing is written and *created is 0, else the
 * archive is extracted into root/<sha> (via root/.tmp-*) and *created is 1. */
int artifact_store_put(const char *root, const void *tar, size_t len,
                       const struct artifact_limits *lim, char sha_out[65], int *created,
                       struct inf_err *err);

/* 1 if `s` is 64 lower-case hex characters. */
int artifact_id_valid(const char *s);

#endif
