"""The one way the service reaches PostgreSQL: an async engine and its session factory."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


RECYCLE_SECONDS = 1800


def create_session_factory(
    database_url: str, *, pool_size: int = 5
) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Engine and session factory for a `postgresql+asyncpg://` URL.

    Sessions keep their objects loaded after commit, because activities return values built
    from rows after the unit of work has committed. The caller disposes of the engine.

    A connection is not pinged when it leaves the pool: with asyncpg a ping is three round trips
    (begin, select, rollback), more than most of our transactions make. A connection PostgreSQL has
    closed fails at its first statement instead; SQLAlchemy then discards every connection opened
    before it, an activity is retried by Temporal, and the API answers 503 `database_unavailable`
    with Retry-After (api/problems.py). Connections are replaced after half an hour, before a
    firewall or a managed server's idle timeout takes them.
    """
    engine = create_async_engine(database_url, pool_size=pool_size, pool_recycle=RECYCLE_SECONDS)
    return engine, async_sessionmaker(engine, expire_on_commit=False)
