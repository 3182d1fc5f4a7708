#!/usr/bin/env bash
# ABI guard of libptychopatch (docs/abi.md): compares the ABI of the shared
# library, as libabigail's abidw reads it from the DWARF of a release build
# with -g, with the baseline stored in abi/<soname>.abi, and fails on an
# incompatible change: a removed function, or a changed type reachable from
# an exported function (a struct field moved, removed, retyped or appended,
# a parameter or return type changed). The values of the header's PTP_*
# enumerators (status codes, dtypes, ...), which the DWARF does not carry,
# are compared with abi/<soname>.constants: a removed or renumbered value
# fails. Added functions and values pass and are reported.
#
#   scripts/check-abi.sh                  build build-abi/ (library only) and check
#   scripts/check-abi.sh --update         build and rewrite the baseline
#   scripts/check-abi.sh --library PATH   check (or --update from) a library built
#                                         elsewhere; it needs debug info (-g); the
#                                         constants come from this checkout's header
#   scripts/check-abi.sh --build-dir DIR  build in DIR instead of build-abi/
#
# Only types declared in include/ are described (--headers-dir): the
# library's internals, its C++ standard library and its statically linked
# CUDA runtime are not part of the dump, so it does not depend on the
# compiler's internals, the build directory or the CUDA toolkit.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

mode=check
library=""
build_dir=build-abi
while (($#)); do
  case "$1" in
    --update) mode=update ;;
    --library) library="${2:?--library needs a path}"; shift ;;
    --build-dir) build_dir="${2:?--build-dir needs a path}"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-abi: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

for tool in abidw abidiff readelf; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check-abi: $tool not found: install abigail-tools and binutils (scripts/install-deps.sh)" >&2
    exit 2
  fi
done

if [ -z "$library" ]; then
  # The release configuration of scripts/test.sh (CUDA when nvcc exists),
  # plus -g so that abidw sees the types; only the library is built.
  source scripts/env.sh
  echo "check-abi: building the library with debug info in $build_dir"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS=-g -DCMAKE_CXX_FLAGS=-g \
    -DPTYCHOPATCH_BUILD_TESTS=OFF -DPTYCHOPATCH_BUILD_BENCHMARKS=OFF \
    -DPTYCHOPATCH_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$build_dir" --target ptychopatch
  library="$build_dir/libptychopatch.so"
fi
library="$(readlink -f "$library")"
if [ ! -f "$library" ]; then
  echo "check-abi: no library at $library" >&2
  exit 2
fi
# Not `readelf | grep -q`: grep -q exits at the first match, and under
# pipefail readelf's SIGPIPE on its remaining output would fail the test.
sections="$(readelf -S --wide "$library")"
if ! grep -q '\.debug_info' <<<"$sections"; then
  echo "check-abi: $library has no debug info: build it with -g (or let this script build it)" >&2
  exit 2
fi
soname="$(readelf -d "$library" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"
if [ -z "$soname" ]; then
  echo "check-abi: $library has no soname" >&2
  exit 2
fi
baseline="abi/$soname.abi"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
current="$work/$soname.abi"
# Public types only, exported functions only, no paths, no line numbers, no
# DT_NEEDED list, type ids hashed from the types: the same text for the
# same ABI whatever the build directory, backend or line numbering.
abidw --headers-dir "$root/include" --drop-private-types --exported-interfaces-only \
  --no-corpus-path --no-comp-dir-path --no-show-locs --short-locs --no-elf-needed \
  --type-id-style hash --out-file "$current" "$library"
if ! grep -q "<function-decl name='ptp_" "$current"; then
  echo "check-abi: abidw found no ptp_ function with debug info in $library" >&2
  exit 2
fi

# The enumerators of the public header with their values, "NAME VALUE" per
# line, sorted: the names are the PTP_ identifiers left after preprocessing
# (macros such as PTP_VERSION_* are gone by then), the values are printed by
# a program compiled against the header.
constants_baseline="abi/$soname.constants"
constants="$work/$soname.constants"
cc="${CC:-cc}"
names="$("$cc" -E -P -x c include/ptychopatch.h | grep -o '\bPTP_[A-Z0-9_]*\b' | sort -u)"
{
  echo '#include <stdio.h>'
  echo '#include "ptychopatch.h"'
  echo 'int main(void) {'
  for name in $names; do
    echo "  printf(\"%s %lld\\n\", \"$name\", (long long)($name));"
  done
  echo '  return 0;'
  echo '}'
} >"$work/constants.c"
"$cc" -std=c99 -Iinclude "$work/constants.c" -o "$work/constants"
"$work/constants" | LC_ALL=C sort >"$constants"

