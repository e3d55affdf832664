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
        die_after: int | None = None,
        takes_n: bool = True,
    ) -> None:
        """``answer_for(body)``: the answer text for a request (a model of chosen skill); else a fixed answer.
        ``scripted``: the first requests are answered with these (status, headers) errors, in order.
        ``die_after``: the server stops after that many chat requests (that request's connection is dropped
        unanswered; later connections are refused). ``takes_n``: answer ``n`` choices (else one, as a server that
        ignores ``n``)."""
        self.die_after, self.takes_n = die_after, takes_n
        self.health_checks = 0
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

            def do_GET(self) -> None:
                if not self.path.endswith("/models"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                with server.lock:
                    server.health_checks += 1
                self._send(200, json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    dies = server.die_after is not None and server.requests >= server.die_after
                if dies:  # the server process is gone: this connection drops, and nothing listens any more
                    threading.Thread(target=server.kill, daemon=True).start()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
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
        n = int(body.get("n") or 1) if self.takes_n else 1
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": i, "finish_reason": "stop", "message": message} for i in range(n)],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20 * n, "total_tokens": 100 + 20 * n},
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

    def kill(self) -> None:
        """Stop serving and close the listening socket (a server that died: connections are refused)."""
        with self.lock:
            if self.dead:
                return
            self.dead = True
        if self.thread.is_alive():  # shutdown() waits for a serving loop that never started
            self.httpd.shutdown()
        self.httpd.server_close()

    dead = False

    def __exit__(self, *args: Any) -> None:
        self.kill()
