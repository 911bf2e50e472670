"""The one way the service reaches PostgreSQL: an async engine and its session factory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_session_factory(
    database_url: str, *, pool_size: int = 5
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Engine and session factory for a `postgresql+asyncpg://` URL.

    Sessions keep their objects loaded after commit, because activities return values built
    from rows after the unit of work has committed. The caller disposes of the engine.
    """
    engine = create_async_engine(database_url, pool_size=pool_size, pool_pre_ping=True)
    return engine, async_sessionmaker(engine, expire_on_commit=False)
