"""One 0–1 relevance scale for every retrieval, whatever produced the ranking score.

The wire `score` keeps its method's own scale (RRF sums ~0.03, weighted fusion 0–1, cosine,
BM25, cross-encoder logits −10…+6 on English questions); traces also carry `relevance` on
one scale so a person can compare retrievals and see what fell below the threshold:

- cross-encoder logit → sigmoid (0.5 at the model's own boundary, logit 0);
- RRF → the share of the best possible sum (first in every list = 1.0; first in one of two = 0.5);
- weighted fusion (dbsf/relative) and cosine → clipped to [0, 1];
- BM25 alone → s / (s + BM25_HALF) (no upper bound to divide by: saturates, 0.5 at BM25_HALF).
"""

from __future__ import annotations

import math
from typing import Literal

Scale = Literal["logit", "rrf", "unit", "bm25"]
BM25_HALF = 5.0


def relevance(score: float, scale: Scale, rrf_best: float = 1.0) -> float:
    if scale == "logit":
        value = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, score))))
    elif scale == "rrf":
        value = score / rrf_best if rrf_best > 0 else 0.0
    elif scale == "bm25":
        value = score / (score + BM25_HALF) if score > 0 else 0.0
    else:
        value = score
    return round(min(1.0, max(0.0, value)), 4)
