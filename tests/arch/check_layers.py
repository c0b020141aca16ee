#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The core's layers never call up, checked on the built objects.

core/CMakeLists.txt declares each layer with cleat_layer(NAME DEPS ...).
A layer may use the symbols of the layers it depends on, directly or
through them, and its own.  This reads every layer's static library with
nm and fails, naming the object and the symbol, when a layer uses a symbol
that only a layer above it (or beside it) defines.  The compiler already
refuses an upward include; this also catches a declaration written by hand.

usage: check_layers.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import subprocess
import sys


def layers(source_dir):
    text = open(os.path.join(source_dir, "core", "CMakeLists.txt")).read()
    deps = {}
    for m in re.finditer(r"^cleat_layer\((\w+)([^)]*)\)", text, re.M):
        args = m.group(2).split()
        d = []
        if "DEPS" in args:
            for a in args[args.index("DEPS") + 1:]:
                if a in ("LIBS", "SOURCES"):
                    break
                d.append(a.removeprefix("cleat_"))
        deps[m.group(1)] = [x for x in d if x != "proto"]
    return deps


def closure(deps, name, seen=None):
    seen = set() if seen is None else seen
    for d in deps.get(name, []):
        if d not in seen:
            seen.add(d)
            closure(deps, d, seen)
    return seen


def symbols(archive):
    out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), []
    for line in out.splitlines():
        where, _, rest = line.rpartition(":")
        parts = rest.split()
        if len(parts) == 3 and parts[1] in "TDBRCVW":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            undefined.append((where.rsplit(":", 1)[-1], parts[1]))
    return defined, undefined


def main():
    source_dir, build_dir = sys.argv[1], sys.argv[2]
    deps = layers(source_dir)
    if len(deps) < 2:
        sys.exit("no layers found in core/CMakeLists.txt")
    defs, uses = {}, {}
    for name in deps:
        archive = os.path.join(build_dir, "core", f"libcleat_{name}.a")
        defs[name], uses[name] = symbols(archive)
    owner = {s: name for name, ds in defs.items() for s in ds}
    bad = []
    for name, undefined in uses.items():
        allowed = closure(deps, name) | {name}
        for obj, sym in undefined:
            o = owner.get(sym)
            if o and o not in allowed:
                bad.append(f"{name}/{obj} uses {sym} of layer {o}, which {name} may not call")
    for b in sorted(set(bad)):
        print(b)
    print(f"{len(deps)} layers, {sum(len(u) for u in uses.values())} external references, {len(set(bad))} upward")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
