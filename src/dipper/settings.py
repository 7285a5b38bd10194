"""One Settings class for the whole process (env prefix ``DIPPER_``).

Secrets have development defaults so that ``make demo`` works on a fresh
machine; ``environment=prod`` refuses to start with any of them.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DEV_SECRET = "dipper-development-secret-do-not-use-in-production"


def _dev_key(label: str) -> str:
    return base64.b64encode(hashlib.sha256(f"{_DEV_SECRET}:{label}".encode()).digest()).decode()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIPPER_", env_file=".env", extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite:///demo.db"
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000

    # Personal data: AES-256-GCM keys by key id (base64, 32 bytes); new writes use the active one,
    # reads find the key by the id stored beside each ciphertext, so keys can rotate.
    pii_keys: dict[str, SecretStr] = Field(default_factory=lambda: {"dev1": SecretStr(_dev_key("pii:dev1"))})
    pii_active_key: str = "dev1"
    # Keyed blind index (HMAC-SHA256) for equality look-ups on encrypted columns, and audit digests.
    blind_index_key: SecretStr = SecretStr(_dev_key("blind-index"))
    audit_digest_key: SecretStr = SecretStr(_dev_key("audit-digest"))

    session_ttl_minutes: int = 8 * 60
    session_cookie_secure: bool = False
    default_apr_ceiling: str = "0.24"
    risk_reports_dir: str = "reports/risk"  # the console lists `risk backtest/monitor --out` dirs here

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "prod":
            dev = {_dev_key("pii:dev1"), _dev_key("blind-index"), _dev_key("audit-digest")}
            used = [v.get_secret_value() for v in self.pii_keys.values()]
            used += [self.blind_index_key.get_secret_value(), self.audit_digest_key.get_secret_value()]
            if dev.intersection(used):
                raise ValueError("production refuses development keys: set DIPPER_PII_KEYS etc.")
            if self.pii_active_key not in self.pii_keys:
                raise ValueError("DIPPER_PII_ACTIVE_KEY must name one of DIPPER_PII_KEYS")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
