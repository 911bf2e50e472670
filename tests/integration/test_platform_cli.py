"""Platform operations' and the pilot programme's commands, as real `cyberins` subprocesses against a
real dev server and worker."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path

from domain.qualification import QualificationApplication
from tests.builders import VALID_USCC
from tests.domain.test_pilot import INSURER, scheme, unit
from tests.integration.test_operator_cli import Operator
from tests.workflows.support import running_worker
from workflows.starting import apply_for_qualification


def operator_for(client, task_queue: str) -> Operator:
    operator = Operator(client)
    operator.env["CYBERINS_TASK_QUEUE"] = task_queue
    return operator


async def test_platform_operations_contact_decide_and_show_a_qualification(dev_client, session_factory, task_queue):
    operator = operator_for(dev_client, task_queue)
    async with running_worker(dev_client, session_factory, task_queue):
        application = QualificationApplication(provider_id=f"prov-{uuid.uuid4().hex[:6]}",
                                               unified_social_credit_code=VALID_USCC, insurer_id="ins-1")
        qualification_id, handle = await apply_for_qualification(dev_client, task_queue, application, "console")
        refusal = await operator.refused("qualification", "decide", qualification_id, "--operator", "ops-1",
                                         "--reason", "looks fine")
        assert "record the contact first" in refusal
        out = await operator.ok("qualification", "contact", qualification_id, "--operator", "ops-1")
        assert "contact recorded; phase platform_review" in out
        out = await operator.ok("qualification", "decide", qualification_id, "--operator", "ops-1", "--reason", "ok")
        assert "approved; phase insurer_contact" in out
        shown = await operator.json("qualification", "show", qualification_id)
        assert shown["phase"] == "insurer_contact" and shown["platform_contact"]["done_at"]
        rows = await operator.listed("qualification", "list", "--phase", "insurer_contact",
                                     check=lambda rows: any(r["qualification_id"] == qualification_id for r in rows))
        assert any(r["qualification_id"] == qualification_id for r in rows)
        missing = await operator.refused("qualification", "show", "qual-00000000000000000000")
        assert "qual-00000000000000000000" in missing


async def test_a_pilot_deadline_is_tracked_and_filed(dev_client, session_factory, task_queue):
    operator = operator_for(dev_client, task_queue)
    due = (date.today() + timedelta(days=400)).isoformat()
    async with running_worker(dev_client, session_factory, task_queue):
        programme = ["--programme", "shanghai", "--kind", "progress", "--due", due]
        assert f"due {due}" in await operator.ok("pilot", "track", *programme)
        assert f"due {due}" in await operator.ok("pilot", "track", *programme)  # the same deadline, once
        assert "(on time)" in await operator.ok("pilot", "filed", *programme, "--reference", "SH-2027-1")
        refusal = await operator.refused("pilot", "filed", *programme, "--reference", "again")
        assert "deadline shanghai-progress" in refusal


async def test_schemes_are_checked_against_the_pilot_rules(dev_client, tmp_path: Path):
    operator = Operator(dev_client)
    good = tmp_path / "good.json"
    good.write_text(scheme([INSURER, unit(3)]).model_dump_json())
    assert "keeps every rule" in await operator.ok("pilot", "check-scheme", str(good))
    crowded = tmp_path / "crowded.json"
    crowded.write_text(scheme([unit(n) for n in range(10, 21)]).model_dump_json())
    broken = await operator.run("pilot", "check-scheme", str(crowded), "--schemes-led", "5")
    assert broken.returncode == 1
    assert [line.split(":")[0].strip() for line in broken.stderr.splitlines()[1:]] == [
        "max_joint_units", "max_schemes_led", "insurance_licence"
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"scheme_id": "s", "programme": "mars"}))
    result = await operator.run("pilot", "check-scheme", str(bad))
    assert result.returncode == 2 and "programme" in result.stderr


async def test_a_unit_leads_at_most_five_stored_schemes_and_a_scheme_is_not_replaced(database_url, dev_client, tmp_path):
    operator = Operator(dev_client)
    operator.env["DATABASE_URL"] = database_url
    lead = unit(77)
    for n in range(5):
        path = tmp_path / f"s{n}.json"
        path.write_text(scheme([INSURER], lead=lead).model_copy(update={"scheme_id": f"s-{n}"}).model_dump_json())
        assert "is submitted" in await operator.ok("pilot", "submit-scheme", str(path))
    again = tmp_path / "s0.json"
    assert "already submitted as it is" in await operator.ok("pilot", "submit-scheme", str(again))
    sixth = tmp_path / "s5.json"
    sixth.write_text(scheme([INSURER], lead=lead).model_copy(update={"scheme_id": "s-5"}).model_dump_json())
    refused = await operator.run("pilot", "submit-scheme", str(sixth))
    assert refused.returncode == 1 and "max_schemes_led: the lead unit already leads 5 schemes" in refused.stderr
    changed = tmp_path / "changed.json"
    changed.write_text(scheme([INSURER, unit(3)], lead=lead).model_copy(update={"scheme_id": "s-1"}).model_dump_json())
    replaced = await operator.run("pilot", "submit-scheme", str(changed))
    assert replaced.returncode == 1 and "id_taken: scheme s-1 is already submitted with other content" in replaced.stderr


async def test_a_hospital_submits_at_most_two_projects(database_url, dev_client, tmp_path):
    from tests.domain.test_pilot import healthcare

    operator = Operator(dev_client)
    operator.env["DATABASE_URL"] = database_url
    for n in range(3):
        path = tmp_path / f"h{n}.json"
        path.write_text(healthcare().model_copy(update={"application_id": f"sh-{n}"}).model_dump_json())
        result = await operator.run("pilot", "submit-healthcare", str(path))
        if n < 2:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 1 and "max_projects_per_applicant" in result.stderr
