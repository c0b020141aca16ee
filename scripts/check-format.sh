#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Check that the C sources are formatted as .clang-format (shim/.clang-format
# for the shim) says, with clang-format 14: other versions format some
# constructs differently, so CI and authors must use the same one.
#
#   scripts/check-format.sh [--fix] [FILE...]
#
# Without FILEs, every *.c and *.h that git tracks.  Lists each file that
# would change with the number of its lines that would, and exits 1 if any
# would; --fix rewrites them in place instead (and exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
if [[ "${1:-}" == "--fix" ]]; then
    fix=1
    shift
fi

cf=$(command -v clang-format-14 || true)
if [[ -z "$cf" ]]; then
    echo "check-format: clang-format-14 not found (apt-get install clang-format, or scripts/deps.sh --test)" >&2
    exit 2
fi

if (($#)); then
    files=("$@")
elif git rev-parse --git-dir >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- '*.c' '*.h')
else
    mapfile -t files < <(find core plugins shim tests fuzz bench -name '*.[ch]' 2>/dev/null | sort)
fi

if ((fix)); then
    printf '%s\0' "${files[@]}" | xargs -0 -n 16 -P "$(nproc)" "$cf" -i --style=file
    echo "check-format: formatted ${#files[@]} files"
    exit 0
fi

bad=0 lines=0
for f in "${files[@]}"; do
    # Lines of the file that clang-format would remove or add.
    n=$("$cf" --style=file "$f" | diff -U0 "$f" - | tail -n +3 | grep -c '^[-+]' || true)
    if ((n > 0)); then
        echo "$f: $n lines"
        bad=$((bad + 1))
        lines=$((lines + n))
    fi
done
if ((bad)); then
    echo "check-format: $bad of ${#files[@]} files not formatted ($lines lines would change);" \
        "scripts/check-format.sh --fix formats them" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files formatted"
