"""Anthropic's Messages API through the official SDK: the public API, and Claude on Bedrock or Vertex (zero-retention
enterprise routes) through the SDK's own client classes. Extended thinking is captured apart from the answer."""

from __future__ import annotations

import os
from typing import Any, Literal

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, LoopClient, Message, finish_reason, is_loopback
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

    async def complete(self, messages: list[Message], params: GenerationParams) -> Completion:
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
        response = await self.client.messages.create(**request)
        text = "".join(block.text for block in response.content if block.type == "text")
        thinking = "\n".join(block.thinking for block in response.content if block.type == "thinking")
        usage = {"prompt_tokens": response.usage.input_tokens, "completion_tokens": response.usage.output_tokens}
        return Completion(text, thinking or None, finish_reason(response.stop_reason), usage, response.model)
