"""The hand-written migrations build exactly the schema the models describe."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import create_session_factory
from storage.migrate import alembic_config, upgrade_to_head
from storage.models import Base
from storage.unit_of_work import UnitOfWork

EXPECTED_TABLES = {
    "api_keys",
    "webhook_secrets",
    "api_grants",
    "api_requests",
    "party_events",
    "webhook_endpoints",
    "endpoint_secrets",
    "email_recipients",
    "deliveries",
    "delivery_attempts",
    "organisations",
    "applications",
    "assessments",
    "underwriting_decisions",
    "quotes",
    "policies",
    "coverage_heads",
    "endorsements",
    "cancellations",
    "findings",
    "finding_resolutions",
    "incident_escalations",
    "notification_outbox",
    "policy_phase_history",
    "incidents",
    "incident_events",
    "evidence",
    "evidence_custody",
    "forensics_reports",
    "claims",
    "claim_phase_history",
    "loss_items",
    "loss_statements",
    "payouts",
    "subrogations",
    "audit_log",
}


def newest_revision(database_url: str) -> str | None:
    """The last migration in the folder: an upgrade to head must end there, however many are added."""
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()


async def test_upgrade_to_head_builds_every_table_of_an_empty_database(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database_url)

    engine = create_async_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            version = await connection.scalar(text("SELECT version_num FROM alembic_version"))
            sequence = await connection.scalar(text("SELECT to_regclass('policy_number_seq') IS NOT NULL"))
            drift = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()

    assert tables >= EXPECTED_TABLES
    assert version == newest_revision(empty_database_url)
    assert sequence is True
    assert drift == [], f"migrations and models differ: {drift}"


async def test_upgrade_to_head_twice_changes_nothing(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database_url)
    await asyncio.to_thread(upgrade_to_head, empty_database_url)

    engine = create_async_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert [tuple(v) for v in versions] == [(newest_revision(empty_database_url),)]


async def test_answers_stored_before_0008_stay_replayable_through_its_upgrade_and_downgrade(
    empty_database_url: str,
) -> None:
    config = alembic_config(empty_database_url)
    await asyncio.to_thread(command.upgrade, config, "0007")
    engine, sessions = create_session_factory(empty_database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO api_requests (party_kind, party_id, key_kind, key, fingerprint, status_code, response)"
                " VALUES ('insured', 'insured-1', 'idempotency', 'key-1', :fingerprint, 201, '{\"id\": \"pol-1\"}')"
            ), {"fingerprint": "0" * 64})
        await asyncio.to_thread(upgrade_to_head, empty_database_url)
        async with UnitOfWork(sessions) as uow:
            stored = await uow.api.stored_answer("insured", "insured-1", "idempotency", "key-1")
        await asyncio.to_thread(command.downgrade, config, "0007")
        async with engine.connect() as connection:
            kept = await connection.scalar(text("SELECT response FROM api_requests WHERE key = 'key-1'"))
    finally:
        await engine.dispose()

    assert stored is not None
    assert (stored.status_code, stored.response, stored.body) == (201, {"id": "pol-1"}, None)
    assert kept == {"id": "pol-1"}


async def test_migrate_works_from_any_folder_and_leaves_logging_and_imports_alone(
    empty_database_url: str, tmp_path: Path
) -> None:
    root_handlers, import_path = list(logging.getLogger().handlers), list(sys.path)
    await asyncio.to_thread(upgrade_to_head, empty_database_url)
    assert logging.getLogger().handlers == root_handlers
    assert sys.path == import_path

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "storage.migrate"],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": empty_database_url},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
