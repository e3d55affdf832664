"""No secret reaches a file: a server that echoes the key in its error body, and credentials inside a URL."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from medldr.schema import BuildManifest
from tests.conftest import run_cli

KEY = "sk-medldr-test-0123456789abcdef"


class _Echo(BaseHTTPRequestHandler):
    """Refuses every request, echoing its Authorization header (as some proxies and servers do)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        sent = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"bad key, you sent Authorization: {sent}", "key": sent[7:]}})
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_echoed_key_and_url_credentials_never_reach_a_file(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path, monkeypatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    cases = str(demo_build[0] / "inference.jsonl")
    common = ["--model", "openai-compatible:m", "--task", "lab", "--rounds", "1", "--limit", "2", "--quiet"]
    try:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)  # sent as a bearer token, echoed back in the 401 body
        run_cli("run", cases, *common, "--base-url", f"http://127.0.0.1:{port}/v1", "--out", str(tmp_path / "key"))
        monkeypatch.delenv("OPENAI_API_KEY")  # credentials in the URL instead (sent as basic auth)
        url = f"http://someone:url-password-42@127.0.0.1:{port}/v1"
        run_cli("run", cases, *common, "--base-url", url, "--out", str(tmp_path / "url"))
    finally:
        server.shutdown()
    responses = (tmp_path / "key" / "responses.jsonl").read_text()
    assert "401" in responses and "[redacted]" in responses  # the error is recorded, its secret is not
    for path in [*(tmp_path / "key").iterdir(), *(tmp_path / "url").iterdir()]:
        text = path.read_text()
        assert KEY not in text and KEY[3:] not in text, path
        assert "url-password-42" not in text and "someone:" not in text, path
