#!/usr/bin/env python3
"""Write api/schemas/*.json from the operations table.

usage: gen_schemas.py COLIBRID OUTDIR [--check]

Runs `COLIBRID --print-ops` and writes OUTDIR/<op name>.json for every
operation: its input_schema, pretty-printed (2-space indent, sorted keys,
trailing newline).  A *.json file in OUTDIR that names no operation is
removed, so OUTDIR always mirrors the table.

With --check nothing is written: the script lists every file that is
missing, stale (differs from what would be written) or extra, and exits 1
when there is any.  `make check` runs it that way; `make schemas` runs it
without --check.

Standard library only.
"""

import json
import os
import re
import subprocess
import sys

# Operation names become file names: keep them to noun.verb in lower case.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def usage(message=None):
    if message:
        print("gen_schemas.py: %s" % message, file=sys.stderr)
    print("usage: gen_schemas.py COLIBRID OUTDIR [--check]", file=sys.stderr)
    sys.exit(2)


def load_ops(colibrid):
    """The operations table as printed by `colibrid --print-ops`."""
    try:
        out = subprocess.run([colibrid, "--print-ops"], check=True,
                             stdout=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print("gen_schemas.py: cannot run %s --print-ops: %s"
              % (colibrid, e), file=sys.stderr)
        sys.exit(2)
    try:
        ops = json.loads(out)
    except ValueError as e:
        print("gen_schemas.py: %s --print-ops did not print JSON: %s"
              % (colibrid, e), file=sys.stderr)
        sys.exit(2)
    return ops


def render(schema):
    """The exact bytes a schema file holds."""
    return (json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8")


def wanted_files(ops):
    """{file name: bytes} for every operation; exits on a bad table."""
    files = {}
    for op in ops:
        name = op.get("name", "")
        if not NAME_RE.match(name):
            print("gen_schemas.py: operation name %r is not of the form "
                  "noun.verb" % name, file=sys.stderr)
            sys.exit(2)
        fname = name + ".json"
        if fname in files:
            print("gen_schemas.py: operation %s appears twice" % name,
                  file=sys.stderr)
            sys.exit(2)
        files[fname] = render(op["input_schema"])
    return files


def present_files(outdir):
    if not os.path.isdir(outdir):
        return set()
    return {f for f in os.listdir(outdir)
            if f.endswith(".json") and os.path.isfile(os.path.join(outdir, f))}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    args = [a for a in argv[1:] if a != "--check"]
    check = len(args) != len(argv) - 1
    if len(args) != 2:
        usage()
    colibrid, outdir = args
    files = wanted_files(load_ops(colibrid))
    present = present_files(outdir)

    missing = sorted(f for f in files if f not in present)
    stale = sorted(f for f in files
                   if f in present and read(os.path.join(outdir, f)) != files[f])
    extra = sorted(present - set(files))

    if check:
        for f in missing:
            print("missing: %s" % os.path.join(outdir, f))
        for f in stale:
            print("stale:   %s" % os.path.join(outdir, f))
        for f in extra:
            print("extra:   %s (no operation of that name)"
                  % os.path.join(outdir, f))
        if missing or stale or extra:
            print("api/schemas is out of date: run `make schemas`")
            return 1
        return 0

    os.makedirs(outdir, exist_ok=True)
    for f in missing + stale:
        tmp = os.path.join(outdir, "." + f + ".tmp")
        with open(tmp, "wb") as out:
            out.write(files[f])
        os.replace(tmp, os.path.join(outdir, f))
        print("wrote   %s" % os.path.join(outdir, f))
    for f in extra:
        os.remove(os.path.join(outdir, f))
        print("removed %s" % os.path.join(outdir, f))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
