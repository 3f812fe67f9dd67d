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

DEFAULT_CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class ModelConfig(BaseModel):
    """One catalog entry: a public name served by one engine."""

    name: str
    engine: Literal["llamacpp", "fake"] = "llamacpp"
    kind: Literal["chat"] = "chat"
    aliases: list[str] = Field(default_factory=list)
    path: Path | None = None  # GGUF file for llamacpp; None → the assembled default weights
    package: str | None = None  # name of a packaged weight set (see catalog.weights)
    context_window: int = 8192
    max_output_tokens: int = 4096
    capabilities: list[str] = Field(default_factory=lambda: ["chat", "stream"])
    owned_by: str = "openmaas"
    description: str = ""


def default_models() -> list[ModelConfig]:
    return [
        ModelConfig(
            name=DEFAULT_CHAT_MODEL,
            package="qwen2.5-coder-0.5b-instruct-q4_k_m",
            aliases=["glm-4", "glm-4-flash", "glm-3-turbo"],
            description="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) on the embedded llama.cpp engine; "
            "glm-4, glm-4-flash and glm-3-turbo are aliases of it.",
        )
    ]


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
    omp_wait_policy: Literal["PASSIVE", "ACTIVE"] = "PASSIVE"
    run_jobs_in_process: bool = True
    job_lease_seconds: float = 30.0
    job_poll_seconds: float = 1.0
    bootstrap_account: bool = True  # `serve` creates a first account + key on an empty DB
    log_level: str = "info"

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
