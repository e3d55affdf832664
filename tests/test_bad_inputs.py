"""The bad-input replay (issue 14): every probe of the adversarial pass that medldr can be given on one machine, driven
through the real CLI. Each must end in one line that starts with "error:" and names the file, option or case, exit
code 2, no traceback; nothing is written for it, and the cases and scored runs the probes read are byte-identical
afterwards (nothing overwritten).

Probes that need a mount (full disk), a second process (one writer) or a cut network live beside the code they
exercise: tests/assemble/test_demo_build.py, tests/run/test_full_disk.py, tests/test_one_writer.py,
tests/run/test_guard_no_connection.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from medldr.schema import BuildManifest
from tests.conftest import cli_in_process


@dataclass
class Place:
    """Inputs the probes point at: the demo's cases, a scored run, and a scratch folder for broken copies."""

    cases: str
    run: Path
    other_run: Path
    scratch: Path

    def file(self, name: str, data: bytes) -> str:
        path = self.scratch / name
        path.write_bytes(data)
        return str(path)

    def latin1(self) -> str:
        return self.file("latin1.txt", b"\xff\xfe 5849\n")

    def folder(self) -> str:
        path = self.scratch / "a-folder"
        path.mkdir(exist_ok=True)
        return str(path)

    def taken(self) -> str:
        return self.file("taken", b"a user's file\n")

    def out(self, name: str = "out") -> str:
        return str(self.scratch / name)

    def run_copy(self, edit: Callable[[Path], object]) -> str:
        """A copy of the scored run, broken by ``edit``."""
        copy = self.scratch / "run-copy"
        shutil.copytree(self.run, copy, ignore=shutil.ignore_patterns(".medldr.lock"))
        edit(copy)
        return str(copy)

    def responses(self, edit: Callable[[list[bytes]], list[bytes]]) -> str:
        """A copy of the run whose responses.jsonl lines are replaced by ``edit(lines)``."""

        def rewrite(folder: Path) -> None:
            path = folder / "responses.jsonl"
            path.write_bytes(b"".join(edit(path.read_bytes().splitlines(keepends=True))))

        return self.run_copy(rewrite)


def _without(field: str) -> Callable[[list[bytes]], list[bytes]]:
    def edit(lines: list[bytes]) -> list[bytes]:
        first = json.loads(lines[1])
        return [lines[0], json.dumps({k: v for k, v in first.items() if k != field}).encode() + b"\n"]

    return edit


def _drop_round(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if json.loads(line).get("round") != 1]


def _replace_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


LOCAL = ["--model", "vllm:m", "--task", "lab", "--base-url", "http://127.0.0.1:9/v1"]

