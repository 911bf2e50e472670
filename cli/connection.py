"""The CLI's Temporal client: settings in, a clear message out when the server cannot be reached."""

from __future__ import annotations

import os

from temporalio.client import Client

from cli.errors import fail
from settings import LOCAL_HOST, Settings
from temporal_connection import connect_temporal


def _described_target(settings: Settings) -> str:
    if address := os.environ.get("TEMPORAL_ADDRESS"):
        return address
    if profile := os.environ.get("TEMPORAL_PROFILE"):
        return f"profile {profile!r}"
    return f"{LOCAL_HOST}:{settings.temporal_port}"


async def connect_or_fail(settings: Settings) -> Client:
    try:
        return await connect_temporal(settings)
    except RuntimeError as error:
        fail(
            f"cannot reach Temporal at {_described_target(settings)} ({error}). "
            "Is `make dev` running, or TEMPORAL_ADDRESS set to your server?"
        )
    except Exception as error:  # noqa: BLE001 - envconfig errors (bad profile or config file)
        fail(f"Temporal connection settings are not usable: {error}")
