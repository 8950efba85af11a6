/*
 * native: the backend for native models, shared libraries exporting the C
 * scoring contract of include/inferd/native.h (`scoring_script: score.so`).
 */
#ifndef INF_BACKENDS_NATIVE_H
#define INF_BACKENDS_NATIVE_H

#include "backends/backend.h"

/* The native backend's operations, registered as "native" by backend_find. */
extern const struct backend_ops native_backend_ops;

#endif
