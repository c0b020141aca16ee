#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""cleat.yaml(5) documents every key cleatd and the shipped plugins accept.

The keys come from the code, not from a list kept here: every array of key
names (`*keys[]`) in a source file that checks keys with (config_)check_keys,
under core/ (the config parser) and plugins/<name>/ (that plugin's options).
Each key must be an item (`.It Cm KEY`, or a subsection `.Ss KEY` for a map)
of the man page; a plugin's keys must
be items of the subsection named after the plugin.  For settings read with a
default and a range (read_int, config_get_int) or a default path (read_path),
some item of that key must state the default, and the bounds; so must it for
string settings with a default (read_path, config_get_string).

cleatd(8) must have an item for each of cleatd's long options.

Usage: check_man_keys.py SOURCE_DIR   (exit 1 and one line per problem)
"""

import glob
import os
import re
import sys

KEY_ARRAY = re.compile(r"static\s+const\s+char\s*\*\s*const\s+(\w*keys)\s*\[\]\s*=\s*\{(.*?)\};", re.S)
CHECKS_KEYS = re.compile(r"check_keys\s*\(")
DEFINE = re.compile(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", re.M)
# read_int(k, map, "key", def, min, max) and host->config_get_int(node, "key", def, min, max, ...)
INT_READ = re.compile(r"\b(?:read_int|config_get_int)\s*\([^\"]*?\"(\w+)\"\s*,\s*([^,]+),\s*([^,]+),\s*([^,)]+)")
# read_path(k, map, "key", DEFAULT), config_get_string(node, "key", DEFAULT, ...) and the plugins'
# get_path(host, options, "key", DEFAULT, ...), with a default that is a literal, or a macro and a literal.
STRING_READ = re.compile(r"\b(?:read_path|config_get_string|get_path)\s*\([^\"]*?\"(\w+)\"\s*,\s*"
                         r"((?:[A-Z_]+\s*)?\"[^\"]*\")\s*[,)]")
# The path macros the man page spells as @VAR@ (configured by man/CMakeLists.txt).
PATH_MACROS = ("CLEAT_DATA_DIR", "CLEAT_LIBEXEC_DIR", "CLEAT_PLUGIN_DIR")


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", " ", re.sub(r"//[^\n]*", "", text), flags=re.S)


def key_arrays(path):
    """{array name: [keys]} of a file that checks keys, else {}."""
    text = strip_comments(open(path, encoding="utf-8").read())
    if not CHECKS_KEYS.search(text):
        return {}
    return {m.group(1): re.findall(r"\"([^\"]*)\"", m.group(2)) for m in KEY_ARRAY.finditer(text)}


def evaluate(expr, defines):
    """An integer expression of literals, macros, << and arithmetic, or None."""
    for _ in range(5):
        expr = re.sub(r"\b[A-Z_][A-Z0-9_]*\b", lambda m: defines.get(m.group(0), m.group(0)), expr)
    expr = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", expr)
    if not re.fullmatch(r"[\d\s()+\-*<>]+", expr):
        return None
    try:
        return int(eval(expr, {"__builtins__": {}}))  # digits and operators only, checked above
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


def items(page):
    """[(key, section title, item text)] for every `.It Cm KEY` and `.Ss KEY` of the page."""
    out, section, current = [], "", None
    for line in page.splitlines():
        if line.startswith((".Sh ", ".Ss ")):
            section = line[4:].strip()
        if line.startswith(".Ss "):
            out.append([section, section, []])  # a map setting documented as a subsection of its own
        m = re.match(r"\.It Cm (\S+)", line)
        if m or line.startswith((".It ", ".El", ".Sh ", ".Ss ")):
            current = None
        if m:
            current = [m.group(1), section, []]
            out.append(current)
        elif current is not None:
            current[2].append(line)
    return [(k, s, "\n".join(t)) for k, s, t in out]


def plain(text):
    """The item's words without roff requests, so that '.Pa /run/x .' reads '/run/x'."""
    return re.sub(r"^\.\w+\s*", "", text, flags=re.M)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    page = open(os.path.join(src, "man", "cleat.yaml.5.in"), encoding="utf-8").read()
    documented = items(page)
    problems = []

    sources = {"core": sorted(glob.glob(os.path.join(src, "core", "**", "*.c"), recursive=True))}
    for d in sorted(glob.glob(os.path.join(src, "plugins", "*", ""))):
        sources[os.path.basename(os.path.dirname(d))] = sorted(glob.glob(os.path.join(d, "*.c")))

    checked = 0
    for owner, files in sources.items():
        if owner == "common":
            continue  # the plugins' helper library has no options of its own
        defines = {}
        for f in files + glob.glob(os.path.join(os.path.dirname(files[0]) if files else src, "*.h")):
            defines.update(dict(DEFINE.findall(strip_comments(open(f, encoding="utf-8").read()))))
        for f in files:
            rel = os.path.relpath(f, src)
            for array, keys in key_arrays(f).items():
                for key in keys:
                    checked += 1
                    where = [s for k, s, _ in documented if k == key]
                    if owner != "core":
                        where = [s for s in where if s == owner]
                    if not where:
                        problems.append(f"{rel}: key '{key}' ({array}) is not an item of cleat.yaml(5)"
                                        + ("" if owner == "core" else f" in its section '{owner}'"))
            text = strip_comments(open(f, encoding="utf-8").read())
            for key, d, lo, hi in INT_READ.findall(text):
                texts = [plain(t) for k, s, t in documented if k == key and (owner == "core" or s == owner)]
                for what, expr in (("default", d), ("minimum", lo), ("maximum", hi)):
                    value = evaluate(expr, defines)
                    if value is None or not texts:
                        continue
                    if not any(re.search(rf"(?<![\d.]){value}(?!\d)", t) for t in texts):
                        problems.append(f"{rel}: the {what} of '{key}' is {value}, which cleat.yaml(5) does not say")
            for key, d in STRING_READ.findall(text):
                value = d
                for macro in PATH_MACROS:
                    value = re.sub(rf"{macro}\s*", f"\"@{macro}@\"", value)
                value = "".join(re.findall(r"\"([^\"]*)\"", value))
                texts = [plain(t) for k, s, t in documented if k == key and (owner == "core" or s == owner)]
                if texts and not any(value in t for t in texts):
                    problems.append(f"{rel}: the default of '{key}' is {value}, which cleat.yaml(5) does not say")

    # cleatd(8): every long option of the command line.
    daemon_page = open(os.path.join(src, "man", "cleatd.8.in"), encoding="utf-8").read()
    for f in sources["core"]:
        text = strip_comments(open(f, encoding="utf-8").read())
        for block in re.findall(r"struct\s+option\s+\w+\s*\[\]\s*=\s*\{(.*?)\};", text, re.S):
            for opt in re.findall(r"\{\s*\"([\w-]+)\"", block):
                checked += 1
                if not re.search(rf"^\.It Fl (?:\w , )?-{re.escape(opt)}\b", daemon_page, re.M):
                    problems.append(f"{os.path.relpath(f, src)}: option --{opt} is not an item of cleatd(8)")

    if checked == 0:
        problems.append("no key arrays found: has the config parser moved out of core/ or plugins/?")
    for p in problems:
        print(p)
    print(f"{checked} keys and options checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
