"""Where an upstream tool server is (shared by the tool settings and moderation settings)."""

from __future__ import annotations

from pydantic import BaseModel


class UpstreamToolConfig(BaseModel):
    """An upstream server for one tool (a Jina/Cohere-style `/v1/rerank`, an OpenAI-style
    `/v1/audio/transcriptions` or `/v1/moderations`)."""

    url: str  # base URL, e.g. http://gpu1:8000
    model: str | None = None  # the upstream's model name (default: the name the caller used)
    api_key_env: str | None = None  # environment variable holding its API key
    timeout_seconds: float = 60.0
