"""The few ONNX protobuf messages an encoder graph needs, written without the `onnx` package.

ONNX Runtime (a dependency already, for the reranker) loads a model from bytes; the
`onnx` package would only be needed to write them. Field numbers are those of
onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
ValueInfoProto); only float, uint8, int8 and int64 tensors and int/float/ints attributes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

IR_VERSION = 8
_ELEMENT_TYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int64): 7}
_FLOAT, _INT, _INTS = 1, 2, 7  # AttributeProto.AttributeType
Dim = int | str  # a fixed size, or a symbolic one ("batch")


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are ten-byte two's complement
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _int_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _bytes_field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def tensor(name: str, array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    dims = b"".join(_int_field(1, d) for d in array.shape)
    return (
        dims
        + _int_field(2, _ELEMENT_TYPES[array.dtype])
        + _bytes_field(8, name)
        + _bytes_field(9, array.tobytes())
    )


def attribute(name: str, value: int | float | Sequence[int]) -> bytes:
    head = _bytes_field(1, name)
    if isinstance(value, float):
        return head + _varint(2 << 3 | 5) + struct.pack("<f", value) + _int_field(20, _FLOAT)
    if isinstance(value, int):
        return head + _int_field(3, value) + _int_field(20, _INT)
    return head + b"".join(_int_field(8, v) for v in value) + _int_field(20, _INTS)


def node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    domain: str = "",
    **attributes: int | float | Sequence[int],
) -> bytes:
    return (
        b"".join(_bytes_field(1, i) for i in inputs)
        + b"".join(_bytes_field(2, o) for o in outputs)
        + _bytes_field(4, op_type)
        + b"".join(_bytes_field(5, attribute(k, v)) for k, v in attributes.items())
        + (_bytes_field(7, domain) if domain else b"")
    )


def float_input(name: str, dims: Sequence[Dim]) -> bytes:
    """A ValueInfoProto for a float32 tensor of the given (partly symbolic) shape."""
    shape = b"".join(
        _bytes_field(1, _int_field(1, d) if isinstance(d, int) else _bytes_field(2, d)) for d in dims
    )
    tensor_type = _int_field(1, _ELEMENT_TYPES[np.dtype(np.float32)]) + _bytes_field(2, shape)
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def model(
    nodes: Sequence[bytes],
    initializers: Sequence[bytes],
    inputs: Sequence[bytes],
    outputs: Sequence[bytes],
    opsets: dict[str, int],
) -> bytes:
    graph = (
        b"".join(_bytes_field(1, n) for n in nodes)
        + _bytes_field(2, "encoder")
        + b"".join(_bytes_field(5, t) for t in initializers)
        + b"".join(_bytes_field(11, i) for i in inputs)
        + b"".join(_bytes_field(12, o) for o in outputs)
    )
    imports = b"".join(
        _bytes_field(8, (_bytes_field(1, domain) if domain else b"") + _int_field(2, version))
        for domain, version in opsets.items()
    )
    return _int_field(1, IR_VERSION) + imports + _bytes_field(7, graph)
