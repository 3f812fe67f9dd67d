"""An embedding engine served by OpenAI-compatible servers: `POST {replica}/v1/embeddings`.

It implements embeddings/base.py's protocol (driven from the batcher's one thread, hence a
blocking client) over the same replica pool as the chat engine: least outstanding requests,
breakers, retry on another replica. There is no health-check task: breakers half-open on
their own and a real request is the probe. Token counts are the tokenizer-free estimate of
upstream.py (the service needs them before the call, for limits and the hold).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from openmaas.embeddings.base import InputKind, l2_normalise
from openmaas.engines.upstream import estimate_tokens
from openmaas.engines.upstream_http import ReplicaFailed, UpstreamTarget, no_replica_error, post_json_sync

EMBEDDINGS_PATH = "/v1/embeddings"


class UpstreamEmbeddingEngine:
    def __init__(
        self, target: UpstreamTarget, dim: int, max_tokens: int, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.target = target
        self.dim = dim
        self.max_tokens = max_tokens
        self.pool = target.pool()
        self._client = target.sync_client(transport)

    def load(self) -> None:
        return None

    def close(self) -> None:
        self._client.close()

    def count_tokens(self, text: str, kind: InputKind) -> int:
        return estimate_tokens(text) + 2

    def embed(self, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        body = {"model": self.target.model, "input": list(texts), "encoding_format": "float"}
        data = post_json_sync(self._client, self.target, self.pool, EMBEDDINGS_PATH, body)
        try:
            rows = sorted(data["data"], key=lambda item: item.get("index", 0))
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise no_replica_error(
                self.target,
                self.pool,
                ReplicaFailed("failure", f"unexpected embeddings answer ({type(exc).__name__})"),
            ) from exc
        if vectors.shape != (len(texts), self.dim):
            raise no_replica_error(
                self.target,
                self.pool,
                ReplicaFailed(
                    "failure",
                    f"expected {len(texts)} vectors of {self.dim} dimensions, got "
                    f"{vectors.shape}; set the model's `dimensions` to the upstream's",
                ),
            )
        return l2_normalise(vectors)
