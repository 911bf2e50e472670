"""Histories recorded before encryption was turned on still replay on a worker that encrypts."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from codec.wiring import data_converter_for
from tests.codec.keys import encrypting_settings, keyring
from tests.workflows.test_replay import committed_histories
from worker import WORKFLOWS


@pytest.mark.parametrize("path", committed_histories(), ids=lambda p: p.stem)
async def test_a_plaintext_history_replays_through_the_encrypting_converter(path: Path) -> None:
    converter = data_converter_for(encrypting_settings(keyring("k1")), "temporal.example:7233")
    assert converter.payload_codec is not None
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await Replayer(workflows=WORKFLOWS, data_converter=converter).replay_workflow(history)
