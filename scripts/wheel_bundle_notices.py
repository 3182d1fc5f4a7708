#!/usr/bin/env python3
"""Adds the licences of the libraries auditwheel bundled to a repaired wheel.

`auditwheel repair` copies libfftw3f and libfftw3 (GPL-2.0-or-later) and
liblz4 (BSD-2-Clause) into the
wheel's ``ptychopatch.libs/``. Whoever passes the wheel on passes those
libraries on, so the wheel must carry their licence texts and say where
their source is (docs/packaging.md, "Licences"). This script writes, into
the wheel's ``.dist-info/licenses/``:

* ``BUNDLED_LIBRARIES.txt``: each bundled file, the Debian package and
  source package (with version) it was copied from, its licence, and where
  the complete corresponding source is;
* the licence texts those packages refer to, from Debian's
  ``/usr/share/common-licenses`` and the packages' ``copyright`` files;

and updates the wheel's RECORD. Run by scripts/build-wheel.sh and, with
``--linked-in SOURCE=VERSION`` for a Debian source package built and linked
statically into libptychopatch.so, by scripts/build-wheel-glibc228.sh.

    python3 scripts/wheel_bundle_notices.py WHEEL [--linked-in SOURCE=VERSION ...]
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# soname stem -> (licence, licence texts to include: (name in the wheel, path)).
KNOWN = {
    "libfftw3f": ("GPL-2.0-or-later",
                  [("GPL-2.0.txt", "/usr/share/common-licenses/GPL-2")]),
    "libfftw3": ("GPL-2.0-or-later",
                 [("GPL-2.0.txt", "/usr/share/common-licenses/GPL-2")]),
    "liblz4": ("BSD-2-Clause (the library; LZ4's programs are GPL-2.0)", []),
}
# Debian source package -> (licence, licence texts, the binary package whose
# copyright file covers it), for libraries linked in statically.
KNOWN_SOURCES = {
    "fftw3": ("GPL-2.0-or-later", [("GPL-2.0.txt", "/usr/share/common-licenses/GPL-2")],
              "libfftw3-single3"),
}


def debian_package(soname: str) -> tuple:
    """(package, version, source package, source version) owning a soname."""
    path = None
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    for line in subprocess.run([ldconfig, "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        name, _, target = line.strip().partition(" => ")
        if name.split(" ")[0] == soname:
            path = os.path.realpath(target)
            break
    if path is None:
        raise SystemExit(f"wheel_bundle_notices: ldconfig does not list {soname}")
    owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if owner.returncode != 0:  # /lib is a link to /usr/lib on Debian 12
        owner = subprocess.run(["dpkg-query", "-S", path.replace("/usr/lib/", "/lib/", 1)],
                               capture_output=True, text=True, check=True)
    package = owner.stdout.split(":")[0]
    fields = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}\t${source:Package}\t${source:Version}", package],
        capture_output=True, text=True, check=True).stdout.split("\t")
    return package, fields[0], fields[1], fields[2]


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main(wheel: str, linked_in: list) -> int:
    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
        names = [info.filename for info in infos]
        contents = {name: zf.read(name) for name in names}
    dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    bundled = sorted(n for n in names if re.match(r"ptychopatch\.libs/[^/]+$", n))
    if not bundled and not linked_in:
        raise SystemExit(f"wheel_bundle_notices: {wheel} bundles no libraries")

    lines = [
        "Libraries bundled in this wheel (in ptychopatch.libs/ by auditwheel, or",
        "linked in statically), from the Debian packages of the machine that built",
        "it or their source. Each keeps its own licence;",
        "the complete corresponding source of each is Debian's source package named",
        "here, at https://snapshot.debian.org/package/SOURCE/VERSION/ (also",
        "`apt-get source SOURCE=VERSION`). libptychopatch's own source is at the",
        "project's repository (LICENSE: BSD-3-Clause).",
        "",
    ]
    extra = {}

    def describe(heading, licence, texts, source, version, package):
        """One library's lines; its copyright file and licence texts into extra."""
        lines.extend(heading + [
            f"  licence:     {licence}",
            f"  source:      https://snapshot.debian.org/package/{source}/{version}/",
            f"  copyright:   {dist_info}/licenses/{package}.copyright",
            "",
        ])
        extra[f"{package}.copyright"] = f"/usr/share/doc/{package}/copyright"
        for name, path in texts:
            extra[name] = path

    for member in bundled:
        filename = member.split("/")[-1]
        stem = filename.split("-")[0]
        if stem not in KNOWN:
            raise SystemExit(f"wheel_bundle_notices: no licence known for {filename}; "
                             "add it to KNOWN (and THIRD_PARTY_NOTICES.md)")
        licence, texts = KNOWN[stem]
        soname = stem + ".so." + filename.split(".so.")[1].split(".")[0]
        package, version, source, source_version = debian_package(soname)
        describe([filename, f"  copied from: {soname}, Debian package {package} {version}"],
                 licence, texts, source, source_version, package)

    for source_version in linked_in:
        source, _, version = source_version.partition("=")
        if source not in KNOWN_SOURCES or not version:
            raise SystemExit(f"wheel_bundle_notices: --linked-in {source_version}: expected "
                             f"SOURCE=VERSION with SOURCE one of {sorted(KNOWN_SOURCES)}")
        licence, texts, package = KNOWN_SOURCES[source]
        describe([f"{source} {version} (Debian source package), built from that source and",
                  "  linked statically into ptychopatch/libptychopatch.so"],
                 licence, texts, source, version, package)

    added = {f"{dist_info}/licenses/BUNDLED_LIBRARIES.txt": "\n".join(lines).encode()}
    for name, path in sorted(extra.items()):
        with open(path, "rb") as f:
            added[f"{dist_info}/licenses/{name}"] = f.read()

    record_name = f"{dist_info}/RECORD"
    record = [line for line in contents[record_name].decode().splitlines()
              if line and line.split(",")[0] not in added]
    record += [record_line(name, added[name]) for name in sorted(added)]
    record.append(f"{record_name},,")
    contents.update(added)
    contents[record_name] = ("\n".join(record) + "\n").encode()
    kept = [info for info in infos if info.filename not in added and info.filename != record_name]
    record_info = next(info for info in infos if info.filename == record_name)
    ordered = kept + [zipfile.ZipInfo(name, date_time=record_info.date_time)
                      for name in sorted(added)] + [record_info]

    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(wheel)), suffix=".whl")
    os.close(fd)
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as zf:
        # ZipInfo keeps each member's permissions (the libraries' exec bits).
        for info in ordered:
            info.compress_type = zipfile.ZIP_DEFLATED
            if not info.external_attr:
                info.external_attr = 0o644 << 16
            zf.writestr(info, contents[info.filename])
    os.replace(temporary, wheel)
    print(f"wheel_bundle_notices: {len(added)} licence files added to {wheel}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 1 or len(args) % 2 != 1 or any(a != "--linked-in" for a in args[1::2]):
        raise SystemExit(__doc__)
    sys.exit(main(args[0], args[2::2]))
