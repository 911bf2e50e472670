"""The API's operations endpoints: /ready checks what the API depends on, /metrics counts requests by
route template (never by path, which carries ids) in the names the Grafana dashboard charts."""

from __future__ import annotations

import httpx

from api.context import PartyKind
from tests.integration.test_observability import dashboard_metrics, scraped_names


async def test_ready_reports_the_database_and_temporal(api_stack):
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30) as http:
        answer = await http.get("/ready")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


async def test_metrics_count_requests_by_route_template_and_hold_what_the_dashboard_charts(api_stack):
    issued = await api_stack.credentials(PartyKind.INSURER)
    async with httpx.AsyncClient(base_url=api_stack.base_url, timeout=30,
                                 headers={"Authorization": f"Bearer {issued.token}"}) as http:
        assert (await http.get("/v1/policies/pol-0123456789ab")).status_code == 404
        assert (await http.get("/v1/no-such-thing/secret-looking-id")).status_code == 404
        exposition = (await http.get("/metrics")).text

    counted = [line for line in exposition.splitlines() if line.startswith("cyberins_api_requests_total{")]
    assert any('route="/v1/policies/{policy_id}"' in line and 'status="404"' in line for line in counted), counted
    assert any('route="unmatched"' in line for line in counted), counted
    assert "pol-0123456789ab" not in exposition and "secret-looking-id" not in exposition
    charted = {m for m in dashboard_metrics() if m.startswith("cyberins_")}
    assert charted and charted <= scraped_names(exposition)
