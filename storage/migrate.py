"""Bring a database's schema to the newest migration.

`upgrade_to_head` is synchronous because Alembic's environment runs its own event loop; async
callers run it in a thread: `await asyncio.to_thread(upgrade_to_head, url)`.
Command line: `DATABASE_URL=postgresql+asyncpg://... python -m storage.migrate`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

_STORAGE_DIR = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    """Configuration that finds the migrations next to this module, whatever the working folder."""
    config = Config(str(_STORAGE_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(_STORAGE_DIR / "migrations").replace("%", "%%"))
    # The caller has already imported this package; the ini's path entry is for the alembic CLI
    # only, and must not leak into a running worker's sys.path.
    config.set_main_option("prepend_sys_path", "")
    # Passed as an attribute, not an ini option, so a '%' in a password is not interpolated.
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def main() -> int:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("set DATABASE_URL to a postgresql+asyncpg:// URL", file=sys.stderr)
        return 2
    upgrade_to_head(database_url)
    print("database schema is at the newest migration")
    return 0


if __name__ == "__main__":
    sys.exit(main())
