"""The score stage: raw responses -> answers -> every metric of the study, with CIs; pure functions, no file I/O."""

from medldr.answer import Answer, extract, normalize_item
from medldr.score.bootstrap import bootstrap_replicates, percentile_interval
from medldr.score.encode import Batch, encode
from medldr.score.metrics import METRICS, get_metric, per_case
from medldr.score.reliability import reliability, set_jaccard
from medldr.score.scoring import ScoredRun, score_responses

__all__ = [
    "METRICS",
    "Answer",
    "Batch",
    "ScoredRun",
    "bootstrap_replicates",
    "encode",
    "extract",
    "get_metric",
    "normalize_item",
    "per_case",
    "percentile_interval",
    "reliability",
    "score_responses",
    "set_jaccard",
]
