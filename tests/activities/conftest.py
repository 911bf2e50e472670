import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.policy import PolicyActivities


@pytest.fixture
def activities(session_factory: async_sessionmaker[AsyncSession]) -> PolicyActivities:
    """The activities as the worker wires them, on this test's own database."""
    return PolicyActivities(session_factory)
