"""Runs the C, C++, Fortran and CMake blocks of the docs against an installed
library (the ctest docs_snippets_compiled, tests/consumer/CMakeLists.txt).

Which blocks and how: tests/docs/snippets.py (COMPILED, and every c / cpp /
fortran block not listed there, as a complete program). Each document gets
a working directory under --work; its blocks are handled in page order:

  program    a complete program, written as its name (the page's own
             "/* hello.c: ..." comment, or the table's), compiled with
             `pkg-config --cflags --libs ptychopatch[-fortran]` of the prefix
             and run: it must exit 0.
  fragment   not a program: HARNESSES below wrap it in one (placeholder
             variables such as H, W, object, offsets declared and filled in
             before it, results checked after it); then as a program, which
             must also print nothing on stderr (where the README's snippets
             report errors).
  must_fail  a mistake the page shows: the harnessed source must not
             compile, with the page's error text.
  file       written as its name (a CMakeLists.txt the next shell block uses).
  shell      run with bash -e in the directory, /opt/ptychopatch being the
             installed prefix; cc, c++ and gfortran are the build's
             compilers (with its sanitizer flags).
  declaration  a declaration the page shows (a struct, a typedef, a
             prototype): in include/ptychopatch.h as shown (a struct: the
             same fields, types and order). The default for a c / cpp
             block without main().
  layout     the installed tree the page lists: every file exists.
`needs` (in the table) copies other blocks into the directory first.
Fortran blocks are skipped without --fc. Standard library only.

Usage: python3 run_compiled.py --prefix P --libdir lib --work DIR --cc CC --cxx CXX
                               [--fc FC] [--sanitize address,undefined] [--generator G]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import snippets  # noqa: E402

# --------------------------------------------------------------- harnesses
# Each takes the block's text and returns (file name, source).


def _c_fragment(text: str, prelude: str, epilogue: str, cpp=False) -> str:
    """The fragment's #include lines at the top, its statements in main()
    between the prelude and the epilogue."""
    lines = text.splitlines()
    includes = [line for line in lines if line.startswith("#include")]
    body = [line for line in lines if not line.startswith("#include")]
    std = ("#include <complex>\n#include <cstdio>\n#include <cstdlib>\n#include <vector>\n"
           if cpp else "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n")
    return (std + "\n".join(includes) + "\n\nint main(void) {\n" + prelude + "\n  /* --- the docs' snippet --- */\n"
            + "\n".join("  " + line for line in body) + "\n  /* --- end --- */\n" + epilogue
            + "\n  return 0;\n}\n")


def readme_extract(text):
    # Placeholders: a 64 x 64 object, 8 patch centres (2 groups of 4), the
    # output buffer. The snippet's checks print on stderr (the runner fails).
    prelude = """  const int64_t H = 64, W = 64;
  const int64_t num_patches = 8;
  float* object = calloc(2 * H * W, sizeof(float));
  double offsets[2 * 8];
  for (int p = 0; p < 8; ++p) { offsets[2 * p] = 20.0 + 3 * p; offsets[2 * p + 1] = 31.5; }
  const size_t out_bytes = (size_t)num_patches * 64 * 64 * 2 * sizeof(float);
  float* out = malloc(out_bytes);"""
    return "readme_extract.c", _c_fragment(text, prelude, "  free(out);\n  free(object);")


def readme_cpp(text):
    epilogue = "  return patches.size() == std::size_t(100 * 4 * 64 * 64) ? 0 : 1;"
    return "readme_cpp.cpp", _c_fragment("#include <ptychopatch.hpp>\n" + text, "", epilogue,
                                         cpp=True).replace(
        "int main(void)", "int main()")


def readme_grouped(text):
    # "desc: the extraction descriptor above": README's extraction block's
    # descriptor (patch_size 64, group_size 4) on a context; 6000 scan
    # positions in a 256 x 256 object; outputs sized for 5000 groups of 4.
    prelude = """  const int64_t H = 256, W = 256, n_positions = 6000;
  ptp_context* ctx;
  if (ptp_context_create(NULL, &ctx) != PTP_SUCCESS) return 2;
  ptp_extract_desc desc;
  ptp_extract_desc_init(&desc, sizeof desc);
  desc.height = H; desc.width = W; desc.patch_size = 64; desc.group_size = 4;
  float* object = calloc(2 * H * W, sizeof(float));
  double* xcoords = malloc(n_positions * sizeof(double));
  double* ycoords = malloc(n_positions * sizeof(double));
  for (int64_t i = 0; i < n_positions; ++i) {
    xcoords[i] = 32 + (double)((i * 7919) % 192) + 0.25;
    ycoords[i] = 32 + (double)((i * 104729) % 192) + 0.5;
  }
  int64_t* nn_indices = malloc(5000 * 4 * sizeof(int64_t));
  double* coords_nn = malloc(5000 * 2 * 4 * sizeof(double));
  double* coords_offsets = malloc(5000 * 2 * sizeof(double));
  double* coords_relative = malloc(5000 * 2 * 4 * sizeof(double));
  const size_t out_bytes = (size_t)5000 * 4 * 64 * 64 * 2 * sizeof(float);
  float* out = malloc(out_bytes);"""
    epilogue = """  if (*ptp_last_error_message()) { fprintf(stderr, "%s\\n", ptp_last_error_message()); return 1; }
  for (int64_t i = 0; i < 5000 * 4; ++i)
    if (nn_indices[i] < 0 || nn_indices[i] >= n_positions) return 1;
  free(out); free(coords_relative); free(coords_offsets); free(coords_nn); free(nn_indices);
  free(ycoords); free(xcoords); free(object);
  ptp_context_destroy(ctx);"""
    return "readme_grouped.c", _c_fragment("#include <ptychopatch.h>\n" + text, prelude, epilogue)


def _fortran_program(declarations: str, statements: str, setup: str = "", module: str = "") -> str:
    lines = declarations.splitlines()
    uses = "\n".join(line for line in lines if re.match(r"\s*use\b", line))
    declarations = "\n".join(line for line in lines if not re.match(r"\s*use\b", line))
    return f"""{module}
