"""Async images (zai-sdk `images.async_generations` + `retrieve_images_result`) on an
upstream image engine, and videos through a video upstream; both stand-ins are httpx
MockTransports, since no image or video weights ship offline."""

from __future__ import annotations

import base64
import io

import httpx
import pytest

from openmaas.engines.images import UpstreamImageEngine
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.images.settings import ImageModelConfig, ImagesSettings
from tests.conftest import start_live_server
from tests.sdk._support import wait_for
from tests.tool_endpoints.conftest import paying_tenant, tool_settings


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def media_server(tmp_path_factory):
    images = ImagesSettings(
        models=[
            ImageModelConfig(
                name="cogview-3", aliases=["glm-image"], engine="upstream", upstreams=["http://images.test"]
            )
        ]
    )
    server = start_live_server(tool_settings(tmp_path_factory.mktemp("media"), images=images))

    def stand_in_image_upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"created": 1, "data": [{"b64_json": base64.b64encode(png()).decode()}]}
        )

    model = server.services.images.models[0]
    object.__setattr__(
        model,
        "engine",
        UpstreamImageEngine(model.engine.target, transport=httpx.MockTransport(stand_in_image_upstream)),
    )
    yield server
    server.stop()


def test_zai_async_image_generation_and_result(media_server):
    from zai import ZhipuAiClient

    tenant = paying_tenant(media_server)
    client = ZhipuAiClient(api_key=tenant.api_key, base_url=media_server.zhipu_base, max_retries=0)
    task = client.images.async_generations(model="glm-image", prompt="a red square")
    assert task.task_status == "PROCESSING" and task.id

    def done():
        result = client.images.retrieve_images_result(id=task.id)
        return result if result.task_status != "PROCESSING" else None

    result = wait_for(done, timeout=30, interval=0.1)
    assert result.task_status == "SUCCESS" and len(result.image_result) == 1
    image = httpx.get(result.image_result[0].url)
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"


def test_async_image_bad_model_and_other_accounts(media_server):
    tenant, other = paying_tenant(media_server), paying_tenant(media_server)
    url = f"{media_server.zhipu_base}/async/images/generations"
    unknown = httpx.post(url, headers=tenant.headers, json={"model": "dall-e", "prompt": "x"})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "1211"
    task = httpx.post(url, headers=tenant.headers, json={"model": "glm-image", "prompt": "x"}).json()
    assert (
        httpx.get(f"{media_server.zhipu_base}/async-result/{task['id']}", headers=other.headers).status_code
        == 404
    )


def test_videos_without_upstream_1211_then_through_a_stand_in_upstream(media_server):
    tenant = paying_tenant(media_server)
    url = f"{media_server.zhipu_base}/videos/generations"
    missing = httpx.post(url, headers=tenant.headers, json={"model": "cogvideox-3", "prompt": "a cat"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1211"
    polls = []

    def stand_in_video_platform(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(200, json={"id": "up-1", "task_status": "PROCESSING"})
        polls.append(request.url.path)
        if len(polls) < 2:
            return httpx.Response(200, json={"id": "up-1", "task_status": "PROCESSING"})
        return httpx.Response(
            200,
            json={
                "id": "up-1",
                "task_status": "SUCCESS",
                "video_result": [
                    {"url": "https://cdn.test/v.mp4", "cover_image_url": "https://cdn.test/v.jpg"}
                ],
            },
        )

    media = media_server.services.tools.media
    media._video_upstream = UpstreamToolClient(
        "http://video.test", None, None, 5, transport=httpx.MockTransport(stand_in_video_platform)
    )
    media.video = media.video.model_copy(update={"poll_seconds": 0.05})
    try:
        from zai import ZhipuAiClient

        client = ZhipuAiClient(api_key=tenant.api_key, base_url=media_server.zhipu_base, max_retries=0)
        task = client.videos.generations(model="cogvideox-3", prompt="a cat playing piano")
        result = wait_for(
            lambda: (r := client.videos.retrieve_videos_result(id=task.id)).task_status != "PROCESSING" and r,
            timeout=30,
            interval=0.1,
        )
        assert result.task_status == "SUCCESS" and result.video_result[0].url == "https://cdn.test/v.mp4"
        assert polls and polls[0] == "/async-result/up-1"
    finally:
        media._video_upstream = None
