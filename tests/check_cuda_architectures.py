#!/usr/bin/env python3
"""Reads back which GPU code a built libptychopatch carries.

Usage: check_cuda_architectures.py LIBRARY ARCH...

ARCH is CMake's CMAKE_CUDA_ARCHITECTURES syntax: "86-real" needs machine
code (SASS) for sm_86, "120-virtual" PTX for compute_120, "120" both. Every
fat binary in the library's .nv_fatbin section (one per .cu file that holds
kernels) must carry each; anything missing fails, naming it. Needs only the
Python standard library, not cuobjdump, so it runs on any build machine.

The fat binary container (documented by its users, not by NVIDIA): a 16-byte
header (magic 0xBA55ED50, version, header size, payload size), then entries
with a header of kind (1 = PTX, 2 = ELF/SASS), header size, payload size and,
at byte 28, the architecture as major * 10 + minor.
"""

import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX = 1
KIND_SASS = 2


def section(path, wanted):
    """Bytes of ELF section `wanted` of a 64-bit little-endian ELF file."""
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{path}: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        base = shoff + i * shentsize
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", data, base)
        return name, offset, size

    _, names_offset, _ = header(shstrndx)
    for i in range(shnum):
        name, offset, size = header(i)
        end = data.index(b"\0", names_offset + name)
        if data[names_offset + name:end].decode() == wanted:
            return data[offset:offset + size]
    return b""


def fatbins(blob):
    """[(set of SASS archs, set of PTX archs)] for each fat binary."""
    found = []
    offset = 0
    while offset + 16 <= len(blob):
        magic, _, header_size, size = struct.unpack_from("<IHHQ", blob, offset)
        if magic != FATBIN_MAGIC:
            offset += 8  # fat binaries are 8-byte aligned in the section
            continue
        sass, ptx = set(), set()
        entry, end = offset + header_size, offset + header_size + size
        while entry < end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", blob, entry)
            arch, = struct.unpack_from("<I", blob, entry + 28)
            (ptx if kind == KIND_PTX else sass).add(arch)
            entry += entry_header + payload
        found.append((sass, ptx))
        offset = end
    return found


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    library, archs = argv[1], argv[2:]
    need_sass, need_ptx = set(), set()
    for item in archs:
        number, _, kind = item.partition("-")
        if kind in ("", "real"):
            need_sass.add(int(number))
        if kind in ("", "virtual"):
            need_ptx.add(int(number))
    binaries = fatbins(section(library, ".nv_fatbin"))
    if not binaries:
        sys.exit(f"{library}: no CUDA fat binary found (built without kernels?)")
    problems = []
    for index, (sass, ptx) in enumerate(binaries):
        for arch in sorted(need_sass - sass):
            problems.append(f"fat binary {index}: no SASS for sm_{arch}")
        for arch in sorted(need_ptx - ptx):
            problems.append(f"fat binary {index}: no PTX for compute_{arch}")
    carried = sorted(set().union(*(s for s, _ in binaries)))
    ptx_carried = sorted(set().union(*(p for _, p in binaries)))
    print(f"{library}: {len(binaries)} fat binaries; SASS "
          + ", ".join(f"sm_{a}" for a in carried) + "; PTX "
          + (", ".join(f"compute_{a}" for a in ptx_carried) or "none"))
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main(sys.argv)
