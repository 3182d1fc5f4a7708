# shellcheck shell=bash
# Sourced by scripts/gpu-prepare.sh and scripts/gpu-validate.sh, so that both
# see the same set of built files.
#
# elf_files BUILD: every ELF file (program or shared object) below the build
# folder BUILD, one a line, outside CMake's own probes (BUILD/CMakeFiles) and
# the shared libraries gpu-prepare.sh copies into BUILD/lib.
elf_files() {
  find "$1" \( -path "$1/CMakeFiles" -o -path "$1/lib" \) -prune -o -type f -print |
    while IFS= read -r f; do
      [ "$(head -c 4 "$f" 2>/dev/null | tail -c 3)" = "ELF" ] && printf '%s\n' "$f"
    done
  return 0
}
