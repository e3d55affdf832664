"""The bundled small model, in-process through llama.cpp, on a real demo case."""

from __future__ import annotations

import json
import time
from pathlib import Path

from medldr.answer import extract
from medldr.errors import MedldrError
from medldr.run import get_provider
from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.gates import needs_llama


@needs_llama
def test_bundled_model_answers_a_real_case_in_the_schema(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    cases = demo_build[0] / "inference.jsonl"
    start = time.monotonic()
    result = run_cli(
        "run",
        str(cases),
        "--model",
        "local",
        "--task",
        "lab_num+",
        "--rounds",
        "2",
        "--limit",
        "1",
        "--seed",
        "7",
        "--concurrency",
        "8",
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()][1:]
    assert len(lines) == 2 and not any(line.get("error") for line in lines)
    # one request in flight whatever --concurrency says: each latency is the model's own, none includes a queue
    assert sum(line["latency_s"] for line in lines) < elapsed
    space = set(demo_build[1].label_space.codes)
    for line in lines:
        answer = extract(line["text"], finish_reason=line["finish_reason"])
        assert answer.valid, line["text"]  # grammar-constrained: even a 135M model answers in the schema
        assert set(answer.predictions) <= space and set(answer.top10) <= space
        assert line["usage"]["prompt_tokens"] > 1000 and line["usage"]["completion_tokens"] > 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["data_use"]["decision"] == "allowed" and manifest["versions"]["llama-cpp-python"] == "0.3.36"


def test_a_missing_gguf_is_one_clear_line(tmp_path: Path) -> None:
    try:
        get_provider(f"gguf:{tmp_path / 'missing.gguf'}")
    except MedldrError as err:
        assert "missing.gguf" in str(err)
    else:  # pragma: no cover
        raise AssertionError("a missing GGUF must fail")


@needs_llama
def test_a_local_model_is_named_by_its_weights(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """Issue 19: summary, manifest and report said "local"; the GGUF file appeared only in responses.jsonl. Now the
    manifest names the file, its size and SHA-256 (the report and the run's summary line show it), and a resumed run
    whose weights changed is refused."""
    import hashlib
    import shutil

    from medldr.local_models import bundled_model_path

    weights = tmp_path / "model.gguf"
    shutil.copyfile(bundled_model_path(), weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    out = tmp_path / "run"
    args = ["run", str(demo_build[0] / "inference.jsonl"), "--model", f"gguf:{weights}", "--limit", "1"]
    args += ["--rounds", "1", "--max-tokens", "8", "--out", str(out)]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert f"gguf:model.gguf (sha256 {digest[:12]})" in " ".join(result.stdout.split())
    model = json.loads((out / "manifest.json").read_text())["model"]
    assert model == {
        "provider": "gguf",
        "id": "model.gguf",
        "file": "model.gguf",
        "bytes": weights.stat().st_size,
        "sha256": digest,
        "served": ["model.gguf"],
    }
    with weights.open("ab") as fh:  # other weights under the same name
        fh.write(b"\0" * 64)
    again = run_cli(*args, "--rounds", "1")
    assert again.returncode == 2 and "came from other weights" in again.stderr, again.stderr


@needs_llama
def test_threads_of_an_in_process_model() -> None:
    """Issue 19: no thread setting for in-process models (oversubscribed llama.cpp threads collapse); --threads sets
    it, and the default is the cores this process may use (its affinity, not the machine's count)."""
    from medldr.run.providers.base import usable_cores

    assert get_provider("local", threads=1)._llama.n_threads == 1
    assert get_provider("local")._llama.n_threads == usable_cores()


def test_a_model_folder_is_identified_by_its_own_files(tmp_path: Path) -> None:
    """The digest of an hf: model folder: the same weights anywhere give the same digest; checkpoints saved in a
    subfolder or medldr's lock file do not change it; a changed weight does."""
    import shutil

    from medldr._files import weights_identity

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 64)
    first = weights_identity(model)
    assert first["files"] == 2 and first["bytes"] == 66 and first["folder"] == "model"
    shutil.copytree(model, tmp_path / "elsewhere" / "model")
    assert weights_identity(tmp_path / "elsewhere" / "model")["sha256"] == first["sha256"]
    (model / "checkpoint-10").mkdir()
    (model / "checkpoint-10" / "optimizer.pt").write_bytes(b"1")
    (model / ".medldr.lock").write_text("pid 1")
    assert weights_identity(model) == first
    (model / "model.safetensors").write_bytes(b"\1" * 64)
    assert weights_identity(model)["sha256"] != first["sha256"]
