"""The operator's Temporal UI reads decrypted payloads from the first click.

Against a real `cyberins dev` stack (free ports, its own state folder): the UI's codec settings name
the stack's codec server; a call from the UI's own origin decodes a payload Temporal stores encrypted,
with no sign-in; a call from another origin, or from no browser at all, is refused. The panel prints
the operator's links whole, and every query in them is one Temporal's visibility accepts. The
production manifests configure the UI to send the codec server's session cookie.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

import httpx
import yaml
from rich.console import Console

from codec.aes import AesGcmPayloadCodec
from devstack.panel import copyable_lines, print_stack
from devstack.protection import DataProtection
from devstack.temporal import TemporalDevServer
from settings import Settings
from tests.codec.keys import keyring
from tests.integration.test_devstack import (
    EXAMPLE,
    TEMPORAL,
    RunningStack,
    clean_env,
    pick_free_ports,
    stack_folder,  # noqa: F401 - the fixture
    start_stack,
    stop_and_check_gone,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
QUESTIONS = (
    "Reports to the authorities overdue",
    "Claims waiting for approval",
    "Referrals waiting for an underwriter",
    "Qualifications past their contact service level",
)


def stored_start_input(stack: RunningStack, workflow_id: str) -> dict:
    """The start input as Temporal stores it (protobuf JSON), read without any codec."""
    shown = subprocess.run(
        [str(TEMPORAL), "workflow", "show", "--address", f"127.0.0.1:{stack.ports['temporal']}",
         "--workflow-id", workflow_id, "--output", "json"],
        check=True, capture_output=True, text=True, timeout=30, env=clean_env(),
    )
    started = json.loads(shown.stdout)["events"][0]["workflowExecutionStartedEventAttributes"]
    return started["input"]


def panel_links(output: str) -> dict[str, str]:
    """Each operator question the panel printed, and the line right after it."""
    lines = output.splitlines()
    return {lines[i].rstrip(":"): lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if line.rstrip(":") in QUESTIONS}


def visibility_accepts(stack: RunningStack, query: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TEMPORAL), "workflow", "count", "--address", f"127.0.0.1:{stack.ports['temporal']}", "--query", query],
        check=False, capture_output=True, text=True, timeout=30, env=clean_env(),
    )


def test_the_dev_ui_decodes_from_the_first_click_and_no_one_else_does(stack_folder: Path) -> None:  # noqa: F811
    state_dir = stack_folder / "state"
    stack = start_stack(state_dir, pick_free_ports(), "operator-ui")
    try:
        ui = f"http://localhost:{stack.ports['ui']}"
        codec = f"http://localhost:{stack.ports['codec']}"
        settings = httpx.get(f"{ui}/api/v1/settings", timeout=10).json()
        assert settings["Codec"]["Endpoint"] == codec

        policy_id = "pol-operatorui001"
        applied = stack.cli("policy", "apply", str(EXAMPLE), "--policy-id", policy_id)
        assert applied.returncode == 0, applied.stderr
        stored = stored_start_input(stack, f"policy-{policy_id}")
        [payload] = stored["payloads"]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
        assert policy_id.encode() not in base64.b64decode(payload["data"])

        # What the UI's page sends: a preflight, then the call with its Origin and no credentials.
        from_the_ui = {"Origin": ui, "Content-Type": "application/json", "X-Namespace": "default"}
        preflight = httpx.options(f"{codec}/decode", headers={
            "Origin": ui, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        }, timeout=10)
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ui
        decoded = httpx.post(f"{codec}/decode", json=stored, headers=from_the_ui, timeout=10)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == ui
        [plain] = decoded.json()["payloads"]
        assert base64.b64decode(plain["metadata"]["encoding"]) == b"json/plain"
        assert policy_id in base64.b64decode(plain["data"]).decode()
        also_local = {**from_the_ui, "Origin": f"http://127.0.0.1:{stack.ports['ui']}"}
        assert httpx.post(f"{codec}/decode", json=stored, headers=also_local, timeout=10).status_code == 200

        for refused in (
            {"Content-Type": "application/json"},  # no browser's origin: a program needs the token
            {**from_the_ui, "Origin": "http://evil.example"},
            {**from_the_ui, "Origin": f"http://localhost:{stack.ports['api']}"},  # another local page
            {**from_the_ui, "Host": f"rebound.example:{stack.ports['codec']}"},
        ):
            answer = httpx.post(f"{codec}/decode", json=stored, headers=refused, timeout=10)
            assert answer.status_code == 401, (refused, answer.text)
            assert policy_id not in answer.text
        token = (state_dir / "codec-token").read_text().strip()
        with_token = httpx.post(
            f"{codec}/decode", json=stored, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert with_token.status_code == 200

        links = panel_links(stack.out.read_text())
        assert set(links) == set(QUESTIONS), stack.output()
        for question, link in links.items():
            assert link.startswith(f"{ui}/namespaces/default/workflows?query="), link
            query = httpx.URL(link).params["query"]
            counted = visibility_accepts(stack, query)
            assert counted.returncode == 0, (question, query, counted.stderr)
    finally:
        stop_and_check_gone(stack, state_dir)


def test_deployed_uis_send_the_codec_servers_cookie() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    ui_env = compose["services"]["temporal-ui"]["environment"]
    assert ui_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"].rstrip("/") == "http://localhost:8301"
    codec_env = compose["services"]["codec"]["environment"]
    assert ui_env["TEMPORAL_CORS_ORIGINS"] in codec_env["CYBERINS_CODEC_CORS_ORIGINS"].split(",")

    values = yaml.safe_load((DEPLOY / "k8s" / "temporal-values.yaml").read_text())
    web_env = {item["name"]: item["value"] for item in values["web"]["additionalEnv"]}
    assert web_env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert web_env["TEMPORAL_CODEC_ENDPOINT"].startswith("https://")


def test_the_panel_prints_each_copyable_line_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, temporal_ui_port=18233, api_port=18300, codec_port=18301)
    server = TemporalDevServer(tmp_path, 17233, 18233)
    protection = DataProtection(
        AesGcmPayloadCodec(keyring("k1")), "t", None, tmp_path / "codec-token", "http://localhost:18301"
    )
    out = io.StringIO()
    print_stack(Console(file=out, width=40, force_terminal=False), settings, server, None,
                "postgresql+asyncpg://postgres@127.0.0.1:1/cyberins", tmp_path, protection)
    printed = out.getvalue().splitlines()
    lines = copyable_lines(settings, server, protection)
    assert {label for label, _ in lines} >= set(QUESTIONS)
    for _, line in lines:
        assert len(line) > 40
        assert f"  {line}" in printed, line
