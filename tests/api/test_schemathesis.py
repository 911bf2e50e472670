"""Schemathesis fuzzes every operation in the API's own OpenAPI document, as each kind of party:
whatever it sends, the API never answers with a server error.

The CLI runs as a subprocess in a temporary folder: reports and cassettes are off, and what it
writes all the same (`.schemathesis/`, `.hypothesis/`) lands there, never in the repository.
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from pathlib import Path

import pytest

from api.context import PartyKind

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 10  # fuzzing; the coverage phase adds its own boundary cases (~2,500 in all)
RUN_TIMEOUT_SECONDS = 150
LEFTOVERS = (".schemathesis", "schemathesis-report", "cassette.yaml")


@pytest.mark.parametrize("kind", list(PartyKind), ids=[kind.value for kind in PartyKind])
async def test_no_generated_request_is_a_server_error(api_stack, kind):
    issued = await api_stack.credentials(kind)
    with tempfile.TemporaryDirectory(prefix="cyberins-schemathesis-") as folder:
        process = await asyncio.create_subprocess_exec(
            str(SCHEMATHESIS), "run", f"{api_stack.base_url}/openapi.json",
            "--checks", "not_a_server_error",
            "--header", f"Authorization: Bearer {issued.token}",
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--phases", "examples,coverage,fuzzing",
            "--generation-database", "none",
            "--seed", "20260101",
            "--request-timeout", "30",
            # One worker: with several threads, Hypothesis's lambda descriptions hit CPython 3.11's
            # "AST constructor recursion depth mismatch" inside Schemathesis's coverage phase.
            "--workers", "1",
            "--no-color",
            "--output-truncate", "true",
            cwd=folder,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            output, _ = await process.communicate()
            pytest.fail(f"schemathesis ran over {RUN_TIMEOUT_SECONDS} s:\n{output.decode(errors='replace')[-20000:]}")
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"schemathesis exited with {process.returncode}:\n{text[-20000:]}"
    generated = re.search(r"(\d+) generated", text)
    assert generated and int(generated.group(1)) > 0, text[-5000:]
    assert not [name for name in LEFTOVERS if (REPOSITORY / name).exists()]
