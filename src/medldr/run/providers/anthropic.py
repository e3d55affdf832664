"""Anthropic's Messages API through the official SDK: the public API, and Claude on Bedrock or Vertex (zero-retention
enterprise routes) through the SDK's own client classes. Extended thinking is captured apart from the answer."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.prices import BATCH_DISCOUNT
from medldr.run.providers.base import (
    BatchResult,
    BatchState,
    Completion,
    LoopClient,
    Message,
    finish_reason,
    is_loopback,
)
from medldr.run.providers.openai_wire import SDKRetryRules

Route = Literal["api", "bedrock", "vertex"]


class AnthropicMessages(SDKRetryRules, LoopClient):
    """Claude via ``anthropic.AsyncAnthropic`` / ``AsyncAnthropicBedrock`` / ``AsyncAnthropicVertex``."""

    def __init__(
        self, model: str, *, route: Route = "api", base_url: str | None = None, timeout: float = 600.0
    ) -> None:
        try:
            import anthropic
        except ImportError:
            raise MedldrError('the Anthropic SDK is not installed: pip install "medldr[anthropic]"') from None
        self.model, self.name = model, {"api": "anthropic", "bedrock": "bedrock", "vertex": "vertex"}[route]
        self.batch_discount = BATCH_DISCOUNT if route == "api" else None
        self.zero_retention = route in ("bedrock", "vertex") or is_loopback(base_url)
        self.status_error = (anthropic.APIStatusError,)
        self.fatal_errors: tuple[type[BaseException], ...] = (
            anthropic.AuthenticationError,
            anthropic.PermissionDeniedError,
            anthropic.BadRequestError,
            anthropic.NotFoundError,
        )
        # one request per attempt: the runner owns retries
        options: dict[str, Any] = {"timeout": timeout, "max_retries": 0, "base_url": base_url}
        if route == "bedrock":
            # AWS credentials and region from the usual AWS environment, or a Bedrock API key in
            # AWS_BEARER_TOKEN_BEDROCK (read by the SDK); --base-url for a VPC endpoint
            self._make = lambda: anthropic.AsyncAnthropicBedrock(aws_region=os.environ.get("AWS_REGION"), **options)
        elif route == "vertex":
            project, region = os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID"), os.environ.get("CLOUD_ML_REGION")
            if not project or not region:
                raise MedldrError("vertex: set ANTHROPIC_VERTEX_PROJECT_ID and CLOUD_ML_REGION")
            # Google's default credentials, or a ready OAuth access token (gcloud auth print-access-token)
            token = os.environ.get("ANTHROPIC_VERTEX_ACCESS_TOKEN")
            self._make = lambda: anthropic.AsyncAnthropicVertex(
                project_id=project, region=region, access_token=token, **options
            )
        else:
            key = os.environ.get("ANTHROPIC_API_KEY")
            if not key and base_url is None:
                raise MedldrError("anthropic: set the API key in the environment variable ANTHROPIC_API_KEY")
            self._make = lambda: anthropic.AsyncAnthropic(api_key=key or "not-needed", **options)
        self._make()  # a bad setting fails here, before any case is sent

    def _make_client(self) -> Any:
        return self._make()

    def _request(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [m for m in messages if m["role"] != "system"],
            "max_tokens": params.max_tokens or 4096,
        }
        if system:
            request["system"] = system
        if params.thinking_budget:  # extended thinking: the answer budget must exceed the thinking budget
            request["thinking"] = {"type": "enabled", "budget_tokens": params.thinking_budget}
            request["max_tokens"] = max(request["max_tokens"], params.thinking_budget + 2048)
        else:  # sampling settings are fixed while thinking
            if params.temperature is not None:
                request["temperature"] = params.temperature
            if params.top_p is not None:
                request["top_p"] = params.top_p
        return request

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        return _completion(await self.client.messages.create(**self._request(messages, params)))

    # Message Batches (the public API only: Bedrock and Vertex batch through their own storage services)

    def batch_line(self, custom_id: str, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": self._request(messages, params)}

    async def batch_submit(self, input_file: Any, marker: str) -> str:
        with open(input_file, encoding="utf-8") as handle:
            requests = [json.loads(line) for line in handle if line.strip()]
        return str((await self.client.messages.batches.create(requests=requests)).id)

    async def batch_find(self, marker: str, since: float, count: int) -> str | None:
        """Message Batches carry no metadata: the one batch of ``count`` requests created since ``since``, if it is
        the only one (else None: the run says it cannot tell)."""
        found = []
        async for batch in self.client.messages.batches.list(limit=100):
            created = batch.created_at.timestamp()
            if created < since - 60:
                break
            counts = batch.request_counts
            total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
            if created >= since - 60 and total == count:
                found.append(str(batch.id))
        return found[0] if len(found) == 1 else None

    async def batch_state(self, batch_id: str) -> BatchState:
        batch = await self.client.messages.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = counts.succeeded + counts.errored + counts.canceled + counts.expired
        return BatchState(batch.processing_status, batch.processing_status == "ended", done, done + counts.processing)

    async def batch_results(self, batch_id: str) -> list[BatchResult]:
        results: list[BatchResult] = []
        async for row in await self.client.messages.batches.results(batch_id):
            if row.result.type == "succeeded":
                results.append((row.custom_id, _completion(row.result.message)))
            elif row.result.type == "errored":
                error = row.result.error.error
                results.append((row.custom_id, f"batch request errored: {error.type}: {error.message}"[:500]))
            else:
                results.append((row.custom_id, f"batch request {row.result.type}"))
        return results


def _completion(response: Any) -> Completion:
    text = "".join(block.text for block in response.content if block.type == "text")
    thinking = "\n".join(block.thinking for block in response.content if block.type == "thinking")
    usage = {"prompt_tokens": response.usage.input_tokens, "completion_tokens": response.usage.output_tokens}
    return Completion(text, thinking or None, finish_reason(response.stop_reason), usage, response.model)
