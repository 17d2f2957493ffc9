"""One typed settings object, read from ``FUNDAMENT_*`` environment variables.

Built once by the composition root and passed down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDAMENT_", extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "Admin DSN of an external PostgreSQL (15+). Used for migrations and index builds. "
            "Absent: an embedded PostgreSQL is started under data_dir."
        ),
    )
    app_database_url: SecretStr | None = Field(
        default=None,
        description=(
            "DSN the request path uses. Must be the unprivileged `fundament_app` role. "
            "Absent: derived from database_url with the user replaced by fundament_app."
        ),
    )
    app_db_password: SecretStr | None = Field(
        default=None,
        description="Password set on the fundament_app role by migrations (external servers).",
    )
    data_dir: Path = Field(default=Path(".fundament"), description="Embedded data lives here.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    pool_min_size: int = 4
    pool_max_size: int = 32
    statement_timeout_ms: int = 15_000
    max_body_bytes: int = 1_048_576
    key_cache_ttl_seconds: float = 30.0
    auto_migrate: bool | None = Field(
        default=None,
        description="Run migrations on start. Default: on in embedded mode, off otherwise.",
    )
    log_level: str = "info"
    audit: bool = Field(
        default=True,
        description="Write the audit trail. Off only to measure its cost (bench/run.py).",
    )
    fast_paths: bool = Field(
        default=True,
        description="Serve hot record operations without FastAPI's router (same behaviour).",
    )

    @field_validator("database_url", "app_database_url", "app_db_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `FUNDAMENT_DATABASE_URL=` in a shell or compose file means "not set".
        return None if value == "" else value

    @property
    def embedded(self) -> bool:
        return self.database_url is None
