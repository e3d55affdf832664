"""``python -m medldr.train sft|grpo --config RECIPE``: the entry point ``accelerate launch -m medldr.train`` runs
on every process."""

from medldr.cli import main

if __name__ == "__main__":
    import sys

    sys.argv = ["medldr", "train", *sys.argv[1:]]
    main()
