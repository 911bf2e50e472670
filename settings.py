"""Every setting of the service in one typed object, read from the environment.

The defaults run the local dev stack (`make dev`) with nothing set. Production sets DATABASE_URL and
the Temporal connection (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or a profile from
the Temporal config file with TEMPORAL_PROFILE), which the Temporal SDK reads itself, and the payload
keys (CYBERINS_PAYLOAD_KEYS) that encrypt what the workflows carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from mail.smtp import SmtpSettings

# Must match devstack.postgres.SUPERUSER; not imported so that settings stay cheap to load.
_EMBEDDED_SUPERUSER = "postgres"
LOCAL_HOST = "127.0.0.1"


def project_root() -> Path:
    """The folder holding pyproject.toml: this file's folder in a checkout, else the nearest above cwd."""
    here = Path(__file__).resolve().parent
    if (here / "pyproject.toml").exists():
        return here
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "pyproject.toml").exists():
            return folder
    return Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CYBERINS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CYBERINS_DATABASE_URL"),
        description="None: the embedded PostgreSQL of the dev stack",
    )
    state_dir: Path = Field(default_factory=lambda: project_root() / ".state")
    postgres_port: int = Field(default=55432, ge=1, le=65535)
    database_name: str = Field(default="cyberins", pattern=r"^[a-z_][a-z0-9_]*$")
    temporal_port: int = Field(default=7233, ge=1, le=65535, description="dev server gRPC port")
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535, description="dev server UI port")
    temporal_ui_url: str | None = Field(default=None, description="None: http://localhost:<ui port>")
    api_host: str = Field(default=LOCAL_HOST, description="where `cyberins api` and `make dev` listen")
    api_port: int = Field(default=8300, ge=1, le=65535)
    api_url: str | None = Field(default=None, description="for API clients (demo, signals send); None: the local API")
    task_queue: str = "cyberins-policy"
    worker_cached_workflows: int = Field(
        default=4_000, ge=0,
        description="workflows a worker keeps in memory; one evicted is replayed from its history on its next task",
    )
    worker_queues: str = Field(
        default="workflow,database,external,delivery",
        description="which task queues a worker polls (contracts/queues.py): any of workflow, database, external, delivery",
    )
    external_per_second: float = Field(
        default=20.0, gt=0, description="calls to outside parties (payouts) a second, by all workers together",
    )
    otel_endpoint: str | None = Field(
        default=None, description="an OTLP/HTTP collector (http://collector:4318) to send traces to; None: no tracing"
    )
    worker_host: str = Field(default=LOCAL_HOST, description="where a worker's health and metrics endpoints listen")
    worker_health_port: int | None = Field(
        default=None, ge=1, le=65535, description="a worker's /health and /ready; None: not served"
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="a worker's Prometheus /metrics (the Temporal SDK's); None: not served"
    )
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    encrypt_payloads: bool | None = Field(
        default=None, description="None: on when payload keys are known; false: keys only decrypt"
    )
    payload_keys: SecretStr | None = Field(
        default=None, description="a keyring JSON file, or inline key-id:base64-key,... (first active)"
    )
    payload_key_id: str | None = Field(default=None, description="the active key; None: the keyring's")
    codec_host: str = Field(default=LOCAL_HOST, description="where the codec server listens")
    codec_port: int = Field(default=8301, ge=1, le=65535)
    codec_token: SecretStr | None = Field(default=None, description="the operators' token for the codec server")
    codec_cors_origins: str | None = Field(
        default=None, description="comma-separated UI origins allowed to call the codec server; None: the UI's"
    )
    smtp_host: str = Field(default=LOCAL_HOST, description="the SMTP server e-mail notifications go through")
    smtp_port: int = Field(default=8325, ge=1, le=65535, description="default: the dev stack's mail sink")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none",
        description="none: plain (the sink); starttls: upgrade after connecting; tls: TLS from the start",
    )
    smtp_username: str | None = Field(default=None, description="None: no login")
    smtp_password: SecretStr | None = None
    mail_from: str = Field(
        default="cyberins <notifications@cyberins.local>", description="the From of every notification e-mail"
    )
    mail_sink: bool = Field(
        default=True,
        description="whether `cyberins dev` runs the local mail sink on smtp_port (see `cyberins mail`)",
    )
    operator_emails: str = Field(
        default="operations@cyberins.local",
        description="comma-separated: who hears of failed deliveries and the pilot's deadlines",
    )
    webhook_retry_schedule: str = Field(
        default="0s,5s,5m,30m,2h,5h,10h,10h",
        description="the wait before each webhook attempt (s, m, h, d); after the last the delivery has failed",
    )
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120, description="a 2xx within this counts")
    webhook_disable_after_hours: float = Field(
        default=120.0, gt=0, description="an endpoint failing without a success this long is disabled (5 days)"
    )
    webhook_secret_overlap_hours: float = Field(
        default=24.0, ge=0, description="after a rotation the old secret still signs this long"
    )
    webhook_http_loopback: bool = Field(
        default=False, description="accept http:// endpoints on loopback addresses (development); else https only"
    )
    urgent_fallback_seconds: int = Field(
        default=60, ge=0, le=3600, description="an urgent event's webhook failing this long falls back to e-mail"
    )

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from domain.notifications import retry_schedule

        retry_schedule(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """Accept the usual postgres:// and postgresql:// URLs; the service talks asyncpg."""
        if not value:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+asyncpg://" + value.removeprefix(prefix)
        return value

    @field_validator("worker_queues")
    @classmethod
    def _known_queues(cls, value: str) -> str:
        from contracts.queues import WorkQueue

        named = [part.strip() for part in value.split(",") if part.strip()]
        known = [kind.value for kind in WorkQueue]
        unknown = [name for name in named if name not in known]
        if unknown or not named:
            raise ValueError(f"name one or more of {', '.join(known)}, comma-separated; not {', '.join(unknown) or 'nothing'}")
        return ",".join(dict.fromkeys(named))

    @property
    def worker_queue_kinds(self) -> frozenset:
        from contracts.queues import WorkQueue

        return frozenset(WorkQueue(name) for name in self.worker_queues.split(","))

    @property
    def embedded_database_url(self) -> str:
        return (
            f"postgresql+asyncpg://{_EMBEDDED_SUPERUSER}@{LOCAL_HOST}:{self.postgres_port}/"
            f"{self.database_name}"
        )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or self.embedded_database_url

    @property
    def ui_base_url(self) -> str:
        return (self.temporal_ui_url or f"http://localhost:{self.temporal_ui_port}").rstrip("/")

    @property
    def api_base_url(self) -> str:
        return (self.api_url or f"http://{LOCAL_HOST}:{self.api_port}").rstrip("/")

    @property
    def codec_origins(self) -> list[str]:
        if self.codec_cors_origins:
            return [origin.strip().rstrip("/") for origin in self.codec_cors_origins.split(",") if origin.strip()]
        ui = f"localhost:{self.temporal_ui_port}"
        return list(dict.fromkeys([self.ui_base_url, f"http://{ui}", f"http://{LOCAL_HOST}:{self.temporal_ui_port}"]))

    @property
    def smtp(self) -> SmtpSettings:
        from mail.smtp import SmtpSettings

        password = self.smtp_password.get_secret_value() if self.smtp_password else None
        return SmtpSettings(
            host=self.smtp_host, port=self.smtp_port, sender=self.mail_from, security=self.smtp_security,
            username=self.smtp_username or None, password=password or None,
        )

    @property
    def operator_addresses(self) -> list[str]:
        return [address.strip() for address in self.operator_emails.split(",") if address.strip()]

    @property
    def mail_dir(self) -> Path:
        """Where the dev stack's mail sink keeps what it receives."""
        return self.state_dir / "mail"

    @property
    def codec_endpoint(self) -> str:
        """The address to give the Temporal UI and CLI: `localhost` for a local server, so that the
        UI at http://localhost:<port> and the codec server are the same site and its cookie is sent."""
        host = "localhost" if self.codec_host in (LOCAL_HOST, "localhost", "0.0.0.0") else self.codec_host
        return f"http://{host}:{self.codec_port}"

    def workflow_url(self, namespace: str, workflow_id: str) -> str:
        return f"{self.ui_base_url}/namespaces/{namespace}/workflows/{workflow_id}"


def get_settings() -> Settings:
    """Read afresh each call: cheap, and tests that change the environment see the change."""
    return Settings()
