"""A stand-in for rawpy (LibRaw) that reads the fake RAW files of
tests/docs/fixtures.py: .npz archives (whatever their extension) holding
`image` (the mosaic, uint16) and `pattern` (its LibRaw colour codes).
Only what ptychopatch's command line and examples use is here. It is put
first on the path of the docs' snippets only (tests/docs/fixtures.py), so
they can show RAW folders without a camera's files or rawpy installed.
"""

import enum

import numpy as np

__version__ = "0.0-docs-stub"


class RawType(enum.Enum):
    Flat = 0
    Stack = 1


class RawPy:
    def __init__(self, path):
        with np.load(path, allow_pickle=False) as data:
            self.raw_image_visible = np.array(data["image"])
            self.raw_pattern = np.array(data["pattern"], dtype=np.uint8)
        self.raw_type = RawType.Flat
        period = self.raw_pattern.shape[0]
        h, w = self.raw_image_visible.shape
        reps = (-(-h // period), -(-w // period))
        self.raw_colors_visible = np.tile(self.raw_pattern, reps)[:h, :w]

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def imread(path):
    return RawPy(path)
