"""The README's first policy, command by command: `cyberins policy apply → assess → accept → findings`,
against a real Temporal dev server and a real worker, and `policy show` sees the findings.

`accept` is run at once after `assess`, before the quote is out, as someone following the README would:
it waits for the quote itself. The commands run in threads so the worker in this event loop answers them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.builders import risky_assessment
from tests.workflows.support import eventually, running_worker

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


class Terminal:
    """`cyberins` against the test's Temporal server and task queue."""

    def __init__(self, client, task_queue: str) -> None:
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("TEMPORAL_", "CYBERINS_")) and k not in ("DATABASE_URL", "COLUMNS")
        }
        self.env.update(
            TEMPORAL_ADDRESS=client.service_client.config.target_host, TEMPORAL_NAMESPACE=client.namespace,
            CYBERINS_TASK_QUEUE=task_queue,
        )

    async def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "cli.main", *args], cwd=REPO, env=self.env,
            capture_output=True, text=True, timeout=180, check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    async def ok(self, *args: str) -> str:
        result = await self.run(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    async def refused(self, *args: str) -> str:
        result = await self.run(*args)
        assert result.returncode == 1, result.stdout + result.stderr
        return result.stderr


async def test_apply_assess_accept_at_once_and_report_findings(dev_client, session_factory, task_queue):
    terminal = Terminal(dev_client, task_queue)
    policy_id = f"pol-walk-{os.getpid()}"
    async with running_worker(dev_client, session_factory, task_queue):
        started = await terminal.ok("policy", "apply", str(EXAMPLES / "application.json"), "--policy-id", policy_id)
        assert f"policy id    {policy_id}" in started

        early = await terminal.refused("policy", "findings", policy_id, str(EXAMPLES / "findings.json"), "--wait", "0")
        assert "is not in cover: it is awaiting_assessment" in early

        assessed = await terminal.ok("policy", "assess", policy_id, str(EXAMPLES / "assessment.json"))
        assert "risk score" in assessed and "decision    accept" in assessed

        accepted = await terminal.ok("policy", "accept", policy_id)
        assert f"quote {policy_id}-t1 accepted" in accepted and "policy number" in accepted

        sent = await terminal.ok("policy", "findings", policy_id, str(EXAMPLES / "findings.json"))
        assert "3 finding(s) from vendor-anheng-01 sent" in sent

        handle = dev_client.get_workflow_handle(f"policy-{policy_id}")
        await eventually(handle, lambda s: s.findings.total == 3)
        shown = json.loads(await terminal.ok("policy", "show", policy_id, "--json"))
        assert shown["phase"] == "in_force" and shown["findings"]["total"] == 3
        assert shown["findings_ignored"] == 0
        table = await terminal.ok("policy", "show", policy_id)
        assert "3 reported" in table and "¥" in table  # the premium, formatted as everywhere in the CLI


async def test_accept_says_why_when_the_case_is_referred(dev_client, session_factory, task_queue, tmp_path):
    terminal = Terminal(dev_client, task_queue)
    policy_id = f"pol-refer-{os.getpid()}"
    risky = tmp_path / "risky.json"
    risky.write_text(json.dumps({"report": risky_assessment("vendor-anheng-01").model_dump(mode="json")}), encoding="utf-8")
    async with running_worker(dev_client, session_factory, task_queue):
        await terminal.ok("policy", "apply", str(EXAMPLES / "application.json"), "--policy-id", policy_id)
        assessed = await terminal.ok("policy", "assess", policy_id, str(risky))
        assert "decision    refer" in assessed and f"cyberins policy approve {policy_id}" in assessed

        refused = await terminal.refused("policy", "accept", policy_id, "--wait", "20")
        assert "referred to an underwriter" in refused and "cyberins policy approve" in refused
        assert len([line for line in refused.splitlines() if line.startswith("error: ")]) == 1