# name -> (arguments, text the one line must hold)
PROBES: dict[str, Callable[[Place], tuple[list[str], str]]] = {
    # build
    "build --ratios nan": lambda p: (["build", "demo", "--ratios", "nan,0.5,0.5", "--out", p.out()], "--ratios"),
    "build --ratios two": lambda p: (["build", "demo", "--ratios", "0.8,0.1", "--out", p.out()], "--ratios"),
    "build --ratios negative": lambda p: (["build", "demo", "--ratios", "1.2,-0.1,-0.1", "--out", p.out()], "--ratios"),
    "build --memory-limit lots": lambda p: (["build", "demo", "--memory-limit", "lots", "--out", p.out()], "lots"),
    "build --threads 100000": lambda p: (["build", "demo", "--threads", "100000", "--out", p.out()], "'--threads'"),
    "build --threads 0": lambda p: (["build", "demo", "--threads", "0", "--out", p.out()], "'--threads'"),
    "build --seed x": lambda p: (["build", "demo", "--seed", "x", "--out", p.out()], "'--seed'"),
    "build --window weekly": lambda p: (["build", "demo", "--window", "weekly", "--out", p.out()], "--window"),
    "build --labs latest": lambda p: (["build", "demo", "--labs", "latest", "--out", p.out()], "--labs"),
    "build label space Latin-1": lambda p: (
        ["build", "demo", "--label-space", p.latin1(), "--out", p.out()],
        "latin1.txt: not UTF-8",
    ),
    "build label space a folder": lambda p: (
        ["build", "demo", "--label-space", p.folder(), "--out", p.out()],
        "a-folder",
    ),
    "build label space missing": lambda p: (
        ["build", "demo", "--label-space", p.out("nope.txt"), "--out", p.out()],
        "nope.txt",
    ),
    "build label space bad code": lambda p: (
        ["build", "demo", "--label-space", p.file("codes.txt", b"NOTACODE\n"), "--out", p.out()],
        "codes.txt: line 1: NOTACODE is neither an ICD-9 nor an ICD-10-CM diagnosis code",
    ),
    "build --out is a file": lambda p: (["build", "demo", "--out", p.taken()], "taken: cannot write here"),
    "build --out holds a user's train.jsonl": lambda p: (
        ["build", "demo", "--out", str(Path(p.file("train.jsonl", b'{"mine": 1}\n')).parent)],
        "train.jsonl: not written by a medldr build",
    ),
    "build unknown source": lambda p: (["build", "hirid", "--out", p.out()], "build 'hirid'"),
    "build mimic without --root": lambda p: (["build", "mimic", "--out", p.out()], "needs --root"),
    "build mimic missing root": lambda p: (
        ["build", "mimic", "--root", p.out("nowhere"), "--out", p.out()],
        "no such MIMIC-IV folder",
    ),
    # run
    "run missing cases file": lambda p: (["run", p.out("nope.jsonl"), *LOCAL, "--out", p.out()], "no such cases file"),
    "run cases file a folder": lambda p: (["run", p.folder(), *LOCAL, "--out", p.out()], "a folder, not a cases file"),
    "run cases file Latin-1": lambda p: (["run", p.latin1(), *LOCAL, "--out", p.out()], "not UTF-8"),
    "run cases not JSON": lambda p: (
        ["run", p.file("bad.jsonl", b"{not json\n"), *LOCAL, "--out", p.out()],
        "line 1: not valid JSON",
    ),
    "run cases empty": lambda p: (["run", p.file("empty.jsonl", b""), *LOCAL, "--out", p.out()], "build manifest"),
    "run case without fields": lambda p: (
        ["run", p.file("shape.jsonl", b'{"a": 1}\n'), *LOCAL, "--out", p.out()],
        "case_id: Field required",
    ),
    "run case an array": lambda p: (["run", p.file("arr.jsonl", b"[1, 2]\n"), *LOCAL, "--out", p.out()], "record 0"),
    "run --base-url [::1": lambda p: (["run", p.cases, *LOCAL, "--base-url", "http://[::1", "--out", p.out()], "URL"),
    "run --base-url no host": lambda p: (
        ["run", p.cases, *LOCAL, "--base-url", "http:///v1", "--out", p.out()],
        "HOST",
    ),
    "run --base-url port 99999": lambda p: (
        ["run", p.cases, *LOCAL, "--base-url", "http://127.0.0.1:99999/v1", "--out", p.out()],
        "Port out of range",
    ),
    "run --base-url ftp": lambda p: (
        ["run", p.cases, *LOCAL, "--base-url", "ftp://127.0.0.1:9/v1", "--out", p.out()],
        "expected http(s)",
    ),
    "run --timeout -1": lambda p: (["run", p.cases, *LOCAL, "--timeout", "-1", "--out", p.out()], "'--timeout'"),
    "run --timeout 0": lambda p: (["run", p.cases, *LOCAL, "--timeout", "0", "--out", p.out()], "'--timeout'"),
    "run --timeout nan": lambda p: (["run", p.cases, *LOCAL, "--timeout", "nan", "--out", p.out()], "'--timeout'"),
    "run --rounds 0": lambda p: (["run", p.cases, *LOCAL, "--rounds", "0", "--out", p.out()], "'--rounds'"),
    "run --limit -1": lambda p: (["run", p.cases, *LOCAL, "--limit", "-1", "--out", p.out()], "'--limit'"),
    "run --concurrency 0": lambda p: (
        ["run", p.cases, *LOCAL, "--concurrency", "0", "--out", p.out()],
        "'--concurrency'",
    ),
    "run --temperature -1": lambda p: (
        ["run", p.cases, *LOCAL, "--temperature", "-1", "--out", p.out()],
        "--temperature",
    ),
    "run --temperature nan": lambda p: (
        ["run", p.cases, *LOCAL, "--temperature", "nan", "--out", p.out()],
        "--temperature",
    ),
    "run unknown provider": lambda p: (
        ["run", p.cases, "--model", "nosuch:m", "--task", "lab", "--out", p.out()],
        "unknown provider 'nosuch'",
    ),
    "run model without provider": lambda p: (
        ["run", p.cases, "--model", "gpt4", "--task", "lab", "--out", p.out()],
        "--model 'gpt4'",
    ),
    "run unknown task": lambda p: (
        ["run", p.cases, "--model", "vllm:m", "--task", "everything", "--out", p.out()],
        "task 'everything'",
    ),
    "run unknown style": lambda p: (["run", p.cases, *LOCAL, "--style", "nosuch", "--out", p.out()], "'nosuch'"),
    "run style file Latin-1": lambda p: (["run", p.cases, *LOCAL, "--style", p.latin1(), "--out", p.out()], "UTF-8"),
    "run --out is a file": lambda p: (["run", p.cases, *LOCAL, "--out", p.taken()], "taken: cannot write here"),
    "run hosted model without a key": lambda p: (
        ["run", p.cases, "--model", "openai:gpt-4.1", "--task", "lab", "--out", p.out()],
        "OPENAI_API_KEY",
    ),
    "run missing GGUF": lambda p: (
        ["run", p.cases, "--model", f"gguf:{p.out('nope.gguf')}", "--task", "lab", "--out", p.out()],
        "nope.gguf: no such GGUF file",
    ),
    "run into another run's folder": lambda p: (
        ["run", p.cases, "--model", "vllm:other", "--task", "lab", "--out", str(p.run)],
        "holds a different run",
    ),
    "run into responses without a manifest": lambda p: (
        ["run", p.cases, *LOCAL, "--out", p.run_copy(lambda d: (d / "manifest.json").unlink())],
        "not written by medldr",
    ),
    # score
    "score missing run folder": lambda p: (["score", p.out("nope")], "nope: no such run folder"),
    "score responses Latin-1": lambda p: (
        ["score", "--cases", p.cases, "--responses", p.latin1(), "--out", p.out("s.json")],
        "not UTF-8",
    ),
    "score responses a folder": lambda p: (
        ["score", "--cases", p.cases, "--responses", p.folder(), "--out", p.out("s.json")],
        "a folder, not a responses file",
    ),
    "score line without case_id": lambda p: (["score", p.responses(_without("case_id"))], "line 2: case_id"),
    "score line without round": lambda p: (["score", p.responses(_without("round"))], "line 2: round"),
    "score line not an object": lambda p: (["score", p.responses(lambda ls: [ls[0], b"[1, 2]\n"])], "line 2"),
    "score line not JSON": lambda p: (["score", p.responses(lambda ls: [ls[0], b"{oops\n"])], "line 2"),
    "score responses a folder in the run": lambda p: (
        ["score", p.run_copy(lambda d: _replace_dir(d / "responses.jsonl"))],
        "a folder, not a responses file",
    ),
    "score manifest Latin-1": lambda p: (
        ["score", p.run_copy(lambda d: (d / "manifest.json").write_bytes(b"\xff{}"))],
        "manifest.json: not UTF-8",
    ),
    "score manifest cut short": lambda p: (
        ["score", p.run_copy(lambda d: (d / "manifest.json").write_text('{"kind": '))],
        "manifest.json: not a run manifest",
    ),
    "score manifest not an object": lambda p: (
        ["score", p.run_copy(lambda d: (d / "manifest.json").write_text("[]"))],
        "manifest.json: not a run manifest",
    ),
    "score missing round": lambda p: (["score", p.responses(_drop_round)], "round 1 has no answers"),
    "score --resamples -5": lambda p: (
        ["score", str(p.run), "--resamples", "-5", "--out", p.out("s.json")],
        "'--resamples'",
    ),
    "score --resamples 1e8": lambda p: (
        ["score", str(p.run), "--resamples", "100000000", "--out", p.out("s.json")],
        "'--resamples'",
    ),
    "score --extraction fuzzy": lambda p: (
        ["score", str(p.run), "--extraction", "fuzzy", "--out", p.out("s.json")],
        "--extraction 'fuzzy'",
    ),
    "score label space Latin-1": lambda p: (
        ["score", str(p.run), "--label-space", p.latin1(), "--out", p.out("s.json")],
        "not UTF-8",
    ),
    "score --out under a file": lambda p: (["score", str(p.run), "--out", p.taken() + "/s.json"], "taken"),
    "score missing cases file": lambda p: (
        [
            "score",
            "--cases",
            p.out("nope.jsonl"),
            "--responses",
            str(p.run / "responses.jsonl"),
            "--out",
            p.out("s.json"),
        ],
        "nope.jsonl",
    ),
    "score without --out": lambda p: (
        ["score", "--cases", p.cases, "--responses", str(p.run / "responses.jsonl")],
        "--out is required",
    ),
    # compare
    "compare missing run": lambda p: (["compare", str(p.run), p.out("nope")], "nope: not a run folder"),
    "compare unscored run": lambda p: (
        ["compare", str(p.run), p.run_copy(lambda d: (d / "scores.json").unlink())],
        "scores.json: no scores",
    ),
    "compare --resamples 0": lambda p: (["compare", str(p.run), str(p.other_run), "--resamples", "0"], "'--resamples'"),
    "compare scores Latin-1": lambda p: (
        ["compare", str(p.run), p.run_copy(lambda d: (d / "scores.json").write_bytes(b"\xff"))],
        "scores.json: not UTF-8",
    ),
    "compare scores without a metric": lambda p: (
        [
            "compare",
            str(p.run),
            p.run_copy(
                lambda d: (d / "scores.json").write_text(
                    json.dumps(json.loads((d / "scores.json").read_text()) | {"mean": {}})
                )
            ),
        ],
        "lacks the metric",
    ),
    "compare --out under a file": lambda p: (
        ["compare", str(p.run), str(p.other_run), "--out", p.taken() + "/c.json"],
        "taken",
    ),
    "compare unknown metric": lambda p: (["compare", str(p.run), str(p.other_run), "--metric", "nosuch"], "'nosuch'"),
    # overdiagnosis
    "overdiagnosis missing run": lambda p: (["overdiagnosis", p.out("nope")], "nope: no such run folder"),
    "overdiagnosis --out is a file": lambda p: (["overdiagnosis", str(p.run), "--out", p.taken()], "cannot write here"),
    "overdiagnosis --sample without a judge": lambda p: (
        ["overdiagnosis", str(p.run), "--sample", "5", "--out", p.out()],
        "--judge",
    ),
    "overdiagnosis missing round": lambda p: (
        ["overdiagnosis", p.responses(_drop_round), "--out", p.out()],
        "round 1 has no answers",
    ),
    "overdiagnosis unknown judge": lambda p: (
        ["overdiagnosis", str(p.run), "--judge", "nosuch:m", "--out", p.out()],
        "unknown provider 'nosuch'",
    ),
    # report
    "report missing run": lambda p: (["report", p.out("nope"), "--out", p.out()], "nope: not a run folder"),
    "report --out is a file": lambda p: (["report", str(p.run), "--out", p.taken()], "cannot write here"),
    "report unscored run": lambda p: (
        ["report", p.run_copy(lambda d: (d / "scores.json").unlink()), "--out", p.out()],
        "scores.json: no scores",
    ),
    "report bad --group": lambda p: (["report", str(p.run), "--group", "oops", "--out", p.out()], "--group 'oops'"),
    # train
    "train missing recipe": lambda p: (["train", "sft", "--config", p.out("nope.yaml")], "nope.yaml"),
    "train recipe Latin-1": lambda p: (["train", "sft", "--config", p.latin1()], "not UTF-8"),
    "train recipe unknown key": lambda p: (
        ["train", "sft", "--config", p.file("r.yaml", b"model: x\ncases: y\nnot_a_key: 1\n")],
        "not_a_key",
    ),
    "train recipe not YAML": lambda p: (["train", "sft", "--config", p.file("r.yaml", b"model: [x\n")], "r.yaml"),
    "train without --config": lambda p: (["train", "sft"], "Missing option '--config'"),
}


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".medldr.lock"
    }


@pytest.mark.parametrize("probe", PROBES)
def test_a_bad_input_is_one_line(
    probe: str, demo_build: tuple[Path, BuildManifest], scored_runs: list[Path], tmp_path: Path
) -> None:
    place = Place(str(demo_build[0] / "inference.jsonl"), scored_runs[0], scored_runs[1], tmp_path)
    args, expected = PROBES[probe](place)
    before = [_digest(folder) for folder in (demo_build[0], *scored_runs)]
    result = cli_in_process(*args, *([] if args[0] in ("compare", "train") else ["-q"]))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
    assert expected in lines[0], (expected, lines[0])
    assert [_digest(folder) for folder in (demo_build[0], *scored_runs)] == before
    assert not (tmp_path / "out").is_dir() or _digest(tmp_path / "out") == {}  # nothing written for it
