"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions (and Anthropic messages): a remote API's double.

It answers in the LDR schema, and fails a set share of calls with 429 / 500 / a stalled response / a malformed body,
so the runner's retries are exercised over a real socket.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeOpenAI:
    def __init__(
        self,
        *,
        failure_rate: float = 0.0,
        delay: float = 0.0,
        seed: int = 0,
        answer: str | None = None,
        stall: float = 3.0,
        reasoning_content: str | None = None,
        answer_for: Callable[[dict[str, Any]], str] | None = None,
        scripted: list[tuple[int, dict[str, str]]] | None = None,
    ) -> None:
        """``answer_for(body)``: the answer text for a request (a model of chosen skill); else a fixed answer.
        ``scripted``: the first requests are answered with these (status, headers) errors, in order."""
        self.failure_rate, self.delay, self.stall = failure_rate, delay, stall
        self.answer_for = answer_for
        self.reasoning_content = reasoning_content
        self.answer = answer
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.requests = 0
        self.failures: dict[str, int] = {"429": 0, "500": 0, "stall": 0, "malformed": 0}
        self.authorization: set[str] = set()
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.arrivals: list[float] = []
        self.scripted = list(scripted or [])
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests += 1
                    server.authorization.add(self.headers.get("Authorization", ""))
                    server.bodies.append(body)
                    server.paths.append(self.path)
                    server.arrivals.append(time.monotonic())
                    script = server.scripted.pop(0) if server.scripted else None
                    roll = server.rng.random()
                    kind = ("429", "500", "stall", "malformed")[server.rng.randrange(4)]
                if script is not None:
                    status, headers = script
                    self._send(status, json.dumps({"error": {"message": f"scripted {status}"}}).encode(), headers)
                    return
                fail = roll < server.failure_rate
                if fail:
                    with server.lock:
                        server.failures[kind] += 1
                    if kind == "stall":
                        time.sleep(server.stall)
                    if kind in ("429", "500"):
                        self._send(
                            int(kind),
                            json.dumps({"error": {"message": "try again"}}).encode(),
                            extra={"Retry-After": "0"},
                        )
                        return
                    if kind == "malformed":
                        self._send(200, b'{"id": "x", "choices": [ {"mess')
                        return
                time.sleep(server.delay)
                anthropic = self.path.endswith(("/messages", "/invoke", ":rawPredict"))  # API, Bedrock, Vertex
                reply = server.message(body) if anthropic else server.completion(body)
                self._send(200, json.dumps(reply).encode())

            def _send(self, status: int, payload: bytes, extra: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for key, value in (extra or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = '{"top10": ["5849", "486", "4019"], "predictions": ["5849"]}'
        text = self.answer or f"<think>creatinine is high</think>\n```json\n{answer}\n```"
        if self.answer_for is not None:
            text = self.answer_for(body)
        message = {"role": "assistant", "content": text}
        if self.reasoning_content is not None:  # DeepSeek-style separate reasoning
            message["reasoning_content"] = self.reasoning_content
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        """Anthropic's Messages API shape, with a thinking block when thinking was asked for."""
        content = []
        if body.get("thinking"):
            content.append({"type": "thinking", "thinking": "troponin is flat", "signature": "sig"})
        content.append({"type": "text", "text": self.answer or '{"top10": ["42731"], "predictions": ["42731"]}'})
        return {
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "m"),
            "content": content,
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 90, "output_tokens": 15},
        }

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
