"""``python -m medldr.train sft|grpo --config RECIPE [--max-steps N] [--output-dir D] [--model M] [--limit N]``: the
entry point ``accelerate launch -m medldr.train`` runs on every process (without the CLI: the train stage never
imports it). A bad recipe is one line and exit code 2, as from ``medldr train``."""

from __future__ import annotations

import argparse
import sys

from medldr.errors import MedldrError
from medldr.train.entry import KINDS, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medldr.train")
    parser.add_argument("kind", choices=list(KINDS))
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--output-dir")
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    overrides = {"max_steps": args.max_steps, "output_dir": args.output_dir, "model": args.model, "limit": args.limit}
    try:
        out = train(args.kind, args.config, overrides)
    except MedldrError as err:
        print(f"error: {err}", file=sys.stderr)
        return MedldrError.exit_code
    print(f"trained: {out} (evaluate: medldr run CASES --model hf:{out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
