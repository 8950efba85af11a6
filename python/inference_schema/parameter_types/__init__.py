"""Parameter types: how one run() input or output is deserialised and documented."""
