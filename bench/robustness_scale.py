"""Robustness at scale: `medldr perturb` on 1,000 cases (every kind) and `medldr robustness` over a 3-round original
run and one run per kind.

    python bench/robustness_scale.py                 # 1,000 cases: seconds to perturb, and to compare the runs
    python bench/robustness_scale.py --cases 5000

The cases are the open demo's built cases, copied under new patient and admission ids until there are --cases of
them (real lab blocks). The runs come from the real runner with an in-process stand-in model that answers instantly
(a seeded draw of a label code per prompt), so what is timed is medldr's work, not a model's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path

from medldr.assemble import BuildConfig, build_cases, open_source
from medldr.perturb import perturb_cases
from medldr.perturb.labs import LabBlock
from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.run.providers.base import Completion, Provider
from medldr.schema import read_cases, resolve_label_space, write_cases
from medldr.score.robustness_files import robustness_of


class StandIn(Provider):
    """Answers at once: a label code drawn from a seed of the prompt (a new prompt, a new draw)."""

    name = "bench"
    zero_retention = True

    def __init__(self, labels: list[str]) -> None:
        self.labels, self.model = labels, "stand-in"

    async def complete(self, messages: list[dict[str, str]], params: GenerationParams) -> Completion:
        seed = hashlib.sha256(f"{params.seed}|{messages[-1]['content']}".encode()).digest()
        first = random.Random(seed).choice(self.labels)
        return Completion(json.dumps({"top10": [first], "predictions": [first]}), finish_reason="stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_cases(open_source("demo"), root / "demo", BuildConfig(window="ed"))
        demo = [c for split in ("train", "validation", "test") for c in read_cases(root / "demo" / f"{split}.jsonl")]
        demo = [c for c in demo if c.input_dict.lab and LabBlock.parse(c.input_dict.lab).rows]
        cases = []
        for i in range(args.cases):
            case = demo[i % len(demo)]
            cases.append(case.model_copy(update={"case_id": f"{900000 + i // 2}/{800000 + i}/0"}))
        (root / "big").mkdir()
        write_cases(root / "big" / "inference.jsonl", cases)
        (root / "big" / "build_manifest.json").write_text((root / "demo" / "build_manifest.json").read_text())

        start = time.perf_counter()
        written = perturb_cases(root / "big" / "inference.jsonl", root / "p", seed=1)
        perturb_s = time.perf_counter() - start
        print(f"perturb: {len(cases)} cases x {len(written) - 1} kinds in {perturb_s:.1f} s")

        labels = list(resolve_label_space(None, root / "big" / "inference.jsonl").codes)
        provider = StandIn(labels)
        runs = []
        start = time.perf_counter()
        for path in written:
            out = root / "runs" / path.parent.name
            settings = RunSettings(
                cases_file=path, out=out, model="bench:stand-in", task="lab", rounds=3, concurrency=64,
                params=GenerationParams(seed=7),
            )  # fmt: skip
            run_cases(settings, provider=provider)
            runs.append(out)
        asyncio.run(provider.aclose())
        print(f"runs (stand-in model, not timed as medldr's work): {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        result = robustness_of(runs[0], runs[1:], n_resamples=1000)
        robustness_s = time.perf_counter() - start
        print(f"robustness: {len(result['kinds'])} kinds x {len(cases)} cases x 3 rounds in {robustness_s:.1f} s")


if __name__ == "__main__":
    main()
