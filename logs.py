"""structlog set up once for the whole process.

JSON lines when stderr is not a terminal (containers, CI, log shippers), a readable console layout on
one. Standard-library loggers (temporalio, alembic, asyncpg, sqlalchemy) go through the same
processors via `ProcessorFormatter`, so every line of the process has one shape.

structlog and the Temporal SDK are imported when logging is configured or a logger is asked for, not
when this module is: the CLI imports it to answer `--help`, which needs neither.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import structlog

LogFormat = Literal["auto", "json", "console"]

_configured = False

# Libraries that are chatty at INFO without telling an operator anything actionable. httpx logs every
# request it makes ("HTTP Request: POST ..."), which would interleave with the CLI's own output.
_QUIET_LOGGERS = ("asyncio", "sqlalchemy.engine", "alembic.runtime.plugins", "httpx", "httpcore")


def _final_processors(fmt: LogFormat) -> list[structlog.typing.Processor]:
    import structlog

    if fmt == "console" or (fmt == "auto" and sys.stderr.isatty()):
        # The console renderer prints exc_info itself, with the traceback laid out for people.
        return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    # No local variables in tracebacks: they can hold an application's personal data.
    tracebacks = structlog.processors.ExceptionRenderer(
        structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    )
    return [tracebacks, structlog.processors.JSONRenderer()]


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Configure structlog and the stdlib root logger; later calls change nothing."""
    global _configured
    if _configured:
        return
    _configured = True
    import structlog
    import temporalio.activity
    import temporalio.workflow

    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *_final_processors(fmt),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))
    _forward_temporal_core_logs()
    # The SDK would also append its info dict to each message; structlog already has it as fields.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False


def _forward_temporal_core_logs() -> None:
    """The SDK's Rust core logs to stdout by itself; send its warnings through the same handler.

    Must run before the first Temporal client is created: clients keep the runtime they began with.
    """
    from temporalio.runtime import (
        LogForwardingConfig,
        LoggingConfig,
        Runtime,
        TelemetryConfig,
        TelemetryFilter,
    )

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    telemetry = TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding)
    )
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    import structlog

    return structlog.stdlib.get_logger(name)
