"""SDK clients bound to the `live_server` tenant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai import OpenAI
from zhipuai import ZhipuAI


@pytest.fixture
def zhipu(live_server) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base,
                     max_retries=0)
    yield client
    client.close()


@pytest.fixture
def oai(live_server) -> Iterator[OpenAI]:
    client = OpenAI(api_key=live_server.tenant.api_key, base_url=live_server.openai_base,
                    max_retries=0)
    yield client
    client.close()
