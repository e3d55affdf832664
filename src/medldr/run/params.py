"""Generation parameters: one pydantic model, all optional, typos refused, recipes merged with CLI flags."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class GenerationParams(BaseModel):
    """What a provider is asked to generate with; ``None`` means the provider's default."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    thinking_budget: int | None = Field(None, ge=1024, description="Anthropic extended thinking budget (tokens).")
    json_mode: bool | None = Field(None, description="Ask for a JSON object where the provider supports it.")
    json_schema: dict[str, Any] | None = Field(
        None, description="Constrain the answer to this JSON schema (set by the runner for grammar-capable models)."
    )

    def merge(self, other: GenerationParams) -> GenerationParams:
        """A copy with every field ``other`` sets overriding this one (CLI flags over a recipe).

        >>> GenerationParams(temperature=0.7, max_tokens=100).merge(GenerationParams(temperature=0.0)).temperature
        0.0
        """
        return self.model_copy(update=other.model_dump(exclude_none=True))