program snippet
  use, intrinsic :: iso_c_binding
  use ptychopatch
{uses}
  implicit none
{declarations}
{setup}
  ! --- the docs' snippet ---
{statements}
  ! --- end ---
end program snippet
"""


def _split_fortran(text: str) -> tuple[str, str]:
    """The fragment's declarations (`::` lines and `use`) and statements."""
    decl, stmts = [], []
    for line in text.splitlines():
        code = line.split("!")[0]
        is_decl = re.match(r"\s*use\b", code) or ("::" in code and "=" not in code.split("::")[0]
                                                   and not re.match(r"\s*(if|call)\b", code))
        (decl if is_decl and not stmts else stmts).append(line)
    return "\n".join(decl), "\n".join(stmts)


def fortran_plain(text):
    decl, stmts = _split_fortran(text)
    return "fragment.f90", _fortran_program(
        "  integer(c_int32_t) :: status\n" + decl,
        stmts + "\n  if (status /= PTP_SUCCESS) error stop 1" if stmts else "")


def fortran_align(text):
    # Placeholders: an alignment plan (RGGB, 64 x 64 uint16 frames) with a
    # reference set, and frames(3), c_loc of three frames (the reference
    # itself, a moved copy, a flat frame).
    decl, stmts = _split_fortran(text)
    declarations = decl + """
  integer(c_int32_t) :: status
  type(ptp_align_desc) :: desc
  type(c_ptr) :: ctx, plan, frames(3)
  integer(c_int16_t), target :: gt(64, 64), moved(64, 64), flat(64, 64)
  real :: noise(64, 64)"""
    setup = """  call random_number(noise)
  gt = int(noise * 20000, c_int16_t)
  moved = cshift(gt, 2, dim=1)
  flat = 1000_c_int16_t
  if (ptp_context_create(c_null_ptr, ctx) /= PTP_SUCCESS) error stop 2
  if (ptp_align_desc_init(desc, c_sizeof(desc)) /= PTP_SUCCESS) error stop 2
  desc%height = 64; desc%width = 64; desc%cfa = PTP_CFA_BAYER
  desc%pattern(0:3) = [0, 1, 3, 2]
  if (ptp_align_plan_create(ctx, desc, plan) /= PTP_SUCCESS) error stop 2
  if (ptp_align_set_reference(plan, c_loc(gt)) /= PTP_SUCCESS) error stop 2
  frames = [c_loc(gt), c_loc(moved), c_loc(flat)]"""
    stmts += """
  if (status /= PTP_SUCCESS .or. results(1)%status /= PTP_SUCCESS) error stop 1
  if (results(3)%status == PTP_SUCCESS) error stop 1
  if (ptp_align_plan_destroy(plan) /= PTP_SUCCESS) error stop 1
  if (ptp_context_destroy(ctx) /= PTP_SUCCESS) error stop 1"""
    return "fragment.f90", _fortran_program(declarations, stmts, setup)


