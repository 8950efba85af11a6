"""Small HTTP containers shared by AMLRequest and AMLResponse.

``Headers`` is a case-insensitive, multi-valued header list and ``Args`` a
multi-valued query-parameter mapping; both answer the parts of Werkzeug's
``Headers`` / ``MultiDict`` API that scoring scripts use (``get`` with
``default`` and ``type``, ``getlist``, ``items``, ``in``, ``[]``).
"""

_MISSING = object()


def _convert(value, type, default):
    if type is None:
        return value
    try:
        return type(value)
    except (TypeError, ValueError):
        return default


class Headers:
    """HTTP headers: names compared case-insensitively, order and duplicates kept."""

    def __init__(self, pairs=None):
        self._pairs = []
        if pairs is None:
            return
        if hasattr(pairs, "items"):
            pairs = pairs.items()
        for name, value in pairs:
            self.add(name, value)

    def add(self, name, value):
        """Appends a header, keeping any other of the same name."""
        self._pairs.append((str(name), str(value)))

    def set(self, name, value):
        """Replaces every header called name by one."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name):
        key = name.lower()
        self._pairs = [(n, v) for n, v in self._pairs if n.lower() != key]

    def get(self, name, default=None, type=None):
        """The first value of name, else default (type converts it, as in Werkzeug)."""
        key = name.lower()
        for n, v in self._pairs:
            if n.lower() == key:
                return _convert(v, type, default)
        return default

    def getlist(self, name):
        key = name.lower()
        return [v for n, v in self._pairs if n.lower() == key]

    def items(self):
        return list(self._pairs)

    def keys(self):
        return [n for n, _ in self._pairs]

    def values(self):
        return [v for _, v in self._pairs]

    def to_dict(self):
        """name -> value, repeated headers joined with ', ' as HTTP allows."""
        out = {}
        for n, v in self._pairs:
            out[n] = out[n] + ", " + v if n in out else v
        return out

    def __getitem__(self, name):
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def __setitem__(self, name, value):
        self.set(name, value)

    def __delitem__(self, name):
        if name not in self:
            raise KeyError(name)
        self.remove(name)

    def __contains__(self, name):
        return isinstance(name, str) and self.get(name, _MISSING) is not _MISSING

    def __iter__(self):
        return iter(self._pairs)

    def __len__(self):
        return len(self._pairs)

    def __repr__(self):
        return f"Headers({self._pairs!r})"


class Args:
    """Query parameters: a mapping whose [] and get() give the first value of a name."""

    def __init__(self, pairs=()):
        self._lists = {}
        for name, value in pairs:
            self._lists.setdefault(name, []).append(value)

    def get(self, name, default=None, type=None):
        values = self._lists.get(name)
        if not values:
            return default
        return _convert(values[0], type, default)

    def getlist(self, name, type=None):
        values = self._lists.get(name, [])
        if type is None:
            return list(values)
        out = []
        for v in values:
            try:
                out.append(type(v))
            except (TypeError, ValueError):
                pass
        return out

    def items(self, multi=False):
        if multi:
            return [(k, v) for k, vs in self._lists.items() for v in vs]
        return [(k, vs[0]) for k, vs in self._lists.items()]

    def keys(self):
        return list(self._lists)

    def values(self):
        return [vs[0] for vs in self._lists.values()]

    def to_dict(self, flat=True):
        if flat:
            return {k: vs[0] for k, vs in self._lists.items()}
        return {k: list(vs) for k, vs in self._lists.items()}

    def __getitem__(self, name):
        values = self._lists.get(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name):
        return name in self._lists

    def __iter__(self):
        return iter(self._lists)

    def __len__(self):
        return len(self._lists)

    def __repr__(self):
        return f"Args({self.items(multi=True)!r})"
