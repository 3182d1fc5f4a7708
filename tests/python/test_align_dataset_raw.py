"""Real RAW files through rawpy (LibRaw) in ``align-dataset`` and in
``align --folder``.

The other dataset tests use .npy frames with --cfa; here the frames are
DNG files, the format of many cameras and of RawNIND's converted sets,
written by tifffile as small CFA DNGs that LibRaw decodes like a camera's:
the mosaic, and the colour-filter pattern from the file's CFAPattern tag
(so no --cfa is given). Checked against two independent oracles: rawpy
reads back exactly the mosaic and pattern written, and the rows equal
those of the same frames saved as .npy with the pattern given by name
(and the moves the frames were made with). A truncated and a garbage DNG
get status rows while the rest completes.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

rawpy = pytest.importorskip("rawpy")
tifffile = pytest.importorskip("tifffile")
pytest.importorskip("dask.distributed")
pytest.importorskip("pyarrow")

from ptychopatch import cli, distributed  # noqa: E402
from ptychopatch.align import BAYER_PATTERNS  # noqa: E402

#: TIFF tags of a minimal CFA DNG (DNG 1.4 spec; TIFF/EP for the CFA tags).
CFA_REPEAT_PATTERN_DIM, CFA_PATTERN = 33421, 33422
DNG_VERSION, UNIQUE_CAMERA_MODEL, CFA_PLANE_COLOR, CFA_LAYOUT, WHITE_LEVEL = \
    50706, 50708, 50710, 50711, 50717
ACTIVE_AREA = 50829
PHOTOMETRIC_CFA = 32803
SHAPE = (72, 96)  # a whole number of X-Trans (6 x 6) and Bayer periods

#: scene -> (pattern name, moves of its frames, masked margins (top,
#: left)): moves are multiples of the period, so each moved frame keeps the
#: GT frame's pattern; margins (a camera's masked border, outside the DNG's
#: ActiveArea) are even for Bayer, as LibRaw rounds a Bayer margin to even.
SCENES = {"rggb": ("RGGB", [(2, -4), (0, 6), (-2, 2)], (4, 6)),
          "gbrg": ("GBRG", [(4, 2), (-6, 0)], (0, 0)),
          "xtrans": ("XTRANS", [(6, -6), (0, 12)], (3, 5))}


def write_dng(path, mosaic: np.ndarray, pattern: np.ndarray, margins=(0, 0)) -> None:
    """A CFA DNG of a uint16 mosaic. `pattern` is in LibRaw's codes (0 R,
    1 G, 2 B, 3 second G); the file's CFAPattern in TIFF/EP's (0 R, 1 G,
    2 B), where both greens are 1: LibRaw numbers the second one itself.
    With `margins`, the mosaic is the ActiveArea of a larger sensor whose
    masked border (top, left, and 2 / 3 pixels bottom / right) reads 512;
    the pattern is that of the active area's first pixel."""
    side = pattern.shape[0]
    top, left = margins
    sensor = np.full((mosaic.shape[0] + top + 2, mosaic.shape[1] + left + 3), 512, np.uint16)
    sensor[top:top + mosaic.shape[0], left:left + mosaic.shape[1]] = mosaic
    tiff_codes = tuple(int(c) for c in np.where(pattern == 3, 1, pattern).ravel())
    tags = [(CFA_REPEAT_PATTERN_DIM, "H", 2, (side, side), True),
            (CFA_PATTERN, "B", side * side, tiff_codes, True),
            (DNG_VERSION, "B", 4, (1, 4, 0, 0), True),  # what makes it a DNG
            (UNIQUE_CAMERA_MODEL, "s", 0, "ptychopatch test", True),  # required by DNG
            (CFA_PLANE_COLOR, "B", 3, (0, 1, 2), True),  # plane 0 red, 1 green, 2 blue
            (CFA_LAYOUT, "H", 1, 1, True),  # rectangular
            (WHITE_LEVEL, "I", 1, 4095, True),  # 12-bit data
            (ACTIVE_AREA, "I", 4, (top, left, top + mosaic.shape[0], left + mosaic.shape[1]),
             True)]
    tifffile.imwrite(str(path), sensor, photometric=PHOTOMETRIC_CFA, extratags=tags)


def _pattern(name: str) -> np.ndarray:
    return cli.parse_cfa(name)


def _mosaic(rng) -> np.ndarray:
    return (rng.random(SHAPE) * 4000).astype(np.uint16)