def fortran_extract(text):
    # Placeholders: w, h, a plan and offsets / patches of the right types.
    decl, stmts = _split_fortran(text)
    declarations = """  integer, parameter :: w = 64, h = 64, n = 16
  integer(c_int32_t) :: status
  type(c_ptr) :: plan
  real(c_double) :: offsets(2, 4)
  complex(c_float_complex) :: patches(n, n, 4)
""" + decl
    return "fragment.f90", _fortran_program(declarations, stmts, "  plan = c_null_ptr; offsets = 0")


def fortran_progress(text):
    # The module before the program; the statement after "..." in it, on a
    # plan made for it.
    module, _, statement = text.partition("...")
    declarations = """  use progress
  integer(c_int32_t) :: status
  type(ptp_align_desc) :: desc
  type(c_ptr) :: ctx, plan"""
    setup = """  if (ptp_context_create(c_null_ptr, ctx) /= PTP_SUCCESS) error stop 2
  if (ptp_align_desc_init(desc, c_sizeof(desc)) /= PTP_SUCCESS) error stop 2
  desc%height = 64; desc%width = 64
  if (ptp_align_plan_create(ctx, desc, plan) /= PTP_SUCCESS) error stop 2"""
    statement += ("\n  if (status /= PTP_SUCCESS) error stop 1\n"
                  "  if (ptp_align_plan_destroy(plan) /= PTP_SUCCESS) error stop 1\n"
                  "  if (ptp_context_destroy(ctx) /= PTP_SUCCESS) error stop 1")
    return "fragment.f90", _fortran_program(declarations, statement, setup, module)


def fortran_correlate(text):
    # Placeholders: w, h, a context, a plan handle, and reference and moving
    # images (the moving one the reference moved by (dy, dx) = (1, 2)); the
    # snippet's correlation must peak at the registering shift (-1, -2),
    # wrapped: column w - 2, row h - 1 (0-based).
    decl, stmts = _split_fortran(text)
    declarations = """  integer, parameter :: w = 16, h = 12
  integer(c_int32_t) :: status
  type(c_ptr) :: ctx, cplan
  real(c_float) :: reference(w, h), moving(w, h)
  integer :: peak(2)
""" + decl
    setup = """  call random_number(reference)
  moving = cshift(cshift(reference, -2, dim=1), -1, dim=2)
  if (ptp_context_create(c_null_ptr, ctx) /= PTP_SUCCESS) error stop 2"""
    stmts += """
  if (status /= PTP_SUCCESS) error stop 1
  peak = maxloc(abs(correlation))
  if (peak(1) /= w - 1 .or. peak(2) /= h) error stop 1
  if (ptp_correlate_plan_destroy(cplan) /= PTP_SUCCESS) error stop 1
  if (ptp_context_destroy(ctx) /= PTP_SUCCESS) error stop 1"""
    return "fragment.f90", _fortran_program(declarations, stmts, setup)


HARNESSES = {f.__name__: f for f in (readme_extract, readme_cpp, readme_grouped, fortran_plain,
                                     fortran_align, fortran_extract, fortran_progress,
                                     fortran_correlate)}

# ------------------------------------------------------------------ runner


class Failure(Exception):
    pass


