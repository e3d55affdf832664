"""Hosted chat completions APIs (OpenAI, Azure OpenAI, DeepSeek, xAI, Gemini's OpenAI endpoint, and any server
named with ``openai:MODEL --base-url URL``) through the official ``openai`` SDK (its auth, errors and types).
Self-hosted servers go through ``openai_http`` (why: its docstring). One ``complete`` is one request: the SDK's own
retries are off, the runner owns them (``retryable``, ``retry_after``)."""

from __future__ import annotations

import os
from typing import Any

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.prices import BATCH_DISCOUNT
from medldr.run.providers.base import BatchResult, BatchState, Completion, LoopClient, Message
from medldr.run.providers.openai_wire import SDKRetryRules, chat_request, completion_from_body

BATCH_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def _http_client(openai: Any, timeout: float) -> Any:
    """The SDK's own aiohttp transport (``openai[aiohttp]``), else its default httpx client. bench/harness.py on 2
    cores: 424-490 requests/s with aiohttp against 226-313 with httpx at concurrency 64 (about the same at 16)."""
    try:
        return openai.DefaultAioHttpClient(timeout=timeout)
    except (RuntimeError, AttributeError):  # the aiohttp extra is not installed, or an SDK without it
        return openai.DefaultAsyncHttpxClient(timeout=timeout)


class OpenAICompatible(SDKRetryRules, LoopClient):
    """Chat completions over the ``openai`` SDK; the answer read as ``openai_http.completion_from_body`` reads it."""

    def __init__(
        self,
        model: str,
        *,
        name: str = "openai",
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 600.0,
        zero_retention: bool = False,
        azure: bool = False,
    ) -> None:
        try:
            import openai
        except ImportError:  # pragma: no cover - the SDK is a core dependency
            raise MedldrError('the OpenAI SDK is missing: pip install "medldr"') from None
        self.name, self.model, self.zero_retention = name, model, zero_retention
        # a wrong key, an unknown model or a refused request will not get better by retrying: stop the run
        self.status_error = (openai.APIStatusError,)
        self.fatal_errors: tuple[type[BaseException], ...] = (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.BadRequestError,
            openai.NotFoundError,
            openai.UnprocessableEntityError,
        )
        key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not key and base_url is None:
            raise MedldrError(f"{name}: set the API key in the environment variable {api_key_env}")
        from openai.types.chat import ChatCompletion

        self._completion_type = ChatCompletion
        options: dict[str, Any] = {"api_key": key or "not-needed", "timeout": timeout, "max_retries": 0}
        if azure:
            endpoint = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
            if not endpoint:
                raise MedldrError("azure: set AZURE_OPENAI_ENDPOINT or pass --base-url")
            version = os.environ.get("OPENAI_API_VERSION", "2024-10-21")
            options |= {"azure_endpoint": endpoint, "api_version": version}
        else:
            options["base_url"] = base_url
        self._openai, self._azure, self._options, self._timeout = openai, azure, options, timeout
        # the files/batches endpoints are OpenAI's and Azure's own; other vendors' OpenAI-style APIs lack them
        self.batch_discount = BATCH_DISCOUNT if name in ("openai", "azure") else None

    def _make_client(self) -> Any:
        make = self._openai.AsyncAzureOpenAI if self._azure else self._openai.AsyncOpenAI
        return make(**self._options, http_client=_http_client(self._openai, self._timeout))

    @property
    def _tokens_key(self) -> str:
        # OpenAI's own APIs renamed the limit (reasoning models refuse the old name); other vendors take max_tokens
        return "max_completion_tokens" if self.name in ("openai", "azure") else "max_tokens"

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        request = chat_request(self.model, messages, params, tokens_key=self._tokens_key)
        # the SDK's own POST (its auth, errors and typed response) without re-walking the long message list
        # through its request TypedDict transform, which costs ~2 ms of CPU per request
        response = await self.client.post("/chat/completions", body=request, cast_to=self._completion_type)
        return completion_from_body(response.to_dict())

    # The Batch API: a JSONL file of chat requests uploaded, one batch over it, results as JSONL files.

    def batch_line(self, custom_id: str, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        url = "/chat/completions" if self._azure else "/v1/chat/completions"
        body = chat_request(self.model, messages, params, tokens_key=self._tokens_key)
        return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}

    async def batch_submit(self, input_file: Any, marker: str) -> str:
        with open(input_file, "rb") as handle:
            uploaded = await self.client.files.create(file=handle, purpose="batch")
        endpoint = "/chat/completions" if self._azure else "/v1/chat/completions"
        batch = await self.client.batches.create(
            input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", metadata={"medldr": marker}
        )
        return str(batch.id)

    async def batch_find(self, marker: str, since: float, count: int) -> str | None:
        async for batch in self.client.batches.list(limit=100):
            if (batch.metadata or {}).get("medldr") == marker:
                return str(batch.id)
            if batch.created_at < since - 60:  # newest first: older ones cannot be it
                return None
        return None

    async def batch_state(self, batch_id: str) -> BatchState:
        batch = await self.client.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = (counts.completed + counts.failed) if counts else 0
        return BatchState(batch.status, batch.status in BATCH_ENDED, done, counts.total if counts else 0)

    async def batch_results(self, batch_id: str) -> list[BatchResult]:
        batch = await self.client.batches.retrieve(batch_id)
        results: list[BatchResult] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self.client.files.content(file_id)
                results += [_batch_result(line) for line in content.text.splitlines() if line.strip()]
        if batch.status != "completed" and not results:  # failed validation, expired or cancelled before any answer
            why = "; ".join(e.message or "" for e in (batch.errors.data or [])) if batch.errors else ""
            return [("*", f"batch {batch_id} {batch.status}{': ' + why if why else ''}")]
        return results


def _batch_result(line: str) -> BatchResult:
    """One line of a batch's output or error file: the chat completion, or the error it holds."""
    import json

    row = json.loads(line)
    response, error = row.get("response") or {}, row.get("error")
    if error or response.get("status_code") != 200:
        detail = error or (response.get("body") or {}).get("error") or response
        message = detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail)
        return row["custom_id"], f"batch request failed (HTTP {response.get('status_code')}): {message}"[:500]
    try:
        return row["custom_id"], completion_from_body(response["body"])
    except ValueError as err:
        return row["custom_id"], str(err)
