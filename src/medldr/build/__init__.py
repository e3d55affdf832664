"""The build stage: raw EHR tables -> LDR cases (JSONL per split) and a build manifest."""

from medldr.build.pipeline import OUTPUT_FILES, BuildConfig, Progress, build_cases
from medldr.build.splits import inference_subset, split_subjects

__all__ = ["OUTPUT_FILES", "BuildConfig", "Progress", "build_cases", "inference_subset", "split_subjects"]