class Runner:
    def __init__(self, args):
        # Absolute paths: the wrappers below are named cc, c++ and gfortran.
        for name in ("cc", "cxx", "fc"):
            if getattr(args, name):
                setattr(args, name, shutil.which(getattr(args, name)) or getattr(args, name))
        self.args = args
        self.prefix = Path(args.prefix).resolve()
        self.libdir = self.prefix / args.libdir
        self.work = Path(args.work).resolve()
        self.blocks = snippets.all_blocks()
        self.sanitize = (f"-fsanitize={args.sanitize} -fno-omit-frame-pointer".split()
                         if args.sanitize else [])
        self.env = dict(os.environ)
        self.env.pop("LD_LIBRARY_PATH", None)  # RUNPATH leads to the installed library
        self.env["LC_ALL"] = "C"  # compiler messages in ASCII quotes, as the pages quote them
        self.env["PKG_CONFIG_PATH"] = str(self.libdir / "pkgconfig")
        if args.generator:
            self.env["CMAKE_GENERATOR"] = args.generator
        # cc, c++ and gfortran of the shell snippets: the build's compilers.
        bin_dir = self.work / ".bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        flags = " ".join(self.sanitize)
        for name, compiler in (("cc", args.cc), ("c++", args.cxx), ("gfortran", args.fc)):
            if compiler:
                (bin_dir / name).write_text(f'#!/bin/sh\nexec "{compiler}" {flags} "$@"\n')
                (bin_dir / name).chmod(0o755)
        self.env["PATH"] = f"{bin_dir}{os.pathsep}{self.env['PATH']}"
        self.env["CC"], self.env["CXX"] = str(bin_dir / "cc"), str(bin_dir / "c++")
        if args.fc:
            self.env["FC"] = str(bin_dir / "gfortran")

    def run(self, command, cwd, what, check=True):
        run = subprocess.run(command, cwd=cwd, env=self.env, capture_output=True, text=True,
                             timeout=600)
        if check and run.returncode != 0:
            raise Failure(f"{what} failed ({run.returncode}):\n{command}\n{run.stdout}{run.stderr}")
        return run

    def pkg_flags(self, fortran: bool) -> list[str]:
        package = "ptychopatch-fortran" if fortran else "ptychopatch"
        flags = self.run(["pkg-config", "--cflags", "--libs", package], self.work, "pkg-config")
        return flags.stdout.split() + [f"-Wl,-rpath,{self.libdir}"]

    def compile(self, source: Path, cwd: Path, expect_failure=""):
        suffix = source.suffix
        fortran = suffix == ".f90"
        compiler = {".c": self.args.cc, ".cpp": self.args.cxx, ".f90": self.args.fc}[suffix]
        std = {".c": [], ".cpp": ["-std=c++17"], ".f90": ["-std=f2008"]}[suffix]
        exe = cwd / source.stem
        command = [compiler, *std, *self.sanitize, str(source), "-o", str(exe),
                   *self.pkg_flags(fortran)]
        run = self.run(command, cwd, f"compiling {source.name}", check=not expect_failure)
        if expect_failure:
            if run.returncode == 0 or expect_failure not in run.stdout + run.stderr:
                raise Failure(f"{source.name} should not compile, with {expect_failure!r}; "
                              f"got ({run.returncode}):\n{run.stdout}{run.stderr}")
            return None
        return exe

    def execute(self, exe: Path, cwd: Path, quiet=False):
        run = self.run([str(exe)], cwd, f"running {exe.name}")
        if quiet and run.stderr.strip():
            raise Failure(f"{exe.name} wrote on stderr:\n{run.stderr}")
        return run.stdout

    def needs(self, spec, cwd):
        for name, (file, prefix) in spec.needs.items():
            (cwd / name).write_text(snippets.block_by_key(file, prefix, self.blocks).text)

    def handle(self, block, spec, cwd) -> str:
        fortran = block.lang in ("fortran", "f90") or "gfortran" in block.text \
            or "fortran" in "".join(spec.needs.values().__repr__())
        if fortran and not self.args.fc:
            return "skipped (no Fortran compiler)"
        self.needs(spec, cwd)
        ext = {"c": ".c", "cpp": ".cpp", "c++": ".cpp", "fortran": ".f90", "f90": ".f90"}
        if spec.kind == "program":
            name = spec.name
            m = re.match(r"\s*(?:/\*|//)\s*([\w.-]+\.(?:c|cpp)):", block.text)
            if m:
                name = m.group(1)
            source = cwd / (name or f"snippet_{block.line}{ext[block.lang]}")
            source.write_text(block.text)
            return self.execute(self.compile(source, cwd), cwd)
        if spec.kind in ("fragment", "must_fail"):
            name, text = HARNESSES[spec.harness](block.text)
            source = cwd / f"{Path(name).stem}_{block.line}{Path(name).suffix}"
            source.write_text(text)
            if spec.kind == "must_fail":
                self.compile(source, cwd, expect_failure=spec.expect)
                return "did not compile, as the page says"
            return self.execute(self.compile(source, cwd), cwd, quiet=True)
        if spec.kind == "file":
            (cwd / spec.name).write_text(block.text)
            return f"written as {spec.name}"
        if spec.kind == "shell":
            text = block.text.replace("/opt/ptychopatch/lib/", f"{self.libdir}/")
            text = text.replace("/opt/ptychopatch", str(self.prefix))
            script = cwd / f"snippet_{block.line}.sh"
            script.write_text("set -euo pipefail\n" + text)
            run = self.run(["bash", str(script)], cwd, f"the shell block\n{text}\n")
            if run.stderr.strip() and "warning" in run.stderr.lower():
                raise Failure(f"warnings:\n{run.stderr}")
            # `./program   # output`: the program printed that line (versions
            # and the backend aside).
            for expected in re.findall(r"^\s*\./\S+\s+#\s*(.+)$", block.text, re.M):
                if not any(re.fullmatch(mask(expected), line) for line in run.stdout.splitlines()):
                    raise Failure(f"no output line like {expected!r}:\n{run.stdout}")
            return run.stdout
        if spec.kind == "declaration":
            return check_declaration(block.text)
        if spec.kind == "layout":
            return self.check_layout(block.text)
        raise Failure(f"unknown kind {spec.kind}")

    def check_layout(self, text: str) -> str:
        missing, seen = [], 0
        directory = ""
        for line in text.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            entry = line.split("  ")[0].strip() if not line.startswith(" ") else line.strip()
            for name in (n.strip() for n in entry.split(",") if n.strip()):
                name = name.split(" -> ")[0].split()[0]
                if "/" in name:
                    directory = name.rsplit("/", 1)[0]
                else:
                    name = f"{directory}/{name}"
                if name.startswith("lib/"):
                    name = f"{self.args.libdir}/{name[4:]}"
                matches = list(self.prefix.glob(name.replace("<config>", "*")))
                seen += 1
                if not matches:
                    missing.append(name)
        if missing:
            raise Failure(f"listed but not installed in {self.prefix}: {missing}")
        return f"{seen} listed files installed"

    def main(self) -> int:
        plans, problems = snippets.plan(self.blocks)
        for problem in problems:  # test_docs_snippets.py fails on these
            print("note:", problem)
        if self.work.exists():
            for child in self.work.iterdir():
                if child.name != ".bin":
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        failures, count = [], 0
        for p in plans:
            if p.runner != "compiled":
                continue
            cwd = self.work / Path(p.block.file).stem
            cwd.mkdir(parents=True, exist_ok=True)
            count += 1
            try:
                out = self.handle(p.block, p.detail, cwd)
                print(f"ok   {p.block}: {out.strip().splitlines()[-1] if out.strip() else ''}")
            except (Failure, subprocess.TimeoutExpired) as err:
                print(f"FAIL {p.block}:\n{err}\n")
                failures.append(str(p.block))
        print(f"{count - len(failures)} of {count} compiled blocks passed")
        for f in failures:
            print("failed:", f)
        return 1 if failures else 0


