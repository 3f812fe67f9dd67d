"""Score fusion: a flat list must not outvote a list with a clear winner."""

from __future__ import annotations

import numpy as np
import pytest

from openmaas.knowledge.index import Hit
from openmaas.knowledge.retrieval import min_max, rrf, score_fusion, three_sigma


def code_among_look_alikes() -> tuple[list[Hit], list[Hit]]:
    """ "Orbis printer E-117" on bench/retrieval_quality.py's corpus, 30 candidates each
    (chunk ids renumbered): dense ranks the fourteen look-alike error-code chunks (1-14)
    first and the answer (0) 15th; BM25 has the answer far ahead (it alone holds e117)."""
    dense = [
        0.8827,
        0.8806,
        0.8799,
        0.8767,
        0.8756,
        0.8753,
        0.8736,
        0.8731,
        0.8710,
        0.8703,
        0.8701,
        0.8671,
        0.8657,
        0.8592,
        0.8242,
        0.8209,
        0.8152,
        0.8073,
        0.8046,
        0.8025,
        0.8022,
        0.8005,
        0.8004,
        0.7995,
        0.7979,
        0.7977,
        0.7977,
        0.7974,
        0.7963,
        0.7949,
    ]
    keyword = [
        24.14,
        15.72,
        15.02,
        14.85,
        14.85,
        14.71,
        14.71,
        14.65,
        14.58,
        14.45,
        14.18,
        14.18,
        14.11,
        14.04,
        12.17,
        3.91,
        3.78,
        3.28,
        1.08,
    ]
    dense_ids = list(range(1, 15)) + [0] + list(range(15, 30))
    keyword_ids = [0, 9, 12, 4, 6, 14, 3, 5, 7, 2, 11, 13, 8, 1, 10, 30, 31, 32, 33]
    return (
        [Hit(c, s) for c, s in zip(dense_ids, dense, strict=True)],
        [Hit(c, s) for c, s in zip(keyword_ids, keyword, strict=True)],
    )


def test_three_sigma_does_not_stretch_a_flat_list():
    flat = np.array([0.870, 0.869, 0.868, 0.867])
    assert np.ptp(min_max(flat)) == pytest.approx(1.0)
    assert np.ptp(three_sigma(flat)) < 0.5
    assert list(three_sigma(np.array([2.0, 2.0]))) == [1.0, 1.0]


def test_dbsf_lets_the_decisive_list_win():
    dense, keyword = code_among_look_alikes()
    by_dbsf = [c for c, _ in score_fusion([(0.5, dense), (0.5, keyword)], three_sigma)]
    assert by_dbsf.index(0) < 5
    by_min_max = [c for c, _ in score_fusion([(0.5, dense), (0.5, keyword)], min_max)]
    assert by_min_max.index(0) >= 5  # what dbsf fixes: min-max lost it from the top 5


def test_a_chunk_missing_from_one_list_scores_from_the_other():
    fused = dict(score_fusion([(0.5, [Hit(1, 0.9), Hit(2, 0.1)]), (0.5, [])], min_max))
    assert fused == {1: pytest.approx(0.5), 2: pytest.approx(0.0)}
    assert [c for c, _ in rrf([[Hit(1, 0), Hit(2, 0)], [Hit(2, 0)]], 60)] == [2, 1]
