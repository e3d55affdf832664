"""The run stage: cases (or any prompts, e.g. the overdiagnosis judge's) -> responses, through any provider, in
rounds, resumable, under the data-use guard."""

from medldr.run.execute import ask, run_prompts
from medldr.run.job import Prompt, PromptJob
from medldr.run.params import GenerationParams
from medldr.run.providers import PROVIDERS, get_provider
from medldr.run.runner import RunSettings, plan_run, run_cases

__all__ = [
    "PROVIDERS",
    "GenerationParams",
    "Prompt",
    "PromptJob",
    "RunSettings",
    "ask",
    "get_provider",
    "plan_run",
    "run_cases",
    "run_prompts",
]
