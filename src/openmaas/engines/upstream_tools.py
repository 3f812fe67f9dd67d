"""HTTP clients for upstream tool servers: a Jina/Cohere-style `/v1/rerank` (vLLM,
LiteLLM, TEI, Infinity) and an OpenAI-style `/v1/audio/transcriptions`.

Their failures become `UpstreamFailure` (1234) / `UpstreamTimeout`, as for chat upstreams.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import httpx

from openmaas.errors import UpstreamFailure, UpstreamTimeout


class UpstreamToolClient:
    def __init__(
        self,
        base_url: str,
        model: str | None,
        api_key_env: str | None,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = os.environ.get(api_key_env, "") if api_key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, headers=headers, transport=transport
        )

    async def _request(self, method: str, path: str, name: str, **kwargs) -> dict:
        try:
            response = await self._client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(name, str(exc) or "timeout") from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamFailure(name, f"{type(exc).__name__}: {exc}") from exc

    async def _post(self, path: str, name: str, **kwargs) -> dict:
        return await self._request("POST", path, name, **kwargs)

    async def post_json(self, path: str, name: str, body: dict) -> dict:
        return await self._post(path, name, json=body)

    async def get_json(self, path: str, name: str) -> dict:
        return await self._request("GET", path, name)

    async def rerank(self, name: str, query: str, documents: Sequence[str]) -> list[float]:
        """Scores in the documents' order (the upstream may answer in its own order)."""
        body = {
            "model": self.model or name,
            "query": query,
            "documents": list(documents),
            "top_n": len(documents),
            "return_documents": False,
        }
        answer = await self._post("/v1/rerank", name, json=body)
        scores = [0.0] * len(documents)
        try:
            for item in answer["results"]:
                scores[int(item["index"])] = float(item["relevance_score"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise UpstreamFailure(name, f"malformed rerank answer: {exc}") from exc
        return scores

    async def moderate(self, name: str, texts: Sequence[str]) -> list[tuple[bool, list[str]]]:
        """(flagged, the categories flagged) per text, from an OpenAI-style /v1/moderations."""
        answer = await self._post(
            "/v1/moderations", name, json={"model": self.model or name, "input": list(texts)}
        )
        try:
            results = answer["results"]
            verdicts = [
                (bool(r["flagged"]), sorted(k for k, v in (r.get("categories") or {}).items() if v))
                for r in results
            ]
        except (KeyError, TypeError) as exc:
            raise UpstreamFailure(name, f"malformed moderation answer: {exc}") from exc
        if len(verdicts) != len(texts):
            raise UpstreamFailure(name, f"{len(verdicts)} moderation results for {len(texts)} inputs")
        return verdicts

    async def transcribe(self, name: str, filename: str, audio: bytes, prompt: str | None) -> str:
        data = {"model": self.model or name} | ({"prompt": prompt} if prompt else {})
        answer = await self._post(
            "/v1/audio/transcriptions", name, data=data, files={"file": (filename, audio)}
        )
        text = answer.get("text")
        if not isinstance(text, str):
            raise UpstreamFailure(name, "transcription answer without text")
        return text

    async def close(self) -> None:
        await self._client.aclose()
