#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A man page renders without a warning: groff (groff-base) with every warning on.

Usage: lint_man.py PAGE   (exit 1 and groff's messages on a warning or error)
"""

import re
import subprocess
import sys


def main():
    page = sys.argv[1]
    r = subprocess.run(["groff", "-mandoc", "-ww", "-z", "-Tutf8", page], capture_output=True, text=True)
    if r.returncode != 0 or r.stderr.strip():
        print(f"{page}: groff exit status {r.returncode}\n{r.stderr}", end="")
        return 1
    # An empty rendering would pass the above: the page must have its sections.
    out = subprocess.run(["groff", "-mandoc", "-Tutf8", page], capture_output=True, text=True, check=True).stdout
    out = re.sub(r"\x1b\[[0-9;]*m|.\x08", "", out)  # bold and underline, as overstrikes or SGR sequences
    missing = [s for s in ("NAME", "DESCRIPTION", "SEE ALSO") if s not in out]
    if missing:
        print(f"{page}: no {', '.join(missing)} in the rendered page")
        return 1
    print(f"{page}: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
