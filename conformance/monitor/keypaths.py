"""JSON key paths as the monitoring recordings list them (shared by
scenario.py and accounts.py; tests/monitor.rs has the Rust twin)."""


def keys(value, prefix, out):
    """Key paths in the order written (`a.b`; array elements merge under
    `a[]`). A key one element lacks goes right after the key (and that
    key's own subtree) that precedes it where it appears, else right after
    its parent, so optional fields keep their place whatever the order of
    the elements."""
    if isinstance(value, dict):
        after = prefix or None
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else k
            if path not in out:
                out.insert(end_of(after, out), path)
            after = path
            keys(v, path, out)
    elif isinstance(value, list):
        for v in value:
            keys(v, prefix + "[]", out)


def end_of(path, out):
    """The index just past `path` and everything under it (0 for None;
    the end when `path` is not listed, e.g. an array's `a[]`)."""
    if path is None:
        return 0
    if path not in out:
        base = path[:-2] if path.endswith("[]") else path
        if base not in out:
            return len(out)
        path = base
    i = out.index(path) + 1
    while i < len(out) and (out[i].startswith(path + ".") or out[i].startswith(path + "[]")):
        i += 1
    return i
