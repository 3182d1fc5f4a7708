"""Every fenced code block of README.md and docs/*.md, and how each is tested.

The docs' snippets are run so that they cannot drift from the code
(issue 14). This module finds every fenced block (its file, line, language
and text) and says what runs it, from one reviewed table:

* python (and ``>>>`` sessions), sh: tests/python/test_docs_snippets.py,
  against the installed package and its command line, in a temporary
  directory holding the inputs of tests/docs/fixtures.py (the "prelude").
* c, cpp, fortran, cmake, and sh blocks that compile against an installed
  library: tests/docs/run_compiled.py, the ctest ``docs_snippets_compiled``
  (tests/consumer), against the prefix ``cmake --install`` made.
* blocks that are not commands (output listings, usage synopses, struct
  declarations, JSON samples) are compared with what the code prints or
  declares (CHECKED below), and so are benchmark commands (their options
  against the script's --help; the runs take minutes).
* the rest is EXEMPT, each with its reason.

A block is matched by (file, the start of its first non-blank line, with
runs of whitespace collapsed). ``python3 tests/docs/snippets.py`` lists
every block and what tests it; the test fails on a block that nothing
runs, checks or exempts, and on an entry below that matches no block or
more than one. Standard library only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


@dataclass
class Block:
    file: str  # relative to the repository, e.g. "docs/cli.md"
    line: int  # 1-based line of the opening fence
    lang: str  # the info string's first word, lower case ("" for none)
    text: str  # the content, the fence's indentation removed, ending in "\n"

    @property
    def first_line(self) -> str:
        for line in self.text.splitlines():
            if line.strip():
                return " ".join(line.split())
        return ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        return f"{self.where} ```{self.lang} {self.first_line[:60]!r}"


def doc_files(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md"] + sorted((repo / "docs").glob("*.md"))


def extract(path: Path, repo: Path = REPO) -> list[Block]:
    """The fenced code blocks of one Markdown file (CommonMark's rules for
    fences, including ones indented inside list items)."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence = len(m["indent"]), m["fence"]
        lang = (m["info"].split() or [""])[0].lower()
        body, j = [], i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            line = lines[j]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            j += 1
        rel = path.resolve().relative_to(repo).as_posix()
        blocks.append(Block(rel, i + 1, lang, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def all_blocks(repo: Path = REPO) -> list[Block]:
    return [b for path in doc_files(repo) for b in extract(path, repo)]


# ---------------------------------------------------------------- the table
# Keys: (file, first-line prefix). Reasons say why a block cannot run here;
# prefer running a block (give it a prelude, a harness or a fixture) to
# exempting it.

_CI = "run by CI itself (.ci/run runs scripts/test.sh; demo.sh builds and runs the demo)"
_BUILD = ("the build that scripts/test.sh runs stage by stage (install-deps.sh needs root; "
          "the install is the ctest install_tree, whose prefix the compiled snippets use)")
_LOOP = ("the contributor's loop: a second build (build-dev/) and part of the tests that "
         "scripts/test.sh runs whole; its format check is test.sh's first stage")
_DOCKER = "needs Docker (and for --gpus all an NVIDIA GPU); CI runs neither"
_GPU = "needs an NVIDIA GPU (docs/gpu-validation.md logs those runs)"

EXEMPT: dict[tuple[str, str], str] = {
    ("README.md", "./scripts/demo.sh"): _CI,
    ("README.md", "./scripts/check.sh"): _LOOP,
    ("docs/contributing.md", "./scripts/check.sh"): _LOOP,
    ("docs/getting-started.md", "bash scripts/install-deps.sh # CMake"): _BUILD,
    ("docs/getting-started.md", "bash scripts/install-deps.sh # the build tools"):
        "scripts/test.sh's Python stage: install-deps.sh (root) makes .venv, pip install . "
        "builds the library; the test suite then imports the installed package",
    ("docs/fortran.md", "source scripts/env.sh"): _BUILD,
    ("docs/packaging.md", "source scripts/env.sh"): _BUILD,
    ("docs/packaging.md", "scripts/build-wheel.sh"):
        "scripts/test.sh builds this wheel, installs it and runs the Python tests on it (minutes)",
    ("docs/packaging.md", "scripts/build-wheel-glibc228.sh"):
        "scripts/check-wheel-glibc228.sh is this block's test: it builds FFTW twice and the "
        "library with Zig (about 10 minutes on two cores), so it runs on its own, not in CI",
    ("docs/abi.md", "bash scripts/install-deps.sh"):
        "scripts/test.sh's ABI stage runs scripts/check-abi.sh (a -g build of its own)",
    ("docs/docker.md", "docker build -t ptychopatch ."): _DOCKER,
    ("docs/docker.md", "docker build --build-arg"): _DOCKER,
    ("docs/docker.md", "docker run --gpus all --rm -v"): _DOCKER,
    ("docs/docker.md", "FROM ptychopatch"): _DOCKER,
    ("docs/docker.md", "docker build --target builder"): _DOCKER,
    ("docs/gpu-validation.md", "./scripts/test.sh"): _GPU,
    ("docs/gpu-validation.md", "scripts/gpu-prepare.sh"):
        "a full CUDA build into build-gpu/ (needs nvcc; minutes)",
    ("docs/gpu-validation.md", "run command: bash scripts/gpu-validate.sh"):
        "a request to the device-lending tool, not a shell command",
    ("docs/performance.md", "./scripts/demo.sh # builds build/ build/benchmarks/bench_extract_cpu"):
        "a Google Benchmark run of minutes on a Release build/ (benchmarks are not built in CI's "
        "test stages)",
    ("docs/fortran.md", "PTP_ERROR_INVALID_ARGUMENT: ptp_extract_patches: the arrays"):
        "sample messages of the typed checks; tests/fortran/test_fortran.f90 checks them",
    ("docs/fortran.md", "PTP_ERROR_INVALID_SIZE: ptp_extract_plan_create"):
        "sample message; tests/fortran/test_fortran.f90 checks the message of a zero patch_size",
    ("docs/contributing.md", "PYTHONPATH=capi/python"):
        "runs these very tests (tests/python/test_docs_snippets.py, ctest docs_snippets_compiled)",
    ("docs/python.md", "with ptychopatch.deferred_checks():"):
        "needs CuPy or PyTorch arrays on a GPU; tests/python/test_out_arguments.py runs the same "
        "calls on the emulated device",
    ("docs/distributed.md", "ptychopatch align-dataset /data/rawnind"):
        "needs the RawNIND dataset (and rawpy); the synthetic run above is the same command",
    ("docs/distributed.md", "ptychopatch align-dataset --manifest /shared/rawnind.csv"):
        "needs a running Dask scheduler and the dataset on a shared file system",
    ("docs/distributed.md", "from dask.distributed import Client from dask_jobqueue"):
        "needs a SLURM cluster and dask-jobqueue; test_distributed.py runs align_dataset on a "
        "LocalCluster given the same way",
    ("docs/cli.md", "$ ptychopatch info"):
        "sample output with one machine's paths and versions; the pytest test_cli checks the "
        "fields of `ptychopatch info`",
}


@dataclass
class Compiled:
    """How tests/docs/run_compiled.py runs a block (see that file)."""

    kind: str  # "program", "fragment", "must_fail", "file", "shell", "declaration", "layout"
    name: str = ""  # file name the block is written as
    harness: str = ""  # fragment: the harness of run_compiled.HARNESSES
    expect: str = ""  # must_fail: text of the compiler's error
    needs: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> block key


_GS = "docs/getting-started.md"
COMPILED: dict[tuple[str, str], Compiled] = {
    ("README.md", "#include <ptychopatch.h>"): Compiled("fragment", harness="readme_extract"),
    ("README.md", "const int64_t H = 256, W = 256;"): Compiled("fragment", harness="readme_cpp"),
    ("README.md", "ptp_group_desc group;"): Compiled("fragment", harness="readme_grouped"),
    (_GS, "/* hello.c:"): Compiled("program", "hello.c"),
    (_GS, "export PKG_CONFIG_PATH=/opt/ptychopatch/lib/pkgconfig cc hello.c"): Compiled("shell"),
    (_GS, "// hello.cpp:"): Compiled("program", "hello.cpp"),
    (_GS, "cmake_minimum_required(VERSION 3.16)"): Compiled("file", "CMakeLists.txt"),
    (_GS, "cmake -S . -B build -DCMAKE_PREFIX_PATH=/opt/ptychopatch && cmake --build build"):
        Compiled("shell"),
    (_GS, "gfortran app.f90"):
        Compiled("shell", needs={"app.f90": ("docs/fortran.md", "program extract")}),
    ("docs/api.md", "typedef struct ptp_context_options {"): Compiled("declaration"),
    ("docs/api.md", "typedef struct ptp_extract_desc {"): Compiled("declaration"),
    ("docs/api.md", "#include <complex>"): Compiled("program", "wrapper.cpp"),
    # The cmake block and the program are docs/fortran.md's consumer project,
    # run by the ctest consumer_fortran_docs (tests/consumer/run_docs_snippet.cmake);
    # run_compiled.py builds the program with pkg-config's flags as the page says.
    ("docs/fortran.md", "cmake_minimum_required(VERSION 3.16)"): Compiled("file", "CMakeLists.txt"),
    ("docs/fortran.md", "gfortran app.f90"):
        Compiled("shell", needs={"app.f90": ("docs/fortran.md", "program extract")}),
    ("docs/fortran.md", "use, intrinsic :: iso_c_binding use ptychopatch"):
        Compiled("fragment", harness="fortran_plain"),
    ("docs/fortran.md", "type(ptp_extract_desc) :: desc"): Compiled("fragment", harness="fortran_plain"),
    ("docs/fortran.md", "type(ptp_align_result), target :: results(3)"):
        Compiled("fragment", harness="fortran_align"),
    ("docs/fortran.md", "integer(c_int32_t), target :: flags(3)"):
        Compiled("fragment", harness="fortran_align"),
    ("docs/fortran.md", "real(c_double) :: object(w, h)"):
        Compiled("must_fail", harness="fortran_extract",
                 expect="There is no specific function for the generic 'ptp_extract_execute'"),
    ("docs/fortran.md", "program extract"): Compiled("program", "app.f90"),
    ("docs/fortran.md", "module progress"): Compiled("fragment", harness="fortran_progress"),
    ("docs/fortran.md", "type(ptp_correlate_desc) :: cdesc"):
        Compiled("fragment", harness="fortran_correlate"),
    ("docs/packaging.md", "include/ptychopatch.h C99 header"): Compiled("layout"),
    ("docs/packaging.md", "cmake_minimum_required(VERSION 3.16)"):
        Compiled("file", "CMakeLists.txt", needs={"main.c": (_GS, "/* hello.c:")}),
    ("docs/packaging.md", "cmake -S . -B build -DCMAKE_PREFIX_PATH=/opt/ptychopatch"):
        Compiled("shell"),
    ("docs/packaging.md", "export PKG_CONFIG_PATH=/opt/ptychopatch/lib/pkgconfig cc main.c"):
        Compiled("shell", needs={"main.c": (_GS, "/* hello.c:"), "main.cpp": (_GS, "// hello.cpp:"),
                                 "main.f90": ("docs/fortran.md", "program extract")}),
}

# Blocks that are not commands, compared with what the code prints
# (tests/python/test_docs_snippets.py, CHECKERS there).
CHECKED: dict[tuple[str, str], str] = {
    ("docs/cli.md", "ptychopatch patches INPUT OUTPUT"): "usage",
    ("docs/cli.md", "ptychopatch align GT FRAME"): "usage",
    ("docs/cli.md", "$ ptychopatch patches demo.npz"): "console",
    ("docs/cli.md", "{"): "json",
    ("docs/cli.md", "file,status,ok,"): "csv",
    # The suite's runs take minutes (the quick set runs in CI's own stage):
    # every option these pass is one `ptychopatch bench --help` lists.
    ("docs/benchmarks.md", "ptychopatch bench --quick # the reduced set"): "bench_cli",
    ("docs/benchmarks.md", "scripts/bench.sh --install-peers"): "bench_cli",
    # The GPU quick set on the emulated device: scripts/test.sh runs it.
    ("docs/benchmarks.md", "emu=build/tests/emulation"): "bench_cli",
    ("docs/performance.md", "ptychopatch bench --only busy --repeat 5 --budget 10 --out busy-new"):
        "bench_cli",
    ("docs/performance.md", "PTYCHOPATCH_LIBRARY=build/libptychopatch.so PYTHONPATH=capi/python "
     "\\ python3 -m ptychopatch bench --only align/megapixels"): "bench_cli",
    # The robustness benchmark on the emulated device (minutes): its options.
    ("docs/performance.md", "# the luminance image on the emulated device"): "bench_options",
}

# Languages run by default, without an entry above.
PYTEST_LANGS = {"python", "py", "sh", "bash", "shell", "console"}
COMPILED_LANGS = {"c", "cpp", "c++", "fortran", "f90"}


# A shell block runs by default only if it calls nothing but the command line
# (`ptychopatch`, `python3 -m ptychopatch`), `python3 -c` and the package's
# examples: anything else (a build, a script of scripts/, an install, a
# benchmark) needs an entry above.
_DEFAULT_COMMANDS = re.compile(r"(ptychopatch |python3? (-m ptychopatch|-c |capi/python/examples/))")


def _command_line_only(block: Block) -> bool:
    if block.lang in ("python", "py"):
        return True
    lines = block.text.replace("\\\n", " ").splitlines()
    commands = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return all(_DEFAULT_COMMANDS.match(c) for c in commands)


# A shell block of nothing but benchmark runs (`python3 benchmarks/X.py`,
# build/benchmarks/..., ./scripts/demo.sh, with VAR=value settings) is
# checked rather than run (the runs take minutes): every option it passes
# to a benchmarks/*.py script is one the script's --help lists.
_BENCH_COMMAND = re.compile(r"((\w+=\S+\s+)*python3 (benchmarks|scripts)/\S+\.py|build/benchmarks/|"
                            r"\./scripts/demo\.sh)")


def _benchmarks_only(block: Block) -> bool:
    if block.lang not in ("sh", "bash", "shell") or not re.search(r"python3 (benchmarks|scripts)/",
                                                                  block.text):
        return False
    lines = block.text.replace("\\\n", " ").splitlines()
    commands = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return all(_BENCH_COMMAND.match(c) for c in commands)


def _key_text(block: Block) -> str:
    return " ".join(block.text.split())


def _match(table: dict, blocks: list[Block]) -> tuple[dict[int, object], list[str]]:
    """Maps each block's index to its table entry; problems: entries that
    match no block or several."""
    found, problems = {}, []
    for (file, prefix), value in table.items():
        hits = [i for i, b in enumerate(blocks)
                if b.file == file and _key_text(b).startswith(" ".join(prefix.split()))]
        if not hits:
            problems.append(f"{file}: no block starts with {prefix!r} (stale entry?)")
        elif len(hits) > 1:
            problems.append(f"{file}: {len(hits)} blocks start with {prefix!r} "
                            f"(lines {[blocks[i].line for i in hits]}): make the key longer")
        else:
            found[hits[0]] = value
    return found, problems


@dataclass
class Plan:
    block: Block
    runner: str  # "pytest", "compiled", "checked", "exempt", "" (none: an error)
    detail: object = None  # Compiled, checker name or exemption reason


def plan(blocks: list[Block] | None = None) -> tuple[list[Plan], list[str]]:
    """What tests each block, and the table's problems (stale or ambiguous
    entries, a block in two tables, a block nothing tests)."""
    blocks = all_blocks() if blocks is None else blocks
    exempt, p1 = _match(EXEMPT, blocks)
    compiled, p2 = _match(COMPILED, blocks)
    checked, p3 = _match(CHECKED, blocks)
    problems = p1 + p2 + p3
    plans = []
    for i, b in enumerate(blocks):
        # A block both checked and exempt is checked (the exemption says why
        # it is not run).
        if i in checked:
            p = Plan(b, "checked", checked[i])
        elif i in compiled:
            p = Plan(b, "compiled", compiled[i])
        elif i in exempt:
            p = Plan(b, "exempt", exempt[i])
        elif _benchmarks_only(b):
            p = Plan(b, "checked", "bench_options")
        elif b.lang in PYTEST_LANGS and _command_line_only(b):
            p = Plan(b, "pytest")
        elif b.lang in COMPILED_LANGS:
            kind = "program" if "main(" in b.text or "program " in b.text else "declaration"
            p = Plan(b, "compiled", Compiled(kind if b.lang in ("c", "cpp", "c++") else "program"))
        else:
            p = Plan(b, "")
            problems.append(f"{b}: nothing runs or checks this ```{b.lang or '(no language)'} "
                            "block: run it (tests/docs/snippets.py: COMPILED, CHECKED; a shell "
                            "block runs by default only if it calls nothing but `ptychopatch`, "
                            "python3 -m ptychopatch / -c and the examples), or add it to EXEMPT there with the reason")
        if i in compiled and i in exempt:
            problems.append(f"{b}: both COMPILED and EXEMPT")
        plans.append(p)
    return plans, problems


def block_by_key(file: str, prefix: str, blocks: list[Block] | None = None) -> Block:
    blocks = all_blocks() if blocks is None else blocks
    found, problems = _match({(file, prefix): None}, blocks)
    if problems:
        raise LookupError(problems[0])
    return blocks[next(iter(found))]


def main() -> int:
    plans, problems = plan()
    counts: dict[str, int] = {}
    for p in plans:
        counts[p.runner or "NONE"] = counts.get(p.runner or "NONE", 0) + 1
        detail = p.detail.kind if isinstance(p.detail, Compiled) else (p.detail or "")
        print(f"{p.runner or 'NONE':8} {str(detail)[:40]:40} {p.block}")
    print(f"{len(plans)} blocks: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for problem in problems:
        print("problem:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
