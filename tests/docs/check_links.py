#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Markdown docs link only to files of the repository, and those exist.

Every relative link of README.md, docs/*.md and the READMEs under plugins/,
shim/ and fuzz/ must name a file or folder of the source tree (and a
heading of it, for an #anchor into a Markdown file); a link that leaves the
tree (`../` past the root) is an error, and so is a path in a code span
that climbs out of it.  Links to http(s) URLs are not followed.

Usage: check_links.py SOURCE_DIR   (exit 1 and one line per problem)
"""

import glob
import os
import re
import sys

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
# A path in a code span that climbs out with ../ names a file too (README once pointed outside the tree so).
CODE_PATH = re.compile(r"`(\.\./[^`\s]+)`")


def anchors(path):
    """GitHub-style anchors of a Markdown file's headings."""
    out = set()
    for line in open(path, encoding="utf-8"):
        m = re.match(r"#+\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def main():
    root = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    pages = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    for d in ("plugins/*", "shim", "fuzz"):
        pages += sorted(glob.glob(os.path.join(root, d, "README.md")))
    problems, n = [], 0
    for page in pages:
        text = re.sub(r"```.*?```", "", open(page, encoding="utf-8").read(), flags=re.S)
        targets = [(t, True) for t in LINK.findall(text)] + [(t, False) for t in CODE_PATH.findall(text)]
        for target, is_link in targets:
            if re.match(r"[a-z]+:", target):
                continue  # a URL, not a file of ours
            n += 1
            rel = os.path.relpath(page, root)
            path, _, anchor = target.partition("#")
            dest = os.path.realpath(os.path.join(os.path.dirname(page), path)) if path else page
            if os.path.commonpath([dest, root]) != root:
                problems.append(f"{rel}: link {target} leaves the repository")
            elif not is_link:
                continue  # a path in code may name something on a node (a symlink's target, say)
            elif not os.path.exists(dest):
                problems.append(f"{rel}: link {target}: no such file")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problems.append(f"{rel}: link {target}: no heading #{anchor} in {os.path.relpath(dest, root)}")
    for p in problems:
        print(p)
    print(f"{n} links in {len(pages)} pages checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
