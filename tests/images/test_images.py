"""POST /images/generations on a tiny Stable Diffusion pipeline the test builds and saves
itself (random weights, no downloads), through real servers and the real SDKs: URLs served
by OpenMaaS, b64_json, per-image billing (hold, settle, release), errors, and a second
OpenMaaS using the first as its upstream image engine."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import sqlalchemy as sa
from zhipuai import ZhipuAI

from openmaas.billing import ledger
from openmaas.config import ModelConfig, PriceConfig, Settings
from openmaas.engines.images import ImageJob
from openmaas.errors import PlatformError
from openmaas.images.service import build_image_engine
from openmaas.images.settings import ImageModelConfig, ImagesSettings
from openmaas.store.tables import Reservation, UsageRecord, Wallet
from tests.conftest import (
    FAKE_MODEL,
    LiveServer,
    add_tenant,
    fake_embeddings,
    free_port,
    start_live_server,
    with_fake_prices,
)

pytest.importorskip("diffusers")
from PIL import Image  # noqa: E402  (after the skip: Pillow comes with the `images` extra)

SECRET = "test-secret"
KEY_ENV = "OM_TEST_IMAGE_UPSTREAM_KEY"
PRICE = 250_000  # cogview-3: 0.25 元 per image, in µ元
FUNDS = 1_000_000


def build_tiny_pipeline(directory: Path) -> Path:
    """A Stable Diffusion pipeline with tiny random UNet, VAE and CLIP text encoder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        norm_num_groups=4,
        up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=1,
            vocab_size=64,
            projection_dim=16,
        )
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[f"{letter}</w>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=16
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory / "pipeline")
    return directory / "pipeline"


def settings_for(data_dir: Path, image_model: ImageModelConfig) -> Settings:
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir}/db.sqlite",
            secret_key=SECRET,
            embeddings=fake_embeddings(),
            job_poll_seconds=0.05,
            models=[ModelConfig(name=FAKE_MODEL, engine="fake")],
            images=ImagesSettings(models=[image_model]),
        )
    )
    # the canonical image model is priced like its alias cogview-3 (prices fail closed)
    settings.billing.prices[image_model.name] = PriceConfig(per_image="0.25")
    return settings


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """`local` runs the pipeline; `front` serves cogview-3 with `local` as its upstream."""
    root = tmp_path_factory.mktemp("images")
    pipeline = build_tiny_pipeline(root)
    local = start_live_server(
        settings_for(
            root / "local",
            ImageModelConfig(
                name="tiny-sd",
                aliases=["cogview-3"],
                path=pipeline,
                sizes=["64x64", "32x32"],
                steps=2,
                threads=1,
                max_images=2,
            ),
        )
    )
    os.environ[KEY_ENV] = local.tenant.api_key
    front = start_live_server(
        settings_for(
            root / "front",
            ImageModelConfig(
                name="remote-sd",
                aliases=["cogview-3"],
                engine="upstream",
                upstreams=[local.base_url],
                upstream_model="tiny-sd",
                api_key_env=KEY_ENV,
                sizes=["32x32"],
            ),
        )
    )
    for server in (local, front):
        server.services.billing.admin_credit("test", server.tenant.account_id, FUNDS, "image tests")
    try:
        yield local, front
    finally:
        front.stop()
        local.stop()
        os.environ.pop(KEY_ENV, None)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def cash(server: LiveServer) -> tuple[int, int]:
    with server.services.db.session() as session:
        wallet = session.get(Wallet, server.tenant.account_id)
        assert ledger.reconcile(session, server.tenant.account_id) == []
        return wallet.cash_micro, wallet.held_micro


def usage_row(server: LiveServer, request_id: str) -> UsageRecord:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with server.services.db.session() as session:
            row = session.scalar(sa.select(UsageRecord).where(UsageRecord.request_id == request_id))
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"no usage row for {request_id}")


def test_zhipuai_sdk_gets_a_url_served_by_openmaas_and_pays_per_image(servers):
    local, _ = servers
    funds, _ = cash(local)
    client = ZhipuAI(api_key=local.tenant.api_key, base_url=local.zhipu_base)
    result = client.images.generations(model="cogview-3", prompt="a red cat", request_id="img-zhipu-1")
    assert result.created > 0 and len(result.data) == 1
    url = result.data[0].url
    assert url.startswith(local.base_url)
    image = httpx.get(url, timeout=30)  # no API key: the unguessable name is the credential
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (64, 64)  # the model's first size is the default
    row = usage_row(local, "img-zhipu-1")
    assert (row.endpoint, row.completion_tokens, row.cost_micro) == ("images", 1, PRICE)
    assert row.status == "success"
    assert cash(local) == (funds - PRICE, 0)
    assert httpx.get(url[:-10] + "x" * 6 + ".png", timeout=10).status_code == 404


