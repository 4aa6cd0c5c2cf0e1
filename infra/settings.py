"""Settings read once at the entrypoint (SPEC §9).

Frozen: nothing in the process changes them after start. The DSN is a
``SecretStr`` so it never appears in a log line or a repr.

:func:`load_settings` refuses what an operator most often gets wrong: a ``CLAIMDESK_*``
variable that is not a setting (a typo silently falling back to a default is worse than
a stop) and a malformed value; the message names the variable, never its value (a URL
may hold a password).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.errors import ConfigError

#: ``CLAIMDESK_*`` variables that are not process settings but are allowed: the test and
#: bench harness knobs.
OTHER_VARIABLES = frozenset({
    "CLAIMDESK_CHAOS_FULL", "CLAIMDESK_CHAOS_SEED", "CLAIMDESK_CHAOS_DUMP",
    "CLAIMDESK_FUZZ_COUNT", "CLAIMDESK_FUZZ_SEED", "CLAIMDESK_CONTRACT_DIR",
    "CLAIMDESK_ALLOW_NO_PROMTOOL", "CLAIMDESK_ALLOW_NO_CHROMIUM", "CLAIMDESK_CHROMIUM",
    "CLAIMDESK_ALLOW_NO_PROMETHEUS",
})
_BROKER = r"\s*(\[[0-9A-Fa-f:.]+\]|[^\s,:\[\]]+):\d{1,5}\s*"
_BROKERS = re.compile(rf"^{_BROKER}(,{_BROKER})*$")


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
    log_format: Literal["text", "json"] = Field(default="text", alias="CLAIMDESK_LOG_FORMAT")
    progress_seconds: float = Field(default=60.0, gt=0, alias="CLAIMDESK_PROGRESS_SECONDS")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value.upper()

    @field_validator("metrics_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("must be a TCP port from 1 to 65535")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _brokers(cls, value: str | None) -> str | None:
        if value is not None and not _BROKERS.match(value):
            raise ValueError("must be host:port[,host:port...]")
        return value

    @field_validator("database_url", "pii_database_url")
    @classmethod
    def _database(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else None
        if text is not None and (
            not text.strip() or ("://" in text and not re.match(r"^postgres(ql)?://", text))
        ):
            raise ValueError("must be a postgresql:// URI (or a libpq key=value string)")
        return value

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


def known_variables() -> frozenset[str]:
    """Every ``CLAIMDESK_*`` (and connection) variable claimdesk reads."""
    aliases = {str(f.alias) for f in Settings.model_fields.values() if f.alias}
    return frozenset(aliases) | OTHER_VARIABLES


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` naming each ``CLAIMDESK_*`` variable that is not known."""
    known = known_variables()
    problems = []
    for name in sorted(k for k in environ if k.startswith("CLAIMDESK_") and k not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{name} is not a claimdesk setting{hint}")
    if problems:
        raise ConfigError("; ".join(problems) + "; see `claimdesk --help` for the settings")


def load_settings() -> Settings:
    """Read the environment once (call this only at an entrypoint).

    Raises :class:`ConfigError` for an unknown ``CLAIMDESK_*`` variable or a malformed
    value, naming the variable (never the value).
    """
    check_environment(os.environ)
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        ]
        raise ConfigError("bad setting: " + "; ".join(problems)) from None