@pytest.mark.parametrize("name", sorted(BAYER_PATTERNS) + ["XTRANS"])
def test_rawpy_reads_back_the_dng_written(tmp_path, name):
    mosaic = _mosaic(np.random.default_rng(1))
    write_dng(tmp_path / "f.dng", mosaic, _pattern(name))
    with rawpy.imread(str(tmp_path / "f.dng")) as raw:
        assert raw.raw_type == rawpy.RawType.Flat  # a mosaic, not demosaiced planes
        np.testing.assert_array_equal(raw.raw_image_visible, mosaic)
        np.testing.assert_array_equal(raw.raw_pattern, _pattern(name))
    frame = cli.read_raw(str(tmp_path / "f.dng"))  # what align-dataset's workers call
    np.testing.assert_array_equal(frame.image, mosaic)
    np.testing.assert_array_equal(frame.cfa, _pattern(name))


@pytest.mark.parametrize("name, margins", [("RGGB", (4, 6)), ("GBRG", (2, 0)),
                                           ("XTRANS", (3, 5))])
def test_read_raw_gives_the_active_area_and_its_pattern(tmp_path, name, margins):
    """A sensor's masked border is not part of the frame, and the pattern is
    the active area's. With X-Trans at an odd offset LibRaw's raw_pattern
    is the sensor origin's (shifted), raw_colors_visible the active area's:
    read_raw takes the latter."""
    mosaic = _mosaic(np.random.default_rng(2))
    write_dng(tmp_path / "f.dng", mosaic, _pattern(name), margins)
    with rawpy.imread(str(tmp_path / "f.dng")) as raw:
        assert raw.raw_image.shape != mosaic.shape  # the border is in the file
    frame = cli.read_raw(str(tmp_path / "f.dng"))
    np.testing.assert_array_equal(frame.image, mosaic)
    np.testing.assert_array_equal(frame.cfa, _pattern(name))


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same frames twice: ``dng/`` (DNG files, with the bad scenes) and
    ``npy/<pattern>/`` (.npy files, one folder per pattern, since a run of
    .npy frames takes one --cfa)."""
    base = tmp_path_factory.mktemp("raw")
    rng = np.random.default_rng(7)
    for scene, (name, moves, margins) in SCENES.items():
        gt = _mosaic(rng)
        for ext_root in (base / "dng" / scene, base / "npy" / name / scene):
            ext_root.mkdir(parents=True)
        write_dng(base / "dng" / scene / "gt.dng", gt, _pattern(name), margins)
        np.save(base / "npy" / name / scene / "gt.npy", gt)
        for j, move in enumerate(moves):
            frame = np.roll(gt, move, axis=(0, 1))
            write_dng(base / "dng" / scene / f"f{j}.dng", frame, _pattern(name), margins)
            np.save(base / "npy" / name / scene / f"f{j}.npy", frame)
    # A truncated frame (its strip cut short) next to a good one, and a GT
    # frame that is not a RAW file at all.
    bad_frame, bad_gt = base / "dng" / "bad_frame", base / "dng" / "bad_gt"
    bad_frame.mkdir()
    bad_gt.mkdir()
    gt = _mosaic(rng)
    rggb = _pattern("RGGB")
    write_dng(bad_frame / "gt.dng", gt, rggb)
    write_dng(bad_frame / "f0.dng", np.roll(gt, (2, 2), axis=(0, 1)), rggb)
    write_dng(bad_frame / "f1.dng", gt, rggb)
    data = (bad_frame / "f1.dng").read_bytes()
    (bad_frame / "f1.dng").write_bytes(data[:len(data) // 2])
    (bad_gt / "gt.dng").write_bytes(b"II*\x00 garbage, not a RAW file")
    write_dng(bad_gt / "f0.dng", gt, rggb)
    return base


def _rows(output):
    """Rows by (scene, frame without its extension), without the columns
    that differ between the DNG and .npy runs (timings, file names)."""
    table = distributed.read_alignments(str(output)).drop(["seconds", "gt"])
    return {(r["scene"], r.pop("frame").rsplit(".", 1)[0]): r for r in table.to_pylist()}


def _npy_rows(base, tmp_path):
    """The oracle: the .npy frames, with each scene's pattern given by name."""
    rows = {}
    for name in sorted({name for name, _, _ in SCENES.values()}):
        out = tmp_path / f"npy-{name}"
        scenes = distributed.scenes_from_folders(str(base / "npy" / name), gt="gt.npy",
                                                 frames=["*.npy"])
        distributed.align_dataset(scenes, str(out), serial=True, cfa=name)
        rows.update(_rows(out))
    return rows


