"""Settings from the environment (prefix ``AEROGRID_``, plus ``DATABASE_URL``).

Read only through ``get_settings()`` or passed to ``create_app``: nothing reads the environment
at import time, so tests and the CLI can build their own Settings.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("aerogrid"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AEROGRID_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AEROGRID_DATABASE_URL")
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=20_000_000, ge=1024)
    log_json: bool = False
    load_sample_district: bool = False
    links_enabled: bool = True

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"


def get_settings() -> Settings:
    return Settings()