if [ "$mode" = update ]; then
  mkdir -p abi
  for old in abi/*.abi abi/*.constants; do
    if [ -e "$old" ] && [ "$old" != "$baseline" ] && [ "$old" != "$constants_baseline" ]; then
      echo "check-abi: removing $old (soname is now $soname)"
      rm -f "$old"
    fi
  done
  if [ -f "$baseline" ] && cmp -s "$current" "$baseline"; then
    echo "check-abi: $baseline is up to date"
  else
    if [ -f "$baseline" ]; then
      echo "check-abi: changes from the previous baseline:"
      abidiff --no-show-locs "$baseline" "$current" | sed 's/^/  /' || true
    fi
    cp "$current" "$baseline"
    echo "check-abi: wrote $baseline; commit it"
  fi
  if [ -f "$constants_baseline" ] && cmp -s "$constants" "$constants_baseline"; then
    echo "check-abi: $constants_baseline is up to date"
  else
    [ -f "$constants_baseline" ] && diff "$constants_baseline" "$constants" | sed 's/^/  /' || true
    cp "$constants" "$constants_baseline"
    echo "check-abi: wrote $constants_baseline; commit it"
  fi
  exit 0
fi

if [ ! -f "$baseline" ] || [ ! -f "$constants_baseline" ]; then
  others="$(ls abi/*.abi abi/*.constants 2>/dev/null | tr '\n' ' ' || true)"
  echo "check-abi: FAIL: no baseline $baseline and $constants_baseline for the library's soname $soname" >&2
  [ -n "$others" ] && echo "  baselines present: $others" >&2
  echo "  A soname bump (an intended ABI break) refreshes the baseline in the same commit:" >&2
  echo "  scripts/check-abi.sh --update, then commit abi/ (docs/abi.md)." >&2
  exit 1
fi

# Constants: every baseline value must still be there, unchanged.
constants_bad="$(LC_ALL=C join -a 1 -e MISSING -o 0,1.2,2.2 "$constants_baseline" "$constants" \
  | awk '$2 != $3 { printf "  %s: %s in the baseline, %s now\n", $1, $2, $3 }')"
constants_added="$(LC_ALL=C join -v 2 "$constants_baseline" "$constants" | sed 's/^/  /')"
if [ -n "$constants_bad" ]; then
  echo "check-abi: FAIL: public constants removed or renumbered against $constants_baseline:" >&2
  echo "$constants_bad" >&2
  echo "  Values are part of the ABI (docs/abi.md): a change needs a soname bump." >&2
  exit 1
fi
if [ -n "$constants_added" ]; then
  echo "check-abi: new public constants (compatible; refresh with --update):"
  echo "$constants_added"
fi

set +e
abidiff --no-show-locs "$baseline" "$current" >"$work/report.txt" 2>&1
rc=$?
set -e
# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI
# change, 8 incompatible ABI change (a function or variable removed).
if ((rc & 3)); then
  echo "check-abi: abidiff failed (status $rc):" >&2
  cat "$work/report.txt" >&2
  exit 2
fi
if ((rc == 0)); then
  echo "check-abi: OK: the ABI of $soname equals $baseline; constants as in $constants_baseline"
  exit 0
fi

# Anything but additions breaks existing callers: removed functions or
# variables (bit 8), and changed ones, i.e. a changed type reachable from an
# exported function (abidiff reports these with bit 4 only).
removed_or_changed=0
while read -r line; do
  # "Functions changes summary: 0 Removed, 1 Changed, 2 Added functions"
  # "Function symbols changes summary: 0 Removed, 0 Added function symbols ..."
  removed="$(sed -n 's/.*summary: \([0-9]*\) Removed.*/\1/p' <<<"$line")"
  changed="$(sed -n 's/.* \([0-9]*\) Changed.*/\1/p' <<<"$line")"
  if [ "${removed:-0}" != 0 ] || [ "${changed:-0}" != 0 ]; then removed_or_changed=1; fi
done < <(grep -E 'changes summary:' "$work/report.txt")

if ((rc & 8)) || ((removed_or_changed)); then
  echo "check-abi: FAIL: incompatible ABI change against $baseline (abidiff status $rc):" >&2
  sed 's/^/  /' "$work/report.txt" >&2
  cat >&2 <<EOF
  An intended break bumps the soname: PTP_VERSION_MAJOR in include/ptychopatch.h
  and project(VERSION) in CMakeLists.txt, then scripts/check-abi.sh --update, all
  in the same commit. A reviewed compatible change (a field appended to a
  struct_size-versioned struct whose older sizes the library still accepts)
  refreshes the baseline with --update without a soname bump. See docs/abi.md.
EOF
  exit 1
fi

echo "check-abi: OK: compatible ABI additions against $baseline (abidiff status $rc):"
sed 's/^/  /' "$work/report.txt"
echo "check-abi: run scripts/check-abi.sh --update and commit $baseline so that the additions are guarded too"
exit 0
