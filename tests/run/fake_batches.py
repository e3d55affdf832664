"""A real HTTP server on 127.0.0.1 speaking the providers' Batch APIs as their official SDKs call them: OpenAI's
and Azure OpenAI's files + batches (upload a JSONL file, create, retrieve, list, download the output file) and
Anthropic's Message Batches (create, retrieve, list, stream the results). A remote API's double: answers come from
``FakeOpenAI``'s chat-completion and message bodies. ``hold``: batches stay in progress until ``release()``."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.run.fake_openai import FakeOpenAI

INVALID = "I cannot say."


class FakeBatchAPI:
    def __init__(
        self, *, hold: bool = False, invalid_first: int = 0, answer_for: Callable[[dict], str] | None = None
    ) -> None:
        self.hold, self.invalid_left = hold, invalid_first
        self.bodies = FakeOpenAI(answer_for=answer_for)  # only its answer bodies: its own server never starts
        self.lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}  # OpenAI's
        self.message_batches: dict[str, dict[str, Any]] = {}  # Anthropic's
        self.inputs: dict[str, list[dict[str, Any]]] = {}  # batch id -> its requests
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.path = _route(self.path)
                with server.lock:
                    if self.path == "/v1/files":
                        self._json(server.upload(self.headers["Content-Type"], data))
                    elif self.path == "/v1/batches":
                        self._json(server.create(json.loads(data)))
                    elif self.path == "/v1/messages/batches":
                        self._json(server.create_messages(json.loads(data)))
                    else:
                        self._json({"error": {"message": f"no route {self.path}"}}, 404)

            def do_GET(self) -> None:
                path = _route(self.path)
                with server.lock:
                    if path == "/v1/batches":
                        self._json(server.listing(list(server.batches.values()), "id"))
                    elif path == "/v1/messages/batches":
                        self._json(server.listing(list(server.message_batches.values()), "id"))
                    elif m := re.fullmatch(r"/v1/batches/([\w-]+)", path):
                        self._json(server.retrieve(m[1]))
                    elif m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
                        self._raw(server.files[m[1]])
                    elif m := re.fullmatch(r"/v1/messages/batches/([\w-]+)", path):
                        self._json(server.retrieve_messages(m[1]))
                    elif m := re.fullmatch(r"/v1/messages/batches/([\w-]+)/results", path):
                        self._raw(server.files[f"results-{m[1]}"])
                    else:
                        self._json({"error": {"message": f"no route {path}"}}, 404)

            def _json(self, payload: Any, status: int = 200) -> None:
                self._raw(json.dumps(payload).encode(), status, "application/json")

            def _raw(self, payload: bytes, status: int = 200, kind: str = "application/octet-stream") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- what the server does ---

    def _text(self, body: dict[str, Any], reply: dict[str, Any], anthropic: bool) -> dict[str, Any]:
        if self.invalid_left > 0:  # the first answers do not parse: re-asked as a second batch
            self.invalid_left -= 1
            if anthropic:
                reply["content"] = [{"type": "text", "text": INVALID}]
            else:
                reply["choices"][0]["message"]["content"] = INVALID
        return reply

    def upload(self, content_type: str, data: bytes) -> dict[str, Any]:
        boundary = content_type.split("boundary=")[1].encode()
        part = next(p for p in data.split(b"--" + boundary) if b'name="file"' in p)
        content = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": "input.jsonl", "purpose": "batch", "status": "processed"}  # fmt: skip

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"batch_{len(self.batches) + 1}"
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].splitlines() if line.strip()]
        self.inputs[batch_id] = lines
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"], "status": "in_progress", "created_at": int(time.time()),
            "metadata": body.get("metadata"), "output_file_id": None, "error_file_id": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }  # fmt: skip
        return self.batches[batch_id]

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch = self.batches[batch_id]
        if batch["status"] == "in_progress" and not self.hold:
            out = []
            for line in self.inputs[batch_id]:
                reply = self._text(line["body"], self.bodies.completion(line["body"]), anthropic=False)
                out.append({"id": f"req-{line['custom_id']}", "custom_id": line["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": "r", "body": reply}})  # fmt: skip
            self.files[f"file-out-{batch_id}"] = "\n".join(json.dumps(o) for o in out).encode() + b"\n"
            batch |= {"status": "completed", "output_file_id": f"file-out-{batch_id}"}
            batch["request_counts"]["completed"] = len(out)
        return batch

    def create_messages(self, body: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"msgbatch_{len(self.message_batches) + 1}"
        self.inputs[batch_id] = body["requests"]
        counts = {"processing": len(body["requests"]), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        self.message_batches[batch_id] = {
            "id": batch_id, "type": "message_batch", "processing_status": "in_progress", "request_counts": counts,
            "created_at": _iso(time.time()), "expires_at": _iso(time.time() + 86400), "ended_at": None,
            "archived_at": None, "cancel_initiated_at": None, "results_url": None,
        }  # fmt: skip
        return self.message_batches[batch_id]

    def retrieve_messages(self, batch_id: str) -> dict[str, Any]:
        batch = self.message_batches[batch_id]
        if batch["processing_status"] == "in_progress" and not self.hold:
            out = []
            for request in self.inputs[batch_id]:
                reply = self._text(request["params"], self.bodies.message(request["params"]), anthropic=True)
                out.append({"custom_id": request["custom_id"], "result": {"type": "succeeded", "message": reply}})
            self.files[f"results-{batch_id}"] = "\n".join(json.dumps(o) for o in out).encode() + b"\n"
            batch |= {"processing_status": "ended", "ended_at": _iso(time.time()),
                      "results_url": f"{self.root}/v1/messages/batches/{batch_id}/results"}  # fmt: skip
            batch["request_counts"] |= {"processing": 0, "succeeded": len(out)}
        return batch

    @staticmethod
    def listing(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
        data = items[::-1]  # newest first, as both APIs list
        first, last = (data[0][key], data[-1][key]) if data else (None, None)
        return {"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last}

    def release(self) -> None:
        with self.lock:
            self.hold = False

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeBatchAPI:
        self.thread.start()
        return self

    def __exit__(self, *args: Any) -> None:
        self.bodies.kill()
        self.httpd.shutdown()
        self.httpd.server_close()


def _route(path: str) -> str:
    """Azure OpenAI's paths (``/openai/files?api-version=...``) as OpenAI's (``/v1/files``)."""
    path = path.split("?")[0]
    return "/v1" + path.removeprefix("/openai") if path.startswith("/openai/") else path


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
