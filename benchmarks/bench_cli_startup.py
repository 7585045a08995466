"""`rlcloud --help` vs `ray --help`: wall time of a cold CLI start, median of interleaved runs.

Target (issue 2): ours takes at most a fifth of Ray's.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import interleaved_medians, run_quiet, save

TARGET_RATIO = 0.2


def main(repeats: int = 9) -> dict:
    bindir = Path(sys.executable).parent
    ours, ray = interleaved_medians(
        lambda: run_quiet([str(bindir / "rlcloud"), "--help"]),
        lambda: run_quiet([str(bindir / "ray"), "--help"]),
        repeats,
    )
    ratio = ours / ray
    result = {
        "rlcloud_help_s": round(ours, 4),
        "ray_help_s": round(ray, 4),
        "ratio": round(ratio, 3),
        "target_ratio_max": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO,
        "repeats": repeats,
    }
    print(f"cli startup: rlcloud --help {ours * 1000:.0f} ms, ray --help {ray * 1000:.0f} ms, ratio {ratio:.2f} (target <= {TARGET_RATIO})")
    save("cli_startup", result)
    return result


if __name__ == "__main__":
    main()
