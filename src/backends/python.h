/*
 * python: the backend for Python scoring scripts (Azure ML's init()/run()
 * contract, `scoring_script: score.py`), run in an embedded CPython 3.11.
 * The contract itself is python/inferd/runtime.py; see docs/python.md.
 */
#ifndef INF_BACKENDS_PYTHON_H
#define INF_BACKENDS_PYTHON_H

#include "backends/backend.h"

/* The python backend's operations, registered as "python" by backend_find.
 * Flags BACKEND_PREFORK: load() once, then score() in forked children. */
extern const struct backend_ops python_backend_ops;

/* inferd's python/ folder (the one holding inferd/runtime.py) into *out
 * (caller frees): $INFERD_PYTHON_LIB, else the first <dir>/python walking up
 * from the executable's folder. INF_ENOTFOUND naming where it looked. */
int python_lib_dir(char **out, struct inf_err *err);

#endif