def mask(line: str) -> str:
    """A regex for an output line whose version and backend vary by build."""
    pattern = re.escape(line.strip())
    pattern = re.sub(r"\d+\\\.\d+\\\.\d+\\\+\w+", r"\\d+\\.\\d+\\.\\d+\\+\\w+(?: \\([^)]*\\))?", pattern)
    return re.sub(r"\\\((?:gpu|cpu)\\\)", r"\\((?:gpu|cpu)\\)", pattern)


def _fields(body: str) -> list[tuple[str, str]]:
    body = re.sub(r"/\*.*?\*/", " ", body, flags=re.S)
    fields = []
    for decl in body.split(";"):
        words = decl.split()
        if not words:
            continue
        typ, names = words[0], " ".join(words[1:])
        fields += [(typ, n.strip()) for n in names.split(",")]
    return fields


def _normalize(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r" ?([(),;*]) ?", r"\1", text).strip()


def check_declaration(text: str) -> str:
    """A struct: its fields as the header's; anything else (a typedef, a
    prototype): each declaration, comments and spacing aside, is in the
    header. PTP_API is the header's export macro."""
    header = (snippets.REPO / "include" / "ptychopatch.h").read_text()
    if re.search(r"typedef struct \w+ \{", text):
        return check_struct(text, header)
    normalized = _normalize(header.replace("PTP_API ", ""))
    missing = [d for d in (_normalize(d) + ";" for d in _normalize(text).split(";") if d.strip())
               if d not in normalized]
    if missing:
        raise Failure(f"not declared so in include/ptychopatch.h: {missing} (if the block is "
                      "a fragment of code, give it a harness in tests/docs/run_compiled.py)")
    return "declared so in the header"


def check_struct(text: str, header: str) -> str:
    m = re.search(r"typedef struct (\w+) \{(.*?)\}", text, re.S)
    h = re.search(r"typedef struct " + m.group(1) + r" \{(.*?)\} " + m.group(1) + ";", header, re.S)
    if not h:
        raise Failure(f"include/ptychopatch.h has no struct {m.group(1)}")
    doc, real = _fields(m.group(2)), _fields(h.group(1))
    if doc != real:
        raise Failure(f"{m.group(1)}: the page declares\n  {doc}\nthe header\n  {real}")
    return f"{m.group(1)}: {len(doc)} fields as in the header"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--libdir", default="lib")
    parser.add_argument("--work", required=True)
    parser.add_argument("--cc", default="cc")
    parser.add_argument("--cxx", default="c++")
    parser.add_argument("--fc", default="")
    parser.add_argument("--sanitize", default="")
    parser.add_argument("--generator", default="")
    sys.exit(Runner(parser.parse_args()).main())
