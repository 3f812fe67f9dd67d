"""POST /moderations: text inputs checked by the rule-based moderator, one verdict each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.errors import InvalidField, ModelNotFound
from openmaas.moderation.rules import RISK_PASS, RISK_REJECT, RuleModerator, Verdict
from openmaas.moderation.settings import ModerationSettings
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import MODERATION


@dataclass(frozen=True)
class ModerationResult:
    request_id: str
    model: str
    verdicts: list[tuple[str, Verdict]]  # (content_type, verdict) per input

    @property
    def flagged(self) -> bool:
        return any(v.risk_level != RISK_PASS for _, v in self.verdicts)


def texts_of(value: Any, settings: ModerationSettings) -> list[str]:
    """`input` as the SDKs send it: a string, a list of strings, or {type: text, text}
    objects (alone or in a list). Images, audio and video need an upstream model."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise InvalidField("input", "must not be empty")
    if len(items) > settings.max_inputs:
        raise InvalidField("input", f"at most {settings.max_inputs} items")
    texts = [_text(item, i) for i, item in enumerate(items)]
    for i, text in enumerate(texts):
        if len(text) > settings.max_input_chars:
            raise InvalidField(f"input[{i}]", f"at most {settings.max_input_chars} characters")
    return texts


def _text(item: Any, index: int) -> str:
    if isinstance(item, str):
        if not item.strip():
            raise InvalidField(f"input[{index}]", "must not be empty")
        return item
    if isinstance(item, dict):
        kind = item.get("type", "text")
        if kind != "text":
            raise InvalidField(
                f"input[{index}].type",
                f"{kind!r} needs an upstream moderation model; the local moderator reads text",
            )
        text = item.get("text")
        if isinstance(text, str) and text.strip():
            return text
    raise InvalidField(f"input[{index}]", 'a non-empty string or {"type": "text", "text": ...}')


class ModerationService:
    def __init__(
        self, settings: ModerationSettings, meter: ToolMeter, upstream: UpstreamToolClient | None = None
    ) -> None:
        self.settings = settings
        self.moderator = RuleModerator(settings)
        self._meter = meter
        self._upstream = upstream

    async def moderate(
        self, principal: Principal, model: str, value: Any, request_id: str | None = None
    ) -> ModerationResult:
        if model not in self.settings.names:
            raise ModelNotFound(model)
        texts = texts_of(value, self.settings)
        async with self._meter.metered(principal, MODERATION, 1, "moderations", request_id) as meter:
            verdicts = [("text", v) for v in await self._judge(model, texts)]
        return ModerationResult(meter.request_id, model, verdicts)

    async def _judge(self, model: str, texts: list[str]) -> list[Verdict]:
        if self._upstream is None:
            return [self.moderator.check(text) for text in texts]
        judged = await self._upstream.moderate(model, texts)
        return [
            Verdict(RISK_REJECT if flagged else RISK_PASS, tuple(kinds) if flagged else (), ())
            for flagged, kinds in judged
        ]

    async def close(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()
