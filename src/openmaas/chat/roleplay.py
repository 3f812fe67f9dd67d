"""Role-play (the CharGLM-3 analogue): `meta` becomes a system prompt in the model's template."""

from __future__ import annotations

from typing import Any

from openmaas.engines.base import ChatMessage
from openmaas.errors import InvalidField, MissingField

META_FIELDS = ("user_info", "bot_info", "bot_name", "user_name")


def roleplay_system_prompt(meta: dict[str, Any]) -> str:
    for field in META_FIELDS:
        if field not in meta or meta[field] is None:
            raise MissingField(f"meta.{field}")
        if not isinstance(meta[field], str):
            raise InvalidField(f"meta.{field}", "must be a string")
    bot, user = meta["bot_name"], meta["user_name"]
    return (
        f"你现在扮演「{bot}」，与「{user}」对话。\n"
        f"关于{bot}：{meta['bot_info']}\n"
        f"关于{user}：{meta['user_info']}\n"
        f"请始终以{bot}的身份、性格和口吻回复{user}，保持角色，不要说自己是 AI 或语言模型，"
        f"也不要替{user}说话。"
    )


def with_roleplay(messages: list[ChatMessage], meta: dict[str, Any] | None) -> list[ChatMessage]:
    if not meta:
        return messages
    prompt = roleplay_system_prompt(meta)
    if messages and messages[0].role == "system" and messages[0].content:
        prompt = f"{prompt}\n\n{messages[0].content}"
        messages = messages[1:]
    return [ChatMessage(role="system", content=prompt), *messages]
