"""Settings read once at the entrypoint (SPEC §9).

Frozen: nothing in the process changes them after start. The DSN is a
``SecretStr`` so it never appears in a log line or a repr.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Environment settings of one claimdesk process."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="")

    kafka_bootstrap_servers: str | None = Field(default=None, alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    pii_database_url: SecretStr | None = Field(default=None, alias="CLAIMDESK_PII_DATABASE_URL")
    topic_prefix: str = Field(default="", alias="CLAIMDESK_TOPIC_PREFIX")
    metrics_port: int = Field(default=9108, alias="CLAIMDESK_METRICS_PORT")
    policy_file: Path | None = Field(default=None, alias="CLAIMDESK_POLICY_FILE")
    data_dir: Path = Field(default=Path(".claimdesk"), alias="CLAIMDESK_DATA_DIR")
    consumer_group: str = Field(default="claimdesk", alias="CLAIMDESK_CONSUMER_GROUP")
    log_level: str = Field(default="INFO", alias="CLAIMDESK_LOG_LEVEL")

    @property
    def embedded(self) -> bool:
        """True when neither connection variable is set: run the embedded stack."""
        return self.kafka_bootstrap_servers is None and self.database_url is None

    def with_connections(self, bootstrap: str, database_url: str) -> Settings:
        """A copy pointing at concrete connections (after the embedded stack started)."""
        return self.model_copy(
            update={"kafka_bootstrap_servers": bootstrap, "database_url": SecretStr(database_url)}
        )

    def dsn(self) -> str:
        """The Postgres DSN; raises if no database is configured."""
        if self.database_url is None:
            raise RuntimeError("DATABASE_URL is not set and no embedded Postgres is running")
        return self.database_url.get_secret_value()

    def pii_dsn(self) -> str | None:
        """The PII-role publisher's DSN (SPEC §8), None when it is the worker's own."""
        return None if self.pii_database_url is None else self.pii_database_url.get_secret_value()

    def bootstrap(self) -> str:
        """The broker list; raises if no broker is configured."""
        if self.kafka_bootstrap_servers is None:
            raise RuntimeError("KAFKA_BOOTSTRAP_SERVERS is not set and no embedded broker runs")
        return self.kafka_bootstrap_servers


def load_settings() -> Settings:
    """Read the environment once (call this only at an entrypoint)."""
    return Settings()