def test_openai_sdk_b64_json_several_images(servers):
    local, _ = servers
    funds, _ = cash(local)
    client = openai.OpenAI(api_key=local.tenant.api_key, base_url=local.openai_base)
    result = client.images.generate(
        model="cogview-3", prompt="two blue dogs", n=2, size="32x32", response_format="b64_json"
    )
    assert [png_size(base64.b64decode(d.b64_json)) for d in result.data] == [(32, 32), (32, 32)]
    deadline = time.monotonic() + 15
    while cash(local) != (funds - 2 * PRICE, 0):
        assert time.monotonic() < deadline, cash(local)
        time.sleep(0.05)


def test_bad_requests_have_codes_and_cost_nothing(servers):
    local, _ = servers
    funds, _ = cash(local)
    headers = {"Authorization": f"Bearer {local.tenant.api_key}"}
    url = f"{local.zhipu_base}/images/generations"

    def post(body: dict) -> httpx.Response:
        return httpx.post(url, json=body, headers=headers, timeout=30)

    cases = [
        ({"model": "cogview-3", "prompt": "x", "size": "1024x1024"}, 400, "1214"),
        ({"model": "cogview-3", "prompt": "x", "n": 3}, 400, "1214"),
        ({"model": "cogview-3", "prompt": "   "}, 400, "1214"),
        ({"model": "cogview-3"}, 400, "1213"),
        ({"model": "no-such-model", "prompt": "x"}, 400, "1211"),
    ]
    for body, status, code in cases:
        response = post(body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    poor = add_tenant(local.services, "poor")  # a token grant, but no cash: images need cash
    response = httpx.post(
        url,
        json={"model": "cogview-3", "prompt": "x"},
        timeout=30,
        headers={"Authorization": f"Bearer {poor.api_key}"},
    )
    assert (response.status_code, response.json()["error"]["code"]) == (429, "1113")
    assert cash(local) == (funds, 0)


def test_engine_failure_releases_the_hold(servers, monkeypatch):
    local, _ = servers
    funds, _ = cash(local)
    engine = local.services.images.resolve("cogview-3").engine

    async def explode(job):
        raise RuntimeError("CUDA out of memory (pretend)")

    monkeypatch.setattr(engine, "generate", explode)
    client = openai.OpenAI(api_key=local.tenant.api_key, base_url=local.openai_base, max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="cogview-3", prompt="boom", extra_body={"request_id": "img-fail"})
    assert caught.value.status_code == 500 and "image generation failed" in caught.value.message
    row = usage_row(local, "img-fail")
    assert (row.status, row.cost_micro) == ("error", 0)
    with local.services.db.session() as session:
        state = session.scalar(sa.select(Reservation.state).where(Reservation.request_id == "img-fail"))
    assert state == "released" and cash(local) == (funds, 0)


def test_upstream_image_engine_via_another_openmaas(servers):
    local, front = servers
    funds, _ = cash(front)
    client = openai.OpenAI(api_key=front.tenant.api_key, base_url=front.openai_base)
    result = client.images.generate(model="cogview-3", prompt="a green bird")
    url = result.data[0].url
    assert url.startswith(front.base_url)  # stored and served by the front, not the upstream
    assert png_size(httpx.get(url, timeout=30).content) == (32, 32)
    deadline = time.monotonic() + 15
    while cash(front) != (funds - PRICE, 0):
        assert time.monotonic() < deadline, cash(front)
        time.sleep(0.05)


def test_upstream_image_model_down_is_1305(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "k")
    engine = build_image_engine(
        ImageModelConfig(
            name="gone",
            engine="upstream",
            upstreams=[f"http://127.0.0.1:{free_port()}"],
            api_key_env=KEY_ENV,
            options={"connect_timeout": 0.5},
        )
    )
    with pytest.raises(PlatformError) as caught:
        asyncio.run(engine.generate(ImageJob("x", 32, 32)))
    assert caught.value.code == "1305"


def test_a_server_without_image_models_says_so(harness):
    response = harness.client.post(
        "/api/paas/v4/images/generations",
        headers=harness.tenant.headers,
        json={"model": "cogview-3", "prompt": "a cat"},
    )
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "1211")
    assert "cogview-3" in error["message"] and "no image model configured" in error["message"]
