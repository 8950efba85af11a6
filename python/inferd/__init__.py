"""inferd's Python side: the scoring-script runtime (inferd.runtime) that the
C worker's python backend drives from an embedded CPython."""