def _check(rows, base, tmp_path):
    good = {k: r for k, r in rows.items() if k[0] in SCENES}
    assert good == _npy_rows(base, tmp_path)
    for scene, (_, moves, _) in SCENES.items():  # the crops are the moves back
        for j, (dy, dx) in enumerate(moves):
            r = rows[(scene, f"f{j}")]
            assert (r["ok"], r["crop_dy"], r["crop_dx"]) == (True, -dy, -dx), (scene, j)
    assert rows[("bad_frame", "f0")]["ok"] and \
        (rows[("bad_frame", "f0")]["crop_dy"], rows[("bad_frame", "f0")]["crop_dx"]) == (-2, -2)
    assert rows[("bad_frame", "f1")]["status"] == cli.STATUS_UNREADABLE
    assert "LibRaw" in rows[("bad_frame", "f1")]["message"]  # rawpy's error, named
    assert rows[("bad_gt", "f0")]["status"] == "GT_UNREADABLE"
    assert "gt.dng" in rows[("bad_gt", "f0")]["message"]
    assert len(rows) == sum(len(m) for _, m, _ in SCENES.values()) + 3


@pytest.mark.slow
def test_align_dataset_on_dng_scenes_equals_the_npy_frames(datasets, tmp_path):
    # No cfa: each DNG's own pattern (the scenes have three different ones),
    # read by rawpy in two worker processes.
    scenes = distributed.scenes_from_folders(str(datasets / "dng"), gt="gt.dng",
                                             frames=["*.dng"])
    summary = distributed.align_dataset(scenes, str(tmp_path / "out"), n_workers=2)
    assert (summary.scenes, summary.computed, summary.failed) == (5, 5, 2)
    _check(_rows(tmp_path / "out"), datasets, tmp_path)


def test_the_command_on_dng_scenes(datasets, tmp_path, capsys):
    # Default --frames: the RAW extensions, .dng among them (gt.dng left out).
    output = str(tmp_path / "out")
    code = cli.main(["align-dataset", str(datasets / "dng"), "--gt", "gt.dng", "-o", output,
                     "--serial"])
    assert code == cli.EXIT_FAILURE  # the two bad files
    assert "5 scenes: 5 aligned, 0 already in" in capsys.readouterr().out
    _check(_rows(output), datasets, tmp_path)


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_align_folder_on_dng_files(datasets, scene, capsys):
    """`ptychopatch align --folder` (not the dataset command) on a folder
    of DNG files: each file's own pattern (Bayer and X-Trans), and every
    crop the move back; as the .npy frames with the pattern by name give."""
    name, moves, _ = SCENES[scene]
    code, report = _align_folder(datasets / "dng" / scene, capsys)
    assert code == cli.EXIT_OK
    by_file = {e["file"]: e for e in report["frames"]}
    npy = datasets / "npy" / name / scene
    code = cli.main(["align", str(npy / "gt.npy"), *(str(npy / f"f{j}.npy")
                                                    for j in range(len(moves))),
                     "--cfa", name, "--no-progress"])
    assert code == cli.EXIT_OK
    oracle = {os.path.basename(e["file"]).rsplit(".", 1)[0]: e
              for e in json.loads(capsys.readouterr().out)["frames"]}
    for j, (dy, dx) in enumerate(moves):
        entry = by_file[f"f{j}.dng"]
        assert entry["ok"] and entry["crop"] == [-dy, -dx], entry
        assert entry["shift"] == oracle[f"f{j}"]["shift"]
        assert entry["confidence"] == oracle[f"f{j}"]["confidence"]


def test_align_folder_reports_unreadable_dng_files(datasets, capsys):
    """A truncated DNG is reported UNREADABLE (exit 1) and the other frame
    aligned; a GT that is not a RAW file stops the command (exit 1)."""
    code, report = _align_folder(datasets / "dng" / "bad_frame", capsys)
    assert code == cli.EXIT_FAILURE
    by_file = {e["file"]: e for e in report["frames"]}
    assert by_file["f1.dng"]["status"] == cli.STATUS_UNREADABLE
    assert "LibRaw" in by_file["f1.dng"]["message"]
    assert by_file["f0.dng"]["ok"] and by_file["f0.dng"]["crop"] == [-2, -2]
    code = cli.main(["align", "--folder", str(datasets / "dng" / "bad_gt"), "--gt", "gt.dng",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILURE and "gt.dng" in err, err


def _align_folder(folder, capsys):
    code = cli.main(["align", "--folder", str(folder), "--gt", "gt.dng", "--no-progress"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else None)
