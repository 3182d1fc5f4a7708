#!/usr/bin/env python3
"""A GPU performance model measured without a GPU (issue 15, item 5).

Compiles the shipped CUDA kernel sources (CMakeLists.txt's
PTYCHOPATCH_CUDA_KERNEL_SOURCES) for the architectures of the GPUs modelled
(sm_90 H100, sm_80 A100, sm_89 L4, all in the shipped list), then, per
kernel:

* registers, spills, shared memory (``-Xptxas -v``) and the occupancy they
  allow with the kernel's block size;
* the instructions per output element, counted in the compiled code (PTX
  always; SASS too where ``cuobjdump`` is found): the per-element loop is the
  innermost natural loop of the control-flow graph (a back edge to a block
  that dominates it) that holds the kernel's output operation, and its
  instructions are classified (global loads and stores by width, atomics,
  64-bit integer work, divisions, floating point, compares, control) and
  divided by the elements one iteration handles (the output operations it
  holds over those of one element, so an unrolled loop counts right);
* the bytes the PtychoPINN workload (20,000 patches of 64² complex64 from a
  1,024² object) and a 24 MP Bayer alignment frame must move, and a roofline
  estimate on H100, A100 and L4: time = max(memory, issue, load/store),
  with the published bandwidths, SM counts and clocks in ``GPUS`` below.

These are model figures, not measurements: where a GPU run measured a
kernel (benchmarks/gpu_measured.json, from docs/gpu-validation.md), the
measurement stands. The model's predictions are compared with those
figures: a prediction off by more than MEASURED_FACTOR from what was
measured contradicts the model, which then withdraws its targets on that
figure (they are judged by measurement only); a figure measured on an
older version of its kernel (KERNEL_VERSIONS) is "unmeasured since the
kernel changed".

    python3 benchmarks/gpu_model.py                  # table
    python3 benchmarks/gpu_model.py --json model.json --show-loops
    python3 benchmarks/gpu_model.py --check          # non-zero if a target is missed
                                                     # or measurement contradicts the model
    python3 benchmarks/gpu_model.py --self-test      # the counting, on known snippets

Needs nvcc (CUDA 12 or 13); SASS also needs cuobjdump (the toolkit's, or
``pip install nvidia-cuda-cuobjdump``). Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------
# Published figures (vendor datasheets / whitepapers). Issue rate: 4 warp
# schedulers per SM, one warp instruction each per clock (Ampere, Ada and
# Hopper whitepapers), so 128 thread-instructions per SM per clock; 32
# load/store units per SM, so one warp-wide memory instruction per SM per
# clock. Copy bandwidth = the published DRAM bandwidth; host-to-device =
# the published PCIe bandwidth per direction.
GPUS = {
    "H100": dict(
        sm=90, bandwidth=3.35e12, sms=132, clock=1.98e9, pcie=64e9, fp64_per_sm_clock=64,
        source="NVIDIA H100 Tensor Core GPU datasheet (H100 SXM5 80 GB: HBM3 3.35 TB/s, "
        "132 SMs, 1.98 GHz max boost; PCIe Gen5 x16 128 GB/s both directions)"),
    "H200": dict(
        sm=90, bandwidth=4.8e12, sms=132, clock=1.98e9, pcie=64e9, fp64_per_sm_clock=64,
        source="NVIDIA H200 Tensor Core GPU datasheet (H200 SXM 141 GB: HBM3e 4.8 TB/s; "
        "the H100's GH100 with 132 SMs, 1.98 GHz max boost; PCIe Gen5 x16 128 GB/s both "
        "directions)"),
    "A100": dict(
        sm=80, bandwidth=2.039e12, sms=108, clock=1.41e9, pcie=32e9, fp64_per_sm_clock=32,
        source="NVIDIA A100 datasheet (A100 80 GB SXM: HBM2e 2,039 GB/s; 108 SMs, "
        "1.41 GHz boost from the Ampere whitepaper; PCIe Gen4 x16 64 GB/s both directions)"),
    "L4": dict(
        sm=89, bandwidth=300e9, sms=58, clock=2.04e9, pcie=32e9, fp64_per_sm_clock=2,
        source="NVIDIA L4 datasheet (GDDR6 300 GB/s; 58 SMs, 2.04 GHz boost; "
        "PCIe Gen4 x16 64 GB/s both directions)"),
}
ISSUE_PER_SM_CLOCK = 128  # thread-instructions (4 schedulers x 32 lanes)
# fp64_per_sm_clock above: 64-bit floating-point add, multiply and FMA
# results per SM and clock (CUDA C++ Programming Guide, "Arithmetic
# Instructions": 64 on 9.0, 32 on 8.0, 2 on 8.9); 64-bit conversions and
# compares are counted at the same rate (the guide gives them the same or
# less on these devices).
LSU_PER_SM_CLOCK = 32  # thread memory instructions (32 LD/ST units)

# Per-SM limits (CUDA C++ Programming Guide, "Technical Specifications per
# Compute Capability"; CUDA occupancy calculator's allocation granularity).
SM_LIMITS = {
    75: dict(threads=1024, blocks=16, warps=32, regs=65536, smem=64 * 1024),
    80: dict(threads=2048, blocks=32, warps=64, regs=65536, smem=164 * 1024),
    86: dict(threads=1536, blocks=16, warps=48, regs=65536, smem=100 * 1024),
    89: dict(threads=1536, blocks=24, warps=48, regs=65536, smem=100 * 1024),
    90: dict(threads=2048, blocks=32, warps=64, regs=65536, smem=228 * 1024),
}
REG_ALLOC_UNIT = 256  # registers per warp, allocated in units of 256
SMEM_PER_BLOCK_RESERVED = 1024  # bytes the runtime reserves per block (sm_80+)

# --------------------------------------------------------------------------
# The workloads.
PTYCHOPINN = dict(patches=20000, n=64, object_side=1024, group=4, lanes=2)
# One tracking pass: the default (verify="refine") on frames of 128 pixels a side and more.
ALIGN = dict(height=4000, width=6000, raw_bytes=2, tracking_passes=1)


# --------------------------------------------------------------- instructions
@dataclass
class Instr:
    text: str  # as printed
    op: str  # opcode with modifiers, no predicate
    key: str  # where branches land: a PTX label or a SASS address
    target: Optional[str] = None  # branch target key
    conditional: bool = False
    terminator: bool = False  # ends a path (exit, ret)
    call: Optional[str] = None  # SASS CALL target address
    labels: List[str] = field(default_factory=list)


@dataclass
class Function:
    name: str
    isa: str  # "ptx" or "sass"
    instrs: List[Instr]
    cfg: tuple = ()


def _ptx_statements(body: List[str]):
    """Yields ("label", name) and ("instr", text) from a PTX function body."""
    pending = ""
    for raw in body:
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if not pending:
            m = re.match(r"^([$\w]+):$", line)
            if m:
                yield "label", m.group(1)
                continue
            if line.startswith((".", "{", "}")):
                continue
        pending = (pending + " " + line).strip()
        if pending.endswith(";"):
            yield "instr", pending
            pending = ""


def parse_ptx(text: str) -> Dict[str, Function]:
    functions = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*(?:\.visible\s+|\.weak\s+)?\.entry\s+([\w$]+)", lines[i])
        if not m:
            i += 1
            continue
        name = m.group(1)
        while i < len(lines) and lines[i].strip() != "{":
            i += 1
        depth, body = 0, []
        while i < len(lines):
            s = lines[i].split("//", 1)[0].strip()
            depth += (s == "{") - (s == "}")
            body.append(lines[i])
            i += 1
            if depth == 0:
                break
        instrs: List[Instr] = []
        labels: List[str] = []
        for kind, stmt in _ptx_statements(body[1:-1]):
            if kind == "label":
                labels.append(stmt)
                continue
            stmt_np = re.sub(r"^@!?%\w+\s+", "", stmt)
            pred = stmt_np != stmt
            op = stmt_np.split()[0].rstrip(";")
            ins = Instr(text=stmt, op=op, key=labels[0] if labels else f"#{len(instrs)}",
                        labels=labels)
            labels = []
            if op in ("bra", "bra.uni"):
                ins.target = stmt_np.split()[1].rstrip(";")
                ins.conditional = pred
            elif op in ("ret", "exit", "trap"):
                ins.terminator = True
                ins.conditional = pred
            instrs.append(ins)
        functions[name] = Function(name, "ptx", instrs)
    return functions


_SASS_LINE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")


def parse_sass(text: str) -> Dict[str, Function]:
    functions: Dict[str, Function] = {}
    current: Optional[Function] = None
    for line in text.splitlines():
        m = re.match(r"^\s*Function\s*:\s*(\S+)", line)
        if m:
            current = Function(m.group(1), "sass", [])
            functions[current.name] = current
            continue
        m = _SASS_LINE.match(line)
        if not m or current is None:
            continue
        addr = "0x%x" % int(m.group(1), 16)
        stmt = m.group(2)
        pm = re.match(r"^@(!?U?P[T0-9]+)\s+", stmt)
        pred = bool(pm) and pm.group(1) != "PT"
        rest = stmt[pm.end():] if pm else stmt
        parts = rest.split(None, 1)
        op = parts[0]
        operands = parts[1] if len(parts) > 1 else ""
        ins = Instr(text=stmt, op=op, key=addr, labels=[addr])
        base = op.split(".")[0]
        targets = re.findall(r"0x[0-9a-f]+", operands)
        if base in ("BRA", "JMP") and targets:
            ins.target = "0x%x" % int(targets[-1], 16)
            # A predicate among the operands (BRA.U !UP0, ...; BRA.DIV UR4, ...)
            # makes it conditional too.
            ins.conditional = pred or "," in operands or op != base and op != "BRA.U"
        elif base in ("EXIT", "RET", "BRX", "JMX", "KILL"):
            ins.terminator = True
            ins.conditional = pred
        elif base == "CALL" and targets:
            ins.call = "0x%x" % int(targets[-1], 16)
        current.instrs.append(ins)
    return functions


# ----------------------------------------------------------- control flow
@dataclass
class Loop:
    header: int
    blocks: List[int]
    instrs: List[int]  # instruction indices, in order
    children: List[int] = field(default_factory=list)  # headers of loops inside


def blocks_of(fn: Function) -> Tuple[List[Tuple[int, int]], Dict[int, List[int]]]:
    """Basic blocks (start, end exclusive) and successor edges."""
    where = {}
    for i, ins in enumerate(fn.instrs):
        for lab in ins.labels or [ins.key]:
            where[lab] = i
    leaders = {0}
    for i, ins in enumerate(fn.instrs):
        if ins.target is not None and ins.target in where:
            leaders.add(where[ins.target])
        if ins.target is not None or ins.terminator:
            leaders.add(i + 1)
    starts = sorted(x for x in leaders if x < len(fn.instrs))
    bounds = [(s, starts[k + 1] if k + 1 < len(starts) else len(fn.instrs))
              for k, s in enumerate(starts)]
    block_at = {s: b for b, (s, _) in enumerate(bounds)}
    succ: Dict[int, List[int]] = {}
    for b, (s, e) in enumerate(bounds):
        last = fn.instrs[e - 1]
        out = []
        if last.target is not None and last.target in where:
            out.append(block_at[where[last.target]])
        falls = (last.target is None and not last.terminator) or last.conditional
        if falls and e < len(fn.instrs):
            out.append(block_at[e])
        succ[b] = out
    return bounds, succ


def natural_loops(fn: Function) -> Tuple[Dict[int, Loop], List[Tuple[int, int]]]:
    bounds, succ = blocks_of(fn)
    # Blocks reachable from the entry (a SASS subroutine after EXIT is not).
    reach, stack = set(), [0]
    while stack:
        b = stack.pop()
        if b in reach:
            continue
        reach.add(b)
        stack.extend(succ[b])
    pred: Dict[int, List[int]] = {b: [] for b in reach}
    for b in reach:
        for s in succ[b]:
            pred[s].append(b)
    dom = {b: set(reach) for b in reach}
    dom[0] = {0}
    changed = True
    while changed:
        changed = False
        for b in sorted(reach):
            if b == 0:
                continue
            ps = [dom[p] for p in pred[b]]
            new = set.intersection(*ps) | {b} if ps else {b}
            if new != dom[b]:
                dom[b], changed = new, True
    bodies: Dict[int, set] = {}
    for b in reach:
        for h in succ[b]:
            if h in dom[b]:  # back edge b -> h
                body, work = {h, b}, [b]
                while work:
                    x = work.pop()
                    if x == h:
                        continue
                    for p in pred[x]:
                        if p not in body:
                            body.add(p)
                            work.append(p)
                bodies.setdefault(h, set()).update(body)
    loops = {}
    for h, body in bodies.items():
        idx = [i for blk in sorted(body) for i in range(*bounds[blk])]
        loops[h] = Loop(h, sorted(body), idx)
    for h, lp in loops.items():
        lp.children = [g for g in loops if g != h and g in lp.blocks]
    fn.cfg = (bounds, succ)
    return loops, bounds


def path_count(fn: Function, loops: Dict[int, Loop], h: int, trips: Dict[int, int],
               marker, shortest: bool = False, depth: int = 0) -> Tuple[int, int, float]:
    """(instructions, calls, marker amount) along one trip round loop h:
    the longest (or shortest) path from its header back to it among the
    paths with the fewest CALLs (a CALL's subroutine counted in), a loop
    nested inside counted as its own path times trips[depth + 1] (default
    1). Branches around rare work (the 64-bit slow path of a division, a
    special case of sqrt) are thus not counted; on the longest path every
    other conditional instruction is. marker(instr) -> amount of output."""
    bounds, succ = fn.cfg
    lp = loops[h]
    inner = [c for c in lp.children
             if not any(c != o and c in loops[o].blocks for o in lp.children)]
    owner = {}
    for c in inner:
        for blk in loops[c].blocks:
            owner[blk] = c

    def node(blk):
        return ("L", owner[blk]) if blk in owner else ("B", blk)

    def weight(n):
        if n[0] == "L":
            w, calls, mark = path_count(fn, loops, n[1], trips, marker, shortest, depth + 1)
            t = trips.get(depth + 1, 1)
            return w * t, calls * t, mark * t
        s, e = bounds[n[1]]
        w, calls, mark = e - s, 0, 0.0
        for ins in fn.instrs[s:e]:
            mark += marker(ins)
            if ins.call is not None:
                w += subroutine_length(fn, ins.call)
                calls += 1
        return w, calls, mark

    edges: Dict[tuple, set] = {}
    latches = set()
    for blk in lp.blocks:
        u = node(blk)
        for v in succ[blk]:
            if v not in lp.blocks:
                continue
            if v == h:
                latches.add(u)
                continue
            nv = node(v)
            if nv != u:
                edges.setdefault(u, set()).add(nv)
    best: Dict[tuple, Optional[tuple]] = {}
    visiting = set()
    sign = -1 if shortest else 1

    def key(p):  # fewest calls first, then the longest (shortest) path
        return (-p[1], sign * p[0])

    def walk(n) -> Optional[tuple]:  # (instructions, calls, mark) to a latch
        if n in best:
            return best[n]
        if n in visiting:
            raise ValueError("irreducible loop body")
        visiting.add(n)
        options = [walk(m) for m in edges.get(n, ())]
        options = [o for o in options if o is not None]
        if n in latches:
            options.append((0, 0, 0.0))
        visiting.discard(n)
        best[n] = None
        if options:
            top = max(options, key=key)
            w, calls, mark = weight(n)
            best[n] = (top[0] + w, top[1] + calls, top[2] + mark)
        return best[n]

    got = walk(node(h))
    if got is None:
        return len(lp.instrs), 0, 0.0
    return got


# --------------------------------------------------------- classification
CATEGORIES = ["ld.global", "st.global", "atomic", "shared", "local", "const", "fp32", "fp64",
              "compare", "convert", "int", "div", "control", "other"]

_PTX_BITS = {"8": 1, "16": 2, "32": 4, "64": 8, "128": 16}


def _ptx_width(op: str) -> int:
    vec = 1
    m = re.search(r"\.v(\d)", op)
    if m:
        vec = int(m.group(1))
    m = re.search(r"\.[fbsu](8|16|32|64|128)$", op)
    return vec * (_PTX_BITS[m.group(1)] if m else 4)


def classify_ptx(op: str) -> Tuple[str, int, bool]:
    """(category, bytes for global memory operations, is 64-bit integer)."""
    base = op.split(".")[0]
    parts = op.split(".")
    is64 = any(p in ("s64", "u64", "b64") for p in parts)
    if base in ("ld", "ldu"):
        if "param" in parts or "const" in parts:
            return "const", 0, False
        if "shared" in parts:
            return "shared", 0, False
        if "local" in parts:
            return "local", 0, False
        return "ld.global", _ptx_width(op), False
    if base == "st":
        if "shared" in parts:
            return "shared", 0, False
        if "local" in parts:
            return "local", 0, False
        return "st.global", _ptx_width(op), False
    if base in ("red", "atom"):
        return ("shared", 0, False) if "shared" in parts else ("atomic", _ptx_width(op), False)
    if base in ("div", "rem") and any(p[0] in "su" for p in parts[1:]):
        return "div", 0, is64
    if base == "setp":
        return "compare", 0, is64
    if base == "cvt" or base == "cvta":
        return "convert", 0, False
    if base in ("bra", "ret", "exit", "call", "bar", "barrier", "trap", "membar", "fence"):
        return "control", 0, False
    if "f64" in parts:
        return "fp64", 0, False
    if "f32" in parts or "f16" in parts or "f16x2" in parts:
        return "fp32", 0, False
    if base in ("add", "sub", "mul", "mad", "shl", "shr", "and", "or", "xor", "not", "neg",
                "min", "max", "abs", "selp", "popc", "clz", "brev", "bfe", "bfi", "prmt",
                "mul24", "mad24", "sad", "lop3", "shf", "slct"):
        return "int", 0, is64
    return "other", 0, False


def classify_sass(op: str) -> Tuple[str, int, bool]:
    parts = op.split(".")
    base = parts[0]
    width = 4
    for p in parts[1:]:
        if p in ("64", "128"):
            width = int(p) // 8
        elif p in ("U8", "S8"):
            width = 1
        elif p in ("U16", "S16"):
            width = 2
    is64 = any(p in ("X", "EX", "WIDE", "U64", "S64") for p in parts[1:])
    if base in ("LDG", "LD"):
        return "ld.global", width, False
    if base in ("STG", "ST"):
        return "st.global", width, False
    if base in ("RED", "REDG", "ATOM", "ATOMG"):
        return "atomic", width, False
    if base in ("LDS", "STS", "ATOMS", "LDSM"):
        return "shared", 0, False
    if base in ("LDL", "STL"):
        return "local", 0, False
    if base in ("LDC", "ULDC"):
        return "const", 0, False
    if base in ("ISETP", "FSETP", "DSETP", "UISETP", "PSETP", "HSETP2"):
        return "compare", 0, is64
    if base in ("I2F", "F2I", "F2F", "I2I", "FRND", "I2IP", "F2FP"):
        return "convert", 0, False
    if base in ("BRA", "EXIT", "RET", "CALL", "BSSY", "BSYNC", "WARPSYNC", "BAR", "YIELD",
                "NOP", "JMP", "BRX", "JMX", "BPT", "KILL", "MEMBAR", "DEPBAR", "ERRBAR"):
        return "control", 0, False
    if base in ("DADD", "DMUL", "DFMA", "DMNMX", "DSET"):
        return "fp64", 0, False
    if base in ("FADD", "FMUL", "FFMA", "FMNMX", "FSEL", "MUFU", "FCHK", "FSET", "HFMA2",
                "HADD2", "HMUL2", "FSWZADD"):
        return "fp32", 0, False
    if base.startswith("U") or base in ("IMAD", "IADD3", "LEA", "LOP3", "SHF", "IABS", "SEL",
                                         "VIADD", "IMNMX", "VIMNMX", "VIADDMNMX", "POPC",
                                         "FLO", "BREV", "PRMT", "IADD", "SHL", "SHR", "MOV",
                                         "PLOP3", "P2R", "R2P", "IDP", "BMSK", "SGXT"):
        return "int", 0, is64
    return "other", 0, False


def classify(fn: Function, op: str) -> Tuple[str, int, bool]:
    return classify_ptx(op) if fn.isa == "ptx" else classify_sass(op)


def uses_fp64_pipe(fn: Function, op: str) -> bool:
    """64-bit floating-point arithmetic, compares and conversions: the work
    that runs at the FP64 rate (1/64 of FP32 on L4-class GPUs)."""
    parts = op.split(".")
    if fn.isa == "ptx":
        return "f64" in parts
    return parts[0] in ("DADD", "DMUL", "DFMA", "DMNMX", "DSET", "DSETP") or \
        (parts[0] in ("F2F", "I2F", "F2I") and "F64" in parts[1:])


# ------------------------------------------------------- per-element loop
@dataclass
class KernelSpec:
    label: str  # short name in the table
    source: str  # cuda/<source>.cu
    pattern: str  # regex on the mangled name
    marker: str  # "st.global", "ld.global" or "atomic": the per-element operation
    marker_per_element: float  # bytes (loads/stores) or operations (atomic) per element
    block: int  # threads per block of the launch modelled
    workload: str  # "ptychopinn-extract", "ptychopinn-reassemble", or an alignment stage
    inner_trips: int = 1  # iterations of a loop nested in the element loop, per element
    deeper_trips: int = 1  # iterations of a loop nested in that one, per its trip
    # The path counted round the element loop: "longest" (every conditional
    # instruction executed) or "shortest" (the common fast path, where the
    # kernel has one, e.g. extraction's rows inside the object).
    path: str = "longest"


def element_loop(fn: Function, spec: KernelSpec) -> dict:
    loops, _ = natural_loops(fn)

    def marker_of(ins: Instr) -> float:
        cat, width, _ = classify(fn, ins.op)
        if cat != spec.marker:
            return 0.0
        return 1.0 if spec.marker == "atomic" else float(width)

    def marker_amount(idx: List[int]) -> float:
        return sum(marker_of(fn.instrs[i]) for i in idx)

    def reads(idx: List[int]) -> bool:
        return any(classify(fn, fn.instrs[i].op)[0] == "ld.global" for i in idx)

    candidates = []
    for h, lp in loops.items():
        amount = marker_amount(lp.instrs)
        # The element loop reads its input (which rules out, e.g., a loop
        # that only writes zeros where a count is 0) ...
        if amount <= 0 or not reads(lp.instrs):
            continue
        # ... and is innermost with the marker: no loop inside holds one.
        if any(marker_amount(loops[c].instrs) > 0 for c in lp.children):
            continue
        candidates.append((amount, -lp.instrs[0], h))
    if not candidates:
        return dict(found=False, loops=len(loops))
    # The most output per trip (an unrolled main loop over its remainder);
    # of equals, the first in code order (extraction: the channel layout's),
    # or, for a kernel modelled on its fast path (path "shortest"), the loop
    # with the shortest path: extraction walks the rows before, inside and
    # after the object in three loops, and the one inside is the common
    # case.
    amount = max(c[0] for c in candidates)
    best = [c for c in candidates if c[0] == amount]
    if spec.path == "shortest" and len(best) > 1:
        def shortest(c):
            try:
                return path_count(fn, loops, c[2], {1: spec.inner_trips, 2: spec.deeper_trips},
                                  marker_of, True)[0]
            except ValueError:
                return len(loops[c[2]].instrs)
        best.sort(key=lambda c: (shortest(c), -c[1]))  # then code order
        _, _, h = best[0]
    else:
        amount, _, h = max(best)
    lp = loops[h]
    elements = amount / spec.marker_per_element
    counts = {c: 0 for c in CATEGORIES}
    gload_bytes = gstore_bytes = atomics = int64 = fp64 = 0
    called = 0
    calls = []
    body = []
    for i in lp.instrs:
        ins = fn.instrs[i]
        cat, width, is64 = classify(fn, ins.op)
        counts[cat] += 1
        int64 += is64
        fp64 += uses_fp64_pipe(fn, ins.op)
        if cat == "ld.global":
            gload_bytes += width
        elif cat == "st.global":
            gstore_bytes += width
        elif cat == "atomic":
            atomics += 1
        if ins.call is not None:
            sub = subroutine_length(fn, ins.call)
            called += sub
            calls.append((ins.call, sub))
        body.append(f"{ins.key:>10}  {ins.text}")
    total = len(lp.instrs)
    try:
        path, path_calls, path_amount = path_count(fn, loops, h, {1: spec.inner_trips, 2: spec.deeper_trips},
                                                   marker_of, spec.path == "shortest")
    except ValueError:
        path, path_calls, path_amount = total + called, len(calls), 0.0
    # Elements of one trip: the output along the path taken (branches are
    # alternatives), or the whole body's where the path holds none.
    path_elements = path_amount / spec.marker_per_element if path_amount > 0 else elements
    return dict(
        found=True,
        loops=len(loops),
        candidates=len(candidates),
        nested_loops=len(lp.children),
        elements_per_iteration=elements,
        instructions_per_iteration=total,
        called_per_iteration=called,
        static_per_element=(total + called) / elements,
        path=spec.path,
        path_elements=path_elements,
        per_element=path / path_elements,
        path_calls_per_element=path_calls / path_elements,
        categories={c: v / elements for c, v in counts.items() if v},
        int64_per_element=int64 / elements,
        fp64_per_element=fp64 / elements,
        load_bytes_per_element=gload_bytes / elements,
        store_bytes_per_element=gstore_bytes / elements,
        atomics_per_element=atomics / elements,
        memory_instructions_per_element=(counts["ld.global"] + counts["st.global"]
                                         + counts["atomic"] + counts["shared"]
                                         + counts["local"]) / elements,
        calls=calls,
        body=body,
    )


def subroutine_length(fn: Function, address: str) -> int:
    """Instructions from a CALL target to its first RET (straight-line count)."""
    start = next((i for i, ins in enumerate(fn.instrs) if ins.key == address), None)
    if start is None:
        return 0
    for j in range(start, len(fn.instrs)):
        if fn.instrs[j].op.startswith("RET"):
            return j - start + 1
    return len(fn.instrs) - start


# ---------------------------------------------------------------- kernels
P = PTYCHOPINN
_EXT = r"extract_patches_kernelILi2E(?:Lb1E){0,2}NS_4math"  # complex64, 8-byte pairs, 32-bit rows
_REA = r"reassemble_kernelILi2ENS_4math"
_AL = r"align_kernels_cu_\w+?"
_LU = r"luma_kernels_cu_\w+?"
KERNELS = [
    # Extraction: complex64 with 8-byte aligned arrays (kPairs = true, the
    # PtychoPINN case), counted on the path of rows inside the object.
    KernelSpec("extract pairs f32", "extract_gpu", _EXT + r"11PairOffsetsIfE", "st.global", 8,
               256, "ptychopinn-extract", path="shortest"),
    KernelSpec("extract pairs f64", "extract_gpu", _EXT + r"11PairOffsetsIdE", "st.global", 8,
               256, "ptychopinn-extract", path="shortest"),
    KernelSpec("extract legacy f32", "extract_gpu", _EXT + r"13LegacyOffsetsIfE", "st.global",
               8, 256, "ptychopinn-extract", path="shortest"),
    KernelSpec("extract legacy f64", "extract_gpu", _EXT + r"13LegacyOffsetsIdE", "st.global",
               8, 256, "ptychopinn-extract", path="shortest"),
    # Reassembly, a gather (cuda/reassemble_kernel.cuh): the per-element loop
    # is the column loop of one (pixel, patch) pair, one term per trip, which
    # reads the element's two floats (8 bytes). A patch element reaches 4
    # pixels, so 4 trips = 32 bytes per patch element. Not in the loop: the
    # tap searches per (pixel, patch) pair and the tile binning before the
    # gather (cuda/tile_bins.cuh; see docs/notes/gpu-model.md).
    KernelSpec("reassemble pairs f32", "reassemble_gpu", _REA + r"11PairOffsetsIfE", "ld.global",
               32, 256, "ptychopinn-reassemble"),
    KernelSpec("reassemble pairs f64", "reassemble_gpu", _REA + r"11PairOffsetsIdE", "ld.global",
               32, 256, "ptychopinn-reassemble"),
    # The default estimator's luminance image (cuda/luma_kernels.cu), Bayer
    # uint16: window means (3 x 3, taps (1, 2, 1); one float stored per
    # image pixel), the trend's row
    # sums and maxima (each reads the pixel and its column's two basis
    # values, 4 + 16 bytes), and the trend's removal. The image then runs
    # through the float32, period-1 instances of the plane kernels and the
    # tracked peak's kernels over one plane (inner_trips 1).
    KernelSpec("luma box u16", "luma_kernels", _LU + r"10box_kernelItLi2ELi3EE", "st.global", 4, 256,
               "luma-box"),
    KernelSpec("luma row_sums", "luma_kernels", _LU + r"15row_sums_kernel", "ld.global", 20,
               256, "luma-row_sums"),
    KernelSpec("luma row_maxima", "luma_kernels", _LU + r"17row_maxima_kernel", "ld.global", 20,
               256, "luma-maxima"),
    KernelSpec("luma apply", "luma_kernels", _LU + r"12apply_kernel", "st.global", 4, 256,
               "luma-apply"),
    KernelSpec("luma plane_sums f32", "align_kernels", _AL + r"17plane_sums_kernelILi256EE",
               "ld.global", 4, 256, "luma-plane_sums"),
    KernelSpec("luma center f32", "align_kernels", _AL + r"13center_kernelILi256EE",
               "st.global", 4, 256, "luma-center"),
    KernelSpec("luma tracked_joint", "align_kernels", _AL + r"20tracked_joint_kernel",
               "st.global", 16, 256, "luma-tracked_joint", deeper_trips=3),
    KernelSpec("luma bound_partials", "align_kernels", _AL + r"21bound_partials_kernel",
               "ld.global", 8, 256, "luma-bounds"),
    KernelSpec("luma peak_search", "align_kernels", _AL + r"18peak_search_kernel",
               "ld.global", 4, 256, "luma-peaks"),
]


# ------------------------------------------------------------- compiling
def cmake_list(name: str) -> List[str]:
    text = (REPO / "CMakeLists.txt").read_text()
    m = re.search(r"set\(\s*" + name + r"\s+([^)]*)\)", text)
    if not m:
        raise SystemExit(f"gpu_model: {name} not found in CMakeLists.txt")
    return m.group(1).split()


def shipped_architectures() -> List[int]:
    """SASS architectures of PTYCHOPATCH_DEFAULT_CUDA_ARCHITECTURES."""
    return [int(re.match(r"\d+", a).group(0)) for a in
            cmake_list("PTYCHOPATCH_DEFAULT_CUDA_ARCHITECTURES") if a != "-virtual"]


def find_tool(name: str, nvcc: str) -> Optional[str]:
    env = os.environ.get(name.upper())
    if env:
        return env
    found = shutil.which(name) or shutil.which(name, path=str(Path(nvcc).resolve().parent))
    if found:
        return found
    # The PyPI wheels (nvidia-cuda-cuobjdump) put it in nvidia/cu*/bin.
    for entry in sys.path:
        for hit in sorted(Path(entry).glob(f"nvidia/cu*/bin/{name}")) if entry else []:
            return str(hit)
    return None


# The flags of the library target's CUDA sources (CMakeLists.txt:
# ptychopatch_library_settings): C++17, Release's -O3 -DNDEBUG, include/ and
# src/, PTYCHOPATCH_BUILDING_LIBRARY. Host-only flags (-Xcompiler ...) do not
# change device code and are left out.
def nvcc_flags() -> List[str]:
    return ["-std=c++17", "-O3", "-DNDEBUG", f"-I{REPO / 'include'}", f"-I{REPO / 'src'}",
            "-DPTYCHOPATCH_BUILDING_LIBRARY", '-DPTYCHOPATCH_CUDA_ARCHITECTURES="model"']


def compile_one(nvcc: str, cuobjdump: Optional[str], source: str, sm: int, work: Path) -> dict:
    keep = work / f"{source}.sm_{sm}"
    keep.mkdir(parents=True, exist_ok=True)
    cubin = keep / f"{source}.cubin"
    cmd = [nvcc, *nvcc_flags(), f"-arch=sm_{sm}", "-cubin", "-keep", f"-keep-dir={keep}",
           "-Xptxas", "-v", "-o", str(cubin), str(REPO / "cuda" / f"{source}.cu")]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=keep)
    if run.returncode != 0:
        raise SystemExit(f"gpu_model: nvcc failed for {source} sm_{sm}:\n{run.stderr[-4000:]}")
    ptx_files = sorted(keep.glob("*.ptx"))
    ptx = ptx_files[0].read_text() if ptx_files else ""
    sass = ""
    if cuobjdump:
        dis = subprocess.run([cuobjdump, "-sass", str(cubin)], capture_output=True, text=True)
        if dis.returncode == 0:
            sass = dis.stdout
    return dict(source=source, sm=sm, ptx=ptx, sass=sass, ptxas=run.stderr + run.stdout)


def parse_ptxas(text: str) -> Dict[str, dict]:
    info: Dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = info.setdefault(m.group(1), dict(registers=0, spill_stores=0,
                                                       spill_loads=0, stack=0, smem=0))
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads",
                      line)
        if m:
            current.update(stack=int(m.group(1)), spill_stores=int(m.group(2)),
                           spill_loads=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["registers"] = int(m.group(1))
            m2 = re.search(r"(\d+) bytes smem", line)
            current["smem"] = int(m2.group(1)) if m2 else 0
    return info


def occupancy(sm: int, registers: int, block: int, smem: int) -> dict:
    lim = SM_LIMITS[sm]
    warps_per_block = -(-block // 32)
    regs_per_warp = -(-max(registers, 1) * 32 // REG_ALLOC_UNIT) * REG_ALLOC_UNIT
    by_regs = (lim["regs"] // regs_per_warp) // warps_per_block
    by_warps = lim["warps"] // warps_per_block
    by_smem = lim["smem"] // (smem + SMEM_PER_BLOCK_RESERVED) if smem else lim["blocks"]
    blocks = min(by_regs, by_warps, by_smem, lim["blocks"])
    limiter = min((by_regs, "registers"), (by_warps, "warps"), (by_smem, "shared memory"),
                  (lim["blocks"], "blocks"))[1]
    return dict(blocks=blocks, occupancy=blocks * warps_per_block / lim["warps"], limiter=limiter)


# --------------------------------------------------------------- workload
def ptychopinn_bytes(kind: str, offset_bytes: int, legacy: bool) -> dict:
    elements = P["patches"] * P["n"] ** 2
    patch_bytes = elements * 4 * P["lanes"]
    obj = P["object_side"] ** 2 * 4 * P["lanes"]
    offsets = 2 * offset_bytes * (P["patches"] + (P["patches"] // P["group"] if legacy else 0))
    if kind == "extract":
        # Patches written once; the 8 MB object and the offsets are read from
        # DRAM once (both fit in L2: 50 MB H100, 40 MB A100, 48 MB L4), the
        # taps' reuse served by L1/L2.
        moved = patch_bytes + obj + offsets
    else:
        # Patches read once from DRAM (each element by the ~4 pixels it
        # reaches, the repeats served by L1/L2); canvas (8 MB) and weights
        # (4 MB) written once, never read (the gather sums in registers).
        # The tile scan's offset reads (tiles x patches x 8 or 16 bytes, L2)
        # are not DRAM traffic.
        moved = patch_bytes + offsets + obj + P["object_side"] ** 2 * 4
    return dict(elements=elements, bytes=moved, output_bytes=patch_bytes)


def align_frame() -> dict:
    """Bytes and elements per 24 MP Bayer frame of each stage of the
    estimator, the luminance image, which cuda/luma_kernels.cu makes on the
    device and cuda/align_gpu.cu's run_batch then aligns as one float32
    plane per frame (Hann window tracked over AlignGeometry::tracking_passes
    passes, upsampled refinement). (The joint peak of the colour planes, modelled
    here before, is retired: it runs this estimator.)"""
    a = ALIGN
    pixels = a["height"] * a["width"]
    raw = pixels * a["raw_bytes"]
    passes = a["tracking_passes"]
    # The luminance image (Bayer: every 3 x 3 window, (H - 2) x (W - 2)
    # pixels; its FFT side cut to a smooth size is within a few pixels of
    # that, not modelled): one plane per frame.
    l_rows, l_cols = a["height"] - 2, a["width"] - 2
    l_half = l_cols // 2 + 1
    l_floats = l_rows * 2 * l_half
    return dict(pixels=pixels, raw=raw, passes=passes, luma_pixels=l_rows * l_cols, luma_rows=l_rows, luma_cols=l_cols,
                luma_spectrum=l_floats * 4, luma_bins=l_rows * l_half, luma_floats=l_floats)


# ------------------------------------------------------------------ model
def roofline(gpu: dict, moved: float, elements: float, per_element: float,
             memory_per_element: float, fp64_per_element: float = 0.0) -> dict:
    t_mem = moved / gpu["bandwidth"]
    t_issue = elements * per_element / (gpu["sms"] * ISSUE_PER_SM_CLOCK * gpu["clock"])
    t_lsu = elements * memory_per_element / (gpu["sms"] * LSU_PER_SM_CLOCK * gpu["clock"])
    t_fp64 = elements * fp64_per_element / (gpu["sms"] * gpu["fp64_per_sm_clock"] * gpu["clock"])
    t = max(t_mem, t_issue, t_lsu, t_fp64)
    bound = ("memory" if t == t_mem else "issue" if t == t_issue
             else "load/store" if t == t_lsu else "fp64")
    return dict(memory_s=t_mem, issue_s=t_issue, lsu_s=t_lsu, fp64_s=t_fp64, time_s=t,
                bound=bound, fraction_of_copy_bandwidth=t_mem / t)


def build_model(args) -> dict:
    nvcc = args.nvcc or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not Path(nvcc).exists() and not shutil.which(nvcc):
        raise SystemExit("gpu_model: nvcc not found (set --nvcc)")
    cuobjdump = None if args.ptx_only else find_tool("cuobjdump", nvcc)
    shipped = shipped_architectures()
    missing = [g for g, v in GPUS.items() if v["sm"] not in shipped]
    if missing:
        raise SystemExit(f"gpu_model: {missing} not in the shipped architectures {shipped}")
    kernel_sources = cmake_list("PTYCHOPATCH_CUDA_KERNEL_SOURCES")
    sources = sorted({k.source for k in KERNELS})
    for s in sources:
        if s not in kernel_sources:
            raise SystemExit(f"gpu_model: {s} is not in PTYCHOPATCH_CUDA_KERNEL_SOURCES")
    sms = sorted({GPUS[g]["sm"] for g in args.gpus})
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gpu_model."))
    jobs = [(s, sm) for s in sources for sm in sms]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        compiled = list(pool.map(lambda j: compile_one(nvcc, cuobjdump, j[0], j[1], work), jobs))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    by = {(c["source"], c["sm"]): c for c in compiled}

    frame = align_frame()
    kernels = []
    for spec in KERNELS:
        entry = dict(kernel=spec.label, source=f"cuda/{spec.source}.cu", block=spec.block,
                     marker=spec.marker, per_arch={})
        for sm in sms:
            c = by[(spec.source, sm)]
            ptx = parse_ptx(c["ptx"])
            sass = parse_sass(c["sass"]) if c["sass"] else {}
            info = parse_ptxas(c["ptxas"])
            names = [n for n in ptx if re.search(spec.pattern, n)]
            if len(names) != 1:
                raise SystemExit(f"gpu_model: {spec.label}: {len(names)} kernels match "
                                 f"{spec.pattern!r} for sm_{sm} (the kernels changed: update "
                                 "KERNELS in benchmarks/gpu_model.py)")
            name = names[0]
            res = dict(mangled=name, ptx=element_loop(ptx[name], spec))
            if name in sass:
                res["sass"] = element_loop(sass[name], spec)
            res["ptxas"] = info.get(name, {})
            res["occupancy"] = occupancy(sm, res["ptxas"].get("registers", 0), spec.block,
                                         res["ptxas"].get("smem", 0))
            entry["per_arch"][f"sm_{sm}"] = res
        kernels.append(entry)

    model = dict(
        note="Model figures, not measurements: they stand until a GPU run measures the kernels.",
        gpus={g: GPUS[g] for g in args.gpus},
        issue_per_sm_clock=ISSUE_PER_SM_CLOCK, lsu_per_sm_clock=LSU_PER_SM_CLOCK,
        counted_from="sass" if cuobjdump else "ptx",
        workloads=dict(ptychopinn=PTYCHOPINN, align=dict(ALIGN, **frame),
                       fft_passes=args.fft_passes),
        kernels=kernels,
    )
    estimate(model, args)
    return model


def _counts(res: dict, basis: str) -> Optional[dict]:
    """The loop counted from `basis` (SASS or PTX), else from PTX where the
    SASS loop was not found (e.g. a control flow the CFG does not model),
    so that a kernel is never left out of a total; None if neither."""
    for key in (basis, "ptx"):
        loop = res.get(key)
        if loop and loop.get("found"):
            return loop
    return None


def estimate(model: dict, args) -> None:
    basis = model["counted_from"]
    frame = model["workloads"]["align"]
    fp = model["workloads"]["fft_passes"]
    for k in model["kernels"]:
        k["roofline"] = {}
        for g in args.gpus:
            gpu = GPUS[g]
            res = k["per_arch"][f"sm_{gpu['sm']}"]
            loop = _counts(res, basis)
            if loop is None:
                continue
            label = k["kernel"]
            if label.startswith(("extract", "reassemble")):
                legacy = "legacy" in label
                ob = 8 if label.endswith("f64") else 4
                w = ptychopinn_bytes("extract" if label.startswith("extract") else "reassemble",
                                     ob, legacy)
                elements, moved = w["elements"], w["bytes"]
            else:
                elements, moved = align_stage(label, frame)
            r = roofline(gpu, moved, elements, loop["per_element"],
                         loop["memory_instructions_per_element"],
                         loop.get("fp64_per_element", 0.0))
            r.update(elements=elements, bytes=moved)
            k["roofline"][g] = r
    # Alignment per frame: the luminance kernels and the tracked peak over
    # the image times their launches, plus the two serial steps the
    # roofline does not see (luma_serial_s) and the cuFFT transforms by
    # bytes (fp passes over the data each).
    model["align_frame_luma"] = {}
    model["align_frame_refined"] = {}
    for g in args.gpus:
        gpu = GPUS[g]
        t = {k["kernel"]: k["roofline"][g]["time_s"] for k in model["kernels"]
             if g in k["roofline"]}
        launches = luma_launches(frame)
        kernel_time = sum(t.get(name, 0.0) * n for name, n in launches.items())
        serial = luma_serial_s(gpu, frame)
        fft_bytes = 2 * fp * frame["luma_spectrum"] + frame["passes"] * 2 * fp * frame[
            "luma_spectrum"]
        fft_time = fft_bytes / gpu["bandwidth"]
        h2d = frame["raw"] / gpu["pcie"]
        gpu_s = kernel_time + serial + fft_time
        model["align_frame_luma"][g] = dict(
            kernels_s=kernel_time, serial_s=serial, fft_s=fft_time, fft_bytes=fft_bytes,
            gpu_s=gpu_s, h2d_s=h2d, gpu_over_h2d=gpu_s / h2d)
        # A frame the default's gate doubts (verify="refine"): the closed
        # loop cuts it on the host (src/align/fine/align_verify.cpp), uploads the
        # cut and runs the same estimator on it, so about twice the image
        # estimator's GPU time and upload (the overlap taken as the whole
        # frame: an upper bound; a second loop for a re-cropped frame not
        # counted).
        model["align_frame_refined"][g] = dict(gpu_s=2 * gpu_s, h2d_s=2 * h2d,
                                               gpu_over_h2d=gpu_s / h2d)


def align_stage(label: str, f: dict) -> Tuple[float, float]:
    """(elements, DRAM bytes) of one launch of an alignment kernel, per frame."""
    raw = f["raw"]
    n, L = f["luma_pixels"], f["luma_spectrum"]
    stage = {"box": (n, raw + 4 * n), "row_sums": (n, 4 * n), "row_maxima": (n, 4 * n),
             "apply": (n, 8 * n), "plane_sums": (n, 4 * n), "center": (n, 8 * n),
             # reference and unwindowed spectra in, the cross-power spectrum out
             "tracked_joint": (f["luma_bins"], 3 * L), "bound": (f["luma_bins"], L),
             "peak": (f["luma_floats"], L)}
    if label.startswith("luma"):
        for key, value in stage.items():
            if key in label:
                return value
    raise KeyError(label)


# Latencies of the serial steps (cycles; model assumptions): a dependent
# FP64 add, and a global load that misses L1 where a warp has nothing else
# to issue. (The H100 run of 2026-11-26 measured the old, untiled steps at
# about a miss per column and per row: 0.77 and 0.71 ms per 24 MP frame,
# where this model had charged them 0.10 ms in all; docs/gpu-validation.md.)
FP64_ADD_LATENCY = 8
MISS_LATENCY = 600
ROW_SUM_TILE = 32  # columns per tile of row_sums_kernel (kRowSumTile)
FIT_RUN = 256  # rows per run of fit_kernel (kThreads)


def luma_serial_s(gpu: dict, f: dict) -> float:
    """The luminance image's two latency-bound steps (cuda/luma_kernels.cu):
    the row sums, one thread per image row adding its row in column order
    (H threads, about one warp per SM) from tiles of 32 columns its warp
    loads, the next tile's loads in flight while one is summed (a tile
    costs the larger of a miss and its 32 dependent FP64 adds), and the
    fit, one thread adding the rows' sums in row order from runs of 256
    its block loaded (a miss per run, then a dependent add per row)."""
    tiles = -(-f["luma_cols"] // ROW_SUM_TILE)
    row_sums = MISS_LATENCY + tiles * max(MISS_LATENCY, ROW_SUM_TILE * FP64_ADD_LATENCY)
    runs = -(-f["luma_rows"] // FIT_RUN)
    fit = runs * MISS_LATENCY + f["luma_rows"] * FP64_ADD_LATENCY
    return (row_sums + fit) / gpu["clock"]


def luma_launches(f: dict) -> Dict[str, int]:
    """Launches per frame of the default estimator (luminance image,
    tracking window): the image, then run_batch over one plane."""
    p = f["passes"]
    return {"luma box u16": 1, "luma row_maxima": 1, "luma apply": 1,
            "luma plane_sums f32": 1, "luma center f32": 1, "luma tracked_joint": p,
            "luma bound_partials": 1, "luma peak_search": p}


# ----------------------------------------------------------------- output
# Targets on H100. extract_fraction and reassemble_fraction are fractions of
# the kernel's floor (its bytes at the DRAM bandwidth; issue 61: extraction
# at >= 85 % of the write-only floor, reassembly within 2 x the read-only
# floor, i.e. >= 50 %).
TARGETS = dict(extract_instructions=40, extract_fraction=0.85, reassemble_fraction=0.50,
               align_gpu_over_h2d=1.0)

# ------------------------------------------------------ against measurement
# The kernels whose figures were measured, each named by the commit that
# last changed its device code: a measurement (benchmarks/gpu_measured.json,
# "kernel") counts only for the version it measured. Change the commit here
# when a kernel's device code changes, so that --check says "unmeasured since
# the kernel changed" until a GPU run measures the new version.
KERNEL_VERSIONS = {
    "extract": dict(commit="9b1d521", what="extraction: rows inside the object walked on "
                    "32-bit float indices"),
    "reassemble": dict(commit="a1a424b", what="reassembly: tile-binned gather "
                       "(cuda/tile_bins.cuh)"),
    "align-luma": dict(commit="c0c7ef7", what="the coarse estimate on the luminance image: "
                       "float images, one tracking pass under REFINE, the upsampled DFT's row "
                       "sums a warp per output, the trend's row sums in 32 lanes"),
}

# What a GPU run measures and the model predicts: the kernel version it
# depends on, its unit, the targets of check() it bears on, and where a
# run measures it.
QUANTITIES = {
    "extract_gbps": dict(kernel="extract", unit="GB/s", targets=("extract_fraction",),
                         what="extraction, device arrays, output GB/s (bench_extract_gpu "
                         "BM_DeviceExtract, float64 offsets)"),
    "extract_over_write_floor": dict(kernel="extract", unit="x", targets=("extract_fraction",),
                                     what="extraction time over the write-only floor "
                                     "(bench_extract_gpu t_over_write_floor)"),
    "reassemble_gbps": dict(kernel="reassemble", unit="GB/s", targets=("reassemble_fraction",),
                            what="reassembly, device arrays, input GB/s (bench_extract_gpu "
                            "BM_DeviceReassemble)"),
    "reassemble_over_read_floor": dict(kernel="reassemble", unit="x",
                                       targets=("reassemble_fraction",),
                                       what="reassembly time over the read-only floor "
                                       "(bench_extract_gpu t_over_read_floor)"),
    "align_luma_ms": dict(kernel="align-luma", unit="ms", targets=("align_luma",),
                          what="device time (kernels, cuFFT's included) per 24 MP image of "
                          "the coarse estimate (profile_align_gpu.py --verify none: kernels "
                          "ms / images)"),
}

MEASURED_FILE = REPO / "benchmarks" / "gpu_measured.json"
MEASURED_FACTOR = 1.5  # a prediction within this factor of the measured range agrees


def load_measured(path: Path = MEASURED_FILE) -> List[dict]:
    """The measured figures (gpu_measured.json's "measurements"), checked
    for the fields compare_with_measured() reads."""
    data = json.loads(Path(path).read_text())
    entries = data["measurements"]
    for e in entries:
        missing = [k for k in ("quantity", "device", "date", "commit", "kernel", "low", "high")
                   if k not in e]
        if missing or e["quantity"] not in QUANTITIES or not 0 < e["low"] <= e["high"]:
            raise SystemExit(f"gpu_model: {path}: a bad entry {e} (missing {missing}; "
                             f"quantities: {sorted(QUANTITIES)})")
    return entries


def predicted(model: dict, quantity: str, gpu: str) -> Optional[float]:
    """The model's figure for a measured quantity on `gpu`, in its unit;
    None where the model has none (that GPU not modelled)."""
    def kernel_time(label):
        for k in model["kernels"]:
            if k["kernel"] == label and gpu in k.get("roofline", {}):
                return k["roofline"][gpu]["time_s"]
        return None

    if quantity == "align_luma_ms":
        a = model.get("align_frame_luma", {}).get(gpu)
        return a["gpu_s"] * 1e3 if a else None
    label = "extract pairs f64" if quantity.startswith("extract") else "reassemble pairs f64"
    t = kernel_time(label)
    if t is None or t <= 0:
        return None
    patch_bytes = ptychopinn_bytes("extract", 8, False)["output_bytes"]
    if quantity.endswith("_gbps"):
        return patch_bytes / t / 1e9
    # Over the floor: the kernel's bytes (written or read) at the DRAM
    # bandwidth, which is what the write-only or read-only kernel reaches.
    return t / (patch_bytes / model["gpus"][gpu]["bandwidth"])


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def compare_with_measured(model: dict, measured: List[dict],
                          factor: float = MEASURED_FACTOR) -> List[dict]:
    """Each measured figure of the current kernels against the model, and
    each quantity with none: dicts of status ("agrees", "contradicted",
    "unmeasured", "no model"), quantity, device and message. A prediction
    agrees when it lies within `factor` of the measured range [low, high]."""
    out = []
    for quantity, q in QUANTITIES.items():
        version = KERNEL_VERSIONS[q["kernel"]]
        entries = [e for e in measured if e["quantity"] == quantity]
        current = [e for e in entries if e["kernel"] == version["commit"]]
        for e in current:
            where = f"{e['device']}, {e['commit']}, {e['date']}"
            got = f"measured {_fmt(e['low'])}" + (
                f"-{_fmt(e['high'])}" if e["high"] != e["low"] else "") + f" {q['unit']} ({where})"
            p = predicted(model, quantity, e["device"])
            if p is None:
                out.append(dict(status="no model", quantity=quantity, device=e["device"],
                                message=f"{quantity}: {got}; the model has no {e['device']}"))
                continue
            off = max(p / e["high"], e["low"] / p)
            status = "agrees" if off <= factor else "contradicted"
            out.append(dict(status=status, quantity=quantity, device=e["device"], off=off,
                            predicted=p, message=f"{quantity}: model {_fmt(p)} {q['unit']}, "
                            f"{got}: {max(off, 1.0):.2f} x off (agreement: within {factor:g} x)"))
        if current:
            continue
        old = sorted({f"{_fmt(e['low'])}-{_fmt(e['high'])} {q['unit']} on {e['device']} "
                      f"({e['commit']}, {e['date']}; kernel {e['kernel']})" for e in entries})
        if old:
            why = (f"unmeasured since the kernel changed (now {version['commit']}: "
                   f"{version['what']}); the old kernel measured " + "; ".join(old))
        else:
            why = "no GPU run has measured it yet"
        out.append(dict(status="unmeasured", quantity=quantity, device=None,
                        message=f"{quantity}: {why}"))
    return out


def check(model: dict, comparisons: Optional[List[dict]] = None) -> List[str]:
    """The targets (issues 15 and 61), by this model on H100, and the
    model against measurement: the misses. A target on a figure that
    measurement contradicts is withdrawn (the model cannot predict it; the
    measurement judges it) and the contradiction is a miss."""
    misses = []
    comparisons = comparisons or []
    withdrawn = set()
    for c in comparisons:
        if c["status"] == "contradicted":
            misses.append(f"measurement contradicts the model: {c['message']}")
            withdrawn.update(QUANTITIES[c["quantity"]]["targets"])
    basis = model["counted_from"]
    for k in model["kernels"]:
        label = k["kernel"]
        r = k["roofline"].get("H100")
        res = k["per_arch"].get("sm_90", {})
        loop = _counts(res, basis)
        if label.startswith("extract"):
            if loop is None or loop["per_element"] > TARGETS["extract_instructions"]:
                per = "not found" if loop is None else "%.1f" % loop["per_element"]
                misses.append(f"{label}: {per} {basis} instructions per complex element "
                              f"(target <= {TARGETS['extract_instructions']})")
            if r and "extract_fraction" not in withdrawn and \
                    r["fraction_of_copy_bandwidth"] < TARGETS["extract_fraction"]:
                misses.append(f"{label}: {r['fraction_of_copy_bandwidth']:.0%} of its write-only "
                              f"floor on H100 (target >= {TARGETS['extract_fraction']:.0%})")
        if label.startswith("reassemble") and r and "reassemble_fraction" not in withdrawn and \
                r["fraction_of_copy_bandwidth"] < TARGETS["reassemble_fraction"]:
            misses.append(f"{label}: {r['fraction_of_copy_bandwidth']:.0%} of its read-only floor "
                          f"on H100 (target >= {TARGETS['reassemble_fraction']:.0%})")
    for key, name, target in (("align_frame_luma", "luminance image", "align_luma"),):
        a = model.get(key, {}).get("H100")
        if a and target not in withdrawn and a["gpu_over_h2d"] >= TARGETS["align_gpu_over_h2d"]:
            misses.append(f"alignment ({name}): {a['gpu_s'] * 1e3:.2f} ms GPU per 24 MP frame "
                          f"on H100, host-to-device {a['h2d_s'] * 1e3:.2f} ms (target: below)")
    return misses


def withdrawn_targets(comparisons: List[dict]) -> List[str]:
    """The targets check() withdrew, each with why."""
    out = {}
    for c in comparisons:
        if c["status"] == "contradicted":
            for t in QUANTITIES[c["quantity"]]["targets"]:
                out.setdefault(t, c["quantity"])
    return [f"{t}: the model cannot predict {q} (contradicted above); judged by measurement "
            f"only ({QUANTITIES[q]['what']})" for t, q in out.items()]


def table(model: dict) -> str:
    basis = model["counted_from"]
    gpus = list(model["gpus"])
    out = []
    head = ["kernel", "PTX instr/el", "SASS instr/el", "ld/st/atomic per el",
            "int64 ops/el", "fp64 ops/el", "div PTX / CALL SASS per el", "regs 90/80/89",
            "spills",
            "occupancy 90/80/89"] + [f"{g} % of its floor (bound)" for g in gpus]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for k in model["kernels"]:
        a90 = k["per_arch"].get("sm_90", {})
        ptx = a90.get("ptx", {})
        sass = a90.get("sass", {})
        loop = _counts(a90, basis) or {}
        cats = loop.get("categories", {})
        regs = "/".join(str(k["per_arch"].get(f"sm_{s}", {}).get("ptxas", {}).get("registers", "-"))
                        for s in (90, 80, 89))
        occ = "/".join("%d%%" % round(100 * k["per_arch"][f"sm_{s}"]["occupancy"]["occupancy"])
                       if f"sm_{s}" in k["per_arch"] else "-" for s in (90, 80, 89))
        spill = sum(v["ptxas"].get("spill_stores", 0) + v["ptxas"].get("spill_loads", 0)
                    for v in k["per_arch"].values())

        def per(x):
            return "%.1f" % x["per_element"] if x.get("found") else "n/a"

        mem = "%.1f/%.1f/%.1f" % (cats.get("ld.global", 0), cats.get("st.global", 0),
                                  cats.get("atomic", 0))
        # PTX's div/rem per element; in SASS nvcc's 64-bit div/rem is an
        # inline 32-bit fast path plus a CALL to a subroutine (its length).
        div = "%.1f" % (ptx.get("categories", {}).get("div", 0) if ptx.get("found") else 0)
        if sass.get("found"):
            sizes = sorted({n for _, n in sass.get("calls", [])})
            div += " / %.1f" % (len(sass.get("calls", [])) / sass["elements_per_iteration"])
            if sizes:
                div += " (%s)" % ",".join(map(str, sizes))
        row = [k["kernel"], per(ptx), per(sass) if sass else "-", mem,
               "%.1f" % loop.get("int64_per_element", 0),
               "%.1f" % loop.get("fp64_per_element", 0), div, regs, str(spill), occ]
        for g in gpus:
            r = k["roofline"].get(g)
            row.append("%d%% (%s)" % (round(100 * r["fraction_of_copy_bandwidth"]), r["bound"])
                       if r else "-")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    out.append("| GPU | extraction (pairs f32) ms | reassembly (pairs f32) ms | "
               "alignment GPU ms / 24 MP frame, luminance image (kernels + serial + FFT) | "
               "host-to-device ms | "
               "default, a doubted frame: GPU ms / host-to-device ms (2 x the "
               "image's) |")
    out.append("|---|---|---|---|---|---|")
    for g in gpus:
        def t(label):
            for k in model["kernels"]:
                if k["kernel"] == label and g in k["roofline"]:
                    return "%.2f" % (k["roofline"][g]["time_s"] * 1e3)
            return "-"
        lu = model["align_frame_luma"][g]
        rf = model["align_frame_refined"][g]
        out.append(f"| {g} | {t('extract pairs f32')} | {t('reassemble pairs f32')} | "
                   f"{lu['gpu_s'] * 1e3:.2f} ({lu['kernels_s'] * 1e3:.2f} + "
                   f"{lu['serial_s'] * 1e3:.2f} + {lu['fft_s'] * 1e3:.2f}) "
                   f"| {lu['h2d_s'] * 1e3:.2f} "
                   f"| {rf['gpu_s'] * 1e3:.2f} / {rf['h2d_s'] * 1e3:.2f} |")
    return "\n".join(out)


# -------------------------------------------------------------- self-test
_SELF_PTX = r"""
.visible .entry copy2(
	.param .u64 copy2_param_0
)
{
	.reg .pred 	%p<3>;
	.reg .b64 	%rd<9>;
	ld.param.u64 	%rd1, [copy2_param_0];
	mov.u64 	%rd2, 0;
$L__BB0_1:
	ld.global.nc.v2.f32 	{%f1, %f2}, [%rd1];
	setp.eq.s64 	%p1, %rd2, 7;
	@%p1 bra 	$L__BB0_3;
	div.s64 	%rd3, %rd2, %rd1;
$L__BB0_3:
	st.global.f32 	[%rd1], %f1;
	st.global.f32 	[%rd1+4], %f2;
	st.global.v2.f32 	[%rd1+8], {%f1, %f2};
	add.s64 	%rd2, %rd2, 1;
	setp.lt.s64 	%p2, %rd2, 100;
	@%p2 bra 	$L__BB0_1;
$L__BB0_4:
	add.s64 	%rd2, %rd2, 1;
	setp.lt.s64 	%p2, %rd2, 100;
	@%p2 bra 	$L__BB0_4;
	ret;
}
"""

_SELF_SASS = r"""
		Function : copy2
        /*0000*/                   MOV R1, c[0x0][0x28] ;                  /* 0x00000a0000017a02 */
        /*0010*/                   S2R R0, SR_TID.X ;                      /* 0x0000000000007919 */
        /*0020*/                   LDG.E.64.CONSTANT R2, desc[UR4][R4.64] ; /* 0x0000000404027981 */
        /*0030*/                   ISETP.NE.AND P0, PT, R0, 0x7, PT ;       /* 0x0000000700007c0c */
        /*0040*/               @P0 BRA 0x60 ;                              /* 0x0000000000000947 */
        /*0050*/                   CALL.REL.NOINC 0xc0 ;                   /* 0x0000000000007944 */
        /*0060*/                   STG.E.64 desc[UR4][R6.64], R2 ;          /* 0x0000000206007986 */
        /*0070*/                   IADD3 R0, R0, 0x1, RZ ;                  /* 0x0000000100007810 */
        /*0080*/                   ISETP.GE.AND P1, PT, R0, 0x64, PT ;      /* 0x0000006400007c0c */
        /*0090*/              @!P1 BRA 0x20 ;                              /* 0x0000000000009947 */
        /*00a0*/                   EXIT ;                                  /* 0x000000000000794d */
        /*00b0*/                   BRA 0xb0;                               /* 0xfffffffc00fc7947 */
        /*00c0*/                   MUFU.RCP R8, R8 ;                       /* 0x0000000800087308 */
        /*00d0*/                   IMAD.HI.U32 R8, R8, R9, RZ ;            /* 0x0000000908087227 */
        /*00e0*/                   RET.REL.NODEC R20 0x0 ;                 /* 0x0000000014007950 */
"""


def self_test() -> List[str]:
    """The counting on snippets whose answer is known; a list of failures."""
    fails = []

    def expect(what, got, want):
        if got != want:
            fails.append(f"{what}: got {got!r}, expected {want!r}")

    spec = KernelSpec("t", "t", "copy2", "st.global", 8, 256, "t")
    ptx = parse_ptx(_SELF_PTX)["copy2"]
    loops, _ = natural_loops(ptx)
    expect("PTX loops", len(loops), 2)
    r = element_loop(ptx, spec)
    # Loop $L__BB0_1 .. its back edge: 10 instructions, 16 bytes stored =
    # 2 complex elements; the empty loop $L__BB0_4 stores nothing.
    expect("PTX elements per iteration", r["elements_per_iteration"], 2.0)
    expect("PTX instructions per iteration", r["instructions_per_iteration"], 10)
    expect("PTX per element", r["per_element"], 5.0)
    expect("PTX static per element", r["static_per_element"], 5.0)
    expect("PTX div per element", r["categories"].get("div"), 0.5)
    expect("PTX stores per element", r["categories"].get("st.global"), 1.5)
    expect("PTX load bytes per element", r["load_bytes_per_element"], 4.0)
    expect("PTX 64-bit int ops per element", r["int64_per_element"], 2.0)
    sass = parse_sass(_SELF_SASS)["copy2"]
    r = element_loop(sass, spec)
    # 0x20 .. 0x90: 8 instructions, one 8-byte store = 1 element, and a
    # 3-instruction subroutine called from the loop; the self-branch after
    # EXIT is not reachable, so no loop.
    expect("SASS loops", r["loops"], 1)
    expect("SASS elements per iteration", r["elements_per_iteration"], 1.0)
    expect("SASS instructions per iteration", r["instructions_per_iteration"], 8)
    expect("SASS called per iteration", r["called_per_iteration"], 3)
    expect("SASS static per element", r["static_per_element"], 11.0)
    # The path that avoids the CALL (a division's 64-bit slow path, say).
    expect("SASS path per element", r["per_element"], 7.0)
    expect("SASS compares per element", r["categories"].get("compare"), 2.0)
    expect("occupancy sm_90 32 regs 256 threads", occupancy(90, 32, 256, 0)["occupancy"], 1.0)
    expect("occupancy sm_89 40 regs 256 threads", occupancy(89, 40, 256, 0)["blocks"], 6)
    expect("occupancy sm_80 64 regs 256 threads", occupancy(80, 64, 256, 0)["occupancy"], 0.5)
    return fails


# ------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the model to this file")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when a target is not met by the model or a measured figure "
                    "contradicts the model")
    ap.add_argument("--measured", default=str(MEASURED_FILE),
                    help="the measured figures (default benchmarks/gpu_measured.json)")
    ap.add_argument("--self-test", action="store_true",
                    help="check the counting on known snippets and exit")
    ap.add_argument("--show-loops", action="store_true",
                    help="print each kernel's per-element loop body (sm_90)")
    ap.add_argument("--nvcc", help="nvcc to use (default: PATH, /usr/local/cuda/bin)")
    ap.add_argument("--ptx-only", action="store_true", help="do not look for cuobjdump")
    ap.add_argument("--gpus", nargs="+", default=list(GPUS), choices=list(GPUS))
    ap.add_argument("--fft-passes", type=int, default=2,
                    help="passes over the data per 2-D cuFFT transform (default 2: one per axis)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="parallel nvcc runs (default 2)")
    ap.add_argument("--keep", help="keep the PTX, cubins and ptxas logs in this folder")
    args = ap.parse_args(argv)

    if args.self_test:
        fails = self_test()
        for f in fails:
            print("FAIL", f)
        print(f"gpu_model self-test: {'ok' if not fails else f'{len(fails)} failed'}")
        return 1 if fails else 0

    model = build_model(args)
    print(f"GPU performance model ({model['note']})")
    print(f"instructions counted from {model['counted_from'].upper()}"
          + ("" if model["counted_from"] == "sass" else
             " (no cuobjdump found: pip install nvidia-cuda-cuobjdump for SASS)"))
    print()
    print(table(model))
    if args.show_loops:
        for k in model["kernels"]:
            res = k["per_arch"].get("sm_90", {})
            for isa in ("sass", "ptx"):
                loop = res.get(isa)
                if not loop or not loop.get("found"):
                    continue
                print(f"\n== {k['kernel']} sm_90 {isa.upper()}: "
                      f"{loop['instructions_per_iteration']} instructions, "
                      f"{loop['elements_per_iteration']:g} element(s) per iteration, "
                      f"{loop['nested_loops']} loop(s) nested inside")
                print("\n".join(loop["body"]))
    measured = load_measured(Path(args.measured))
    comparisons = compare_with_measured(model, measured)
    misses = check(model, comparisons)
    model["targets"] = dict(TARGETS, misses=misses)
    model["measured"] = comparisons
    if args.json:
        slim = json.loads(json.dumps(model))
        for k in slim["kernels"]:
            for res in k["per_arch"].values():
                for isa in ("ptx", "sass"):
                    if isa in res:
                        res[isa].pop("body", None)
        Path(args.json).write_text(json.dumps(slim, indent=1) + "\n")
    print()
    print(f"The model against measurement ({args.measured}; agreement: within "
          f"{MEASURED_FACTOR:g} x the measured range):")
    for c in comparisons:
        print(f"  {c['status'].upper():<13}{c['message']}")
    print()
    print("Targets (issues 15, 61) by this model on H100, and the model against measurement:")
    for w in withdrawn_targets(comparisons):
        print("  WITHDRAWN", w)
    for m in misses:
        print("  MISSED", m)
    if not misses:
        print("  all met")
    return 1 if (args.check and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
