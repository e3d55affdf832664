"""How the baselines scale: the demo replicated N times (bench/build_scale.py's replicas), built, then `prior` and
`labs` trained on its train split and answering its test split.

    python bench/baseline_scale.py 100 1000      # one line per N and kind: cases trained / answered, seconds, RSS

Each baseline runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from build_scale import replicate  # the same replicas as the build benchmark

from medldr.assemble import BuildConfig, build_cases
from medldr.sources import open_mimic


def one_baseline(cases: Path, kind: str, out: Path) -> None:
    from medldr.baselines import run_baseline

    start = time.perf_counter()
    manifest = run_baseline(cases, kind, out, cases_file=cases / "test.jsonl")
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trained = manifest.settings["trained_cases"]
    answered = manifest.identity["n_cases"]
    print(f"{kind:6} trained on {trained:>6} cases, answered {answered:>6}: {seconds:7.1f} s, {rss:6.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int, nargs="+")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_baseline(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "mimic"
            replicate(n, root)
            cases = Path(tmp) / "cases"
            build_cases(open_mimic(root), cases, BuildConfig(window="ed", memory_limit="4GB"))
            print(f"N={n}")
            for kind in ("prior", "labs"):
                child = [sys.executable, __file__, "0", "--child", str(cases), kind, str(Path(tmp) / kind)]
                subprocess.run(child, check=True)


if __name__ == "__main__":
    main()
