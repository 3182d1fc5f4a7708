#!/usr/bin/env python3
"""Measures one dataset task at realistic size: its wall time and the
process's peak resident memory (what one Dask worker needs).

    measure-dataset-task.py scene DIR [--height 4000 --width 6000 --frames 4]
    measure-dataset-task.py patches DIR [--size 1024 --groups 5000 --N 64]

`scene` writes (once) a GT frame and `--frames` noisy frames, uint16 RGGB
.npy, then in a fresh process reads them and aligns them as one
align-dataset task does (`align_scene`, align-dataset's defaults:
upsample 10, one library thread). `patches` writes (once) one
PtychoPINN-style .npz and runs `patches_dataset(serial=True)` on it (one
task: group, cut, compress and write to a Zarr store). The inputs are made
in their own process, so the measuring process's peak is the task's alone
(plus the interpreter and the imports, reported as `baseline`). CPU
seconds are printed beside the wall time: on a shared machine the latter
grows with the load. Check `uptime` before and after.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np


def _rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def make_scene(folder, height, width, frames, seed=0):
    """Smooth RGGB scene (low-pass noise), frames = GT rolled + noise."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 4000, (-(-height // 64), -(-width // 64))).astype(np.float32)
    # A smooth scene without a 24 MP FFT: a coarse random field, upsampled.
    scene = np.kron(small, np.ones((64, 64), np.float32))[:height, :width].copy()
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "gt.npy"), scene.astype(np.uint16))
    for i in range(frames):
        dy, dx = 2 * rng.integers(-8, 9, 2)
        moved = np.roll(scene, (int(dy), int(dx)), axis=(0, 1))
        moved += rng.normal(0.0, 20.0, scene.shape).astype(np.float32)
        np.save(os.path.join(folder, f"f{i}.npy"), np.clip(moved, 0, 65535).astype(np.uint16))


def make_npz(path, size, groups, N, seed=0):
    """A PtychoPINN-size scan: a size² complex64 object, `groups` positions."""
    rng = np.random.default_rng(seed)
    obj = (rng.uniform(0, 1, (size, size)) * np.exp(1j * rng.uniform(-np.pi, np.pi, (size, size)))
           ).astype(np.complex64)
    low, high = N / 2 + 1, size - N / 2 - 2
    x, y = rng.uniform(low, high, groups), rng.uniform(low, high, groups)
    py, px = np.mgrid[0:N, 0:N] - (N - 1) / 2
    probe = np.exp(-(px ** 2 + py ** 2) / (2 * (N / 6) ** 2)).astype(np.complex64)
    np.savez(path, objectGuess=obj, xcoords=x, ycoords=y, probeGuess=probe)


def measure_scene(folder, runs, planning):
    import ptychopatch

    from ptychopatch._bench import pagecache

    baseline = _rss_kib("VmRSS")
    # The storage's sequential read of the scene's files, from cold (the
    # page cache dropped, as the benchmark's dataset/workers limit does).
    paths = [os.path.join(folder, n) for n in sorted(os.listdir(folder))]
    pagecache.flush(paths)
    pagecache.evict(paths)
    evicted = pagecache.resident_fraction(paths)
    start = time.perf_counter()
    cold_bytes = pagecache.read_files(paths)
    cold_read_s = time.perf_counter() - start
    start = time.perf_counter()
    gt = np.load(os.path.join(folder, "gt.npy"))
    frames = [np.load(os.path.join(folder, n)) for n in sorted(os.listdir(folder))
              if n.startswith("f")]
    read_s = time.perf_counter() - start
    # `runs` times: a worker's first scene also plans its FFTs, its later
    # scenes of the same size reuse the plans. CPU seconds beside the wall time:
    # on a machine shared with other work the wall time grows with the load.
    times = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        result = ptychopatch.align_scene(gt, frames, cfa="RGGB", num_threads=1,
                                         planning=planning)
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return {"frames": len(frames), "shape": list(gt.shape), "planning": planning,
            "cold_read_bytes": cold_bytes, "cold_read_s": cold_read_s,
            "resident_after_eviction": evicted, "read_s": read_s,
            "align_s": [t[0] for t in times], "align_cpu_s": [t[1] for t in times],
            "baseline_rss_bytes": baseline * 1024,
            "peak_rss_bytes": _rss_kib("VmHWM") * 1024,
            "shifts": [list(map(float, s)) for s in result.shifts]}


def measure_patches(path, groups):
    from ptychopatch import distributed

    baseline = _rss_kib("VmRSS")
    out = path + ".zarr"
    shutil.rmtree(out, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    summary = distributed.patches_dataset([path], out, serial=True, seed=0)
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    shutil.rmtree(out, ignore_errors=True)
    return {"groups": summary.groups, "seconds": seconds, "cpu_s": cpu_s, "input_bytes": os.path.getsize(path),
            "store_bytes": stored, "baseline_rss_bytes": baseline * 1024,
            "peak_rss_bytes": _rss_kib("VmHWM") * 1024}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["scene", "patches"])
    p.add_argument("dir")
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--runs", type=int, default=2, help="align the scene this many times")
    p.add_argument("--planning", default="auto", help="align_scene's FFT planning")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--groups", type=int, default=5000)
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.what == "scene":
        target = os.path.join(a.dir, f"scene-{a.height}x{a.width}-{a.frames}")
        if a.measure:
            print(json.dumps(measure_scene(target, a.runs, a.planning)))
            return
        if not os.path.exists(os.path.join(target, "gt.npy")):
            make_scene(target, a.height, a.width, a.frames)
    else:
        target = os.path.join(a.dir, f"scan-{a.size}-{a.groups}-{a.N}.npz")
        if a.measure:
            print(json.dumps(measure_patches(target, a.groups)))
            return
        if not os.path.exists(target):
            os.makedirs(a.dir, exist_ok=True)
            make_npz(target, a.size, a.groups, a.N)
    # The measurement in a fresh process: its peak is the task's, not the generator's.
    subprocess.run([sys.executable, __file__, "--measure"] + sys.argv[1:], check=True)


if __name__ == "__main__":
    main()
