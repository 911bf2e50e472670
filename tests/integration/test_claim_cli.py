"""`cyberins claim calculate`: the loss statement of a what-if claim, and its answers to bad files.

The command needs no server. The example and one file of each kind of fault run the real command as a
subprocess; the further variations of a fault run the same Typer app in process, which is faster.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import claim
from cli.claim import WhatIfClaim

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "loss_what_if.json"


def calculate(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "claim", "calculate", str(path), *options],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def calculate_in_process(path: Path) -> typer.testing.Result:
    app = typer.Typer()
    app.add_typer(claim.app, name="claim")
    return CliRunner().invoke(app, ["claim", "calculate", str(path)])


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "claim.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_the_example_is_a_valid_claim() -> None:
    claim = WhatIfClaim.model_validate(example())
    assert len(claim.items) == 6 and claim.limits_used.aggregate.fen == 150_000_000


def test_the_example_statement() -> None:
    result = calculate(EXAMPLE, "--pretty")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("{\n  ")  # indented
    statement = json.loads(result.stdout)
    lines = {line["head"]: line for line in statement["lines"]}
    assert list(lines) == [
        "business_interruption",
        "data_asset_restoration",
        "emergency_response",
        "ransomware_extortion",
    ]
    # BI, higher_of: rate 18,000 + 12,000 = 30,000 yuan/h = 50,000 fen a minute; outage 20 Apr 22:40 to
    # 23 Apr 10:57 = 3,617 min (cap 120 days). Covered loss 3,617 × 50,000 = 180,850,000 fen;
    # waiting-period loss 720 × 50,000 = 36,000,000 > R 10,000,000, so 180,850,000 - 36,000,000.
    bi = lines["business_interruption"]
    assert bi["bi_covered_minutes"] == 3_617 and bi["bi_rule"] == "higher_of"
    assert bi["gross"]["fen"] == 180_850_000 and bi["payable"]["fen"] == 144_850_000
    # Data restoration: 2,100,000 - 100,000 = 2,000,000 yuan, but the earlier claim left 1,800,000.
    restore = lines["data_asset_restoration"]
    assert restore["net_of_retention"]["fen"] == 200_000_000
    assert restore["sublimit_remaining"]["fen"] == restore["payable"]["fen"] == 180_000_000
    # Emergency response and forensics by panel vendors: 460,000 + 180,000 - 50,000 = 590,000 yuan.
    assert lines["emergency_response"]["payable"]["fen"] == 59_000_000
    # Ransom and negotiation: (1,200,000 + 80,000 - 100,000) × 80% = 944,000 yuan.
    ransom = lines["ransomware_extortion"]
    assert ransom["coinsurance_bps"] == 2_000
    assert ransom["net_of_retention"]["fen"] == 118_000_000 and ransom["payable"]["fen"] == 94_400_000
    # 144,850,000 + 180,000,000 + 59,000,000 + 94,400,000; the aggregate had 18,500,000 yuan left.
    assert statement["total_payable"]["fen"] == 478_250_000
    assert statement["aggregate_remaining_after"]["fen"] == 1_850_000_000 - 478_250_000
    assert statement["limits_used_after"]["by_head"]["data_asset_restoration"]["fen"] == 300_000_000
    assert statement["exclusions_applied"] == []


def test_without_pretty_the_statement_is_one_line() -> None:
    result = calculate(EXAMPLE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and json.loads(result.stdout)["total_payable"]["fen"] == 478_250_000


def test_a_ransom_without_a_police_report_is_excluded(tmp_path) -> None:
    data = example()
    data["conditions"]["police_report_filed"] = False
    result = calculate_in_process(write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert result.exit_code == 0, result.stderr
    statement = json.loads(result.stdout)
    assert statement["exclusions_applied"] == ["ransom_without_police_report"]
    assert statement["total_payable"]["fen"] == 478_250_000 - 94_400_000


def test_an_invalid_file_is_refused_naming_the_field(tmp_path) -> None:
    data = example()
    data["items"][1]["amount"]["fen"] = -5
    result = calculate(write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not a valid claim" in result.stderr
    assert "items[1].amount.fen: Input should be greater than or equal to 0" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_a_claim_that_breaks_a_rule_is_refused_with_its_code(tmp_path) -> None:
    data = example()
    data["items"][1]["head"] = "public_relations"
    result = calculate(write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: the loss cannot be determined (head_not_covered)" in result.stderr
    assert "public_relations is not on this policy's schedule" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr


def test_a_file_that_is_not_json_is_refused(tmp_path) -> None:
    result = calculate(write(tmp_path, '{"schedule": '))
    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr and "line 1 column" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_file_is_refused(tmp_path) -> None:
    result = calculate(tmp_path / "nowhere.json")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr


def _with_unknown_head(data: dict) -> None:
    data["items"][3]["head"] = "space_debris"


def _without_schedule(data: dict) -> None:
    del data["schedule"]


def _with_outage_backwards(data: dict) -> None:
    data["items"][0]["business_interruption"]["outage_end"] = "2026-04-19T10:57:00+08:00"


def _with_a_naive_time(data: dict) -> None:
    data["conditions"]["first_intrusion_at"] = "2026-04-18T02:13:00"


def _with_an_unknown_condition(data: dict) -> None:
    data["conditions"]["insider_threat"] = True


@pytest.mark.parametrize(
    ("broken", "field", "words"),
    [
        (_with_unknown_head, "items[3].head", "Input should be"),
        (_without_schedule, "schedule", "Field required"),
        (_with_outage_backwards, "items[0].business_interruption", "outage_end must be after outage_start"),
        (_with_a_naive_time, "conditions.first_intrusion_at", "timezone"),
        (_with_an_unknown_condition, "conditions.insider_threat", "Extra inputs are not permitted"),
    ],
)
def test_each_invalid_field_is_named(tmp_path, broken, field, words) -> None:
    data = example()
    broken(data)
    result = calculate_in_process(write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"{field}: " in result.stderr and words in result.stderr
    assert result.stdout == ""


def _with_a_duplicate_id(data: dict) -> None:
    data["items"][2]["item_id"] = "ransom-payment"


def _with_two_outages(data: dict) -> None:
    data["items"].append(dict(data["items"][0], item_id="bi-2"))


def _without_items(data: dict) -> None:
    data["items"] = []


def _with_an_amount_missing(data: dict) -> None:
    del data["items"][5]["amount"]


@pytest.mark.parametrize(
    ("broken", "code", "words"),
    [
        (_with_a_duplicate_id, "duplicate_item_id", "'ransom-payment'"),
        (_with_two_outages, "one_business_interruption_item", "one outage window"),
        (_without_items, "no_items", "at least one loss item"),
        (_with_an_amount_missing, "amount_missing", "item data-restore"),
    ],
)
def test_each_broken_rule_is_named_with_its_code(tmp_path, broken, code, words) -> None:
    data = example()
    broken(data)
    result = calculate_in_process(write(tmp_path, json.dumps(data, ensure_ascii=False)))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert f"the loss cannot be determined ({code})" in result.stderr and words in result.stderr
    assert result.stdout == ""
