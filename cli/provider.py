"""`cyberins provider …`: a platform's service provider applies for qualification and submits its
proofs through the API, with its own (insured) key, so that the same authentication, grants and
idempotency apply as to any other client."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.errors import EXIT_BAD_INPUT, fail
from cli.files import read_document

app = typer.Typer(help="A service provider's platform qualification, through the API.", no_args_is_help=True)

ApiKey = Annotated[
    str | None, typer.Option(envvar="CYBERINS_API_KEY", show_envvar=True, help="The provider's (insured) API key")
]
ApiUrl = Annotated[str | None, typer.Option(help="The API's base URL (default: CYBERINS_API_URL, else the local API)")]


@app.command("apply")
def apply(
    platform: Annotated[str, typer.Option(help="The open platform's id")],
    credit_code: Annotated[str, typer.Option(help="Your unified social credit code")],
    reference: Annotated[str, typer.Option(help="Your own reference; applying again with it changes nothing")],
    insurer: Annotated[str | None, typer.Option(help="The insurer chosen (the policy path)")] = None,
    mlps: Annotated[bool, typer.Option("--mlps", help="Prove security by an MLPS certificate instead")] = False,
    existing: Annotated[bool, typer.Option("--existing", help="Already a provider on the platform")] = False,
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
) -> None:
    """Apply for qualification; prints the qualification id."""
    body = {
        "reference": reference, "platform_id": platform, "unified_social_credit_code": credit_code,
        "proof_path": "mlps_certificate" if mlps else "cyber_liability_policy", "insurer_id": insurer,
        "existing_provider": existing,
    }
    created = _post(api_url, api_key, "/v1/qualifications", body, key=f"apply:{platform}:{reference}")
    typer.echo(f"Applied: qualification {created['id']}.")


@app.command("proofs")
def proofs(
    qualification_id: Annotated[str, typer.Argument(help="e.g. qual-…")],
    policy_number: Annotated[str, typer.Option(help="The bound policy's number")],
    inquiry_form: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The insurer's enterprise inquiry form")],
    assessment_report: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The system assessment report")],
    policy_document: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The policy document")],
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
) -> None:
    """Submit the four proofs. The files stay with you: each is named by its SHA-256 and size."""
    documents = {name: _document(path) for name, path in
                 (("inquiry_form", inquiry_form), ("assessment_report", assessment_report),
                  ("policy_document", policy_document))}
    body = {"policy_number": policy_number, **documents}
    key = "proofs:" + hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()[:32]
    status = _post(api_url, api_key, f"/v1/qualifications/{qualification_id}/policy-proofs", body, key=key)
    _print_status(status)


@app.command("certificate")
def certificate(
    qualification_id: Annotated[str, typer.Argument(help="e.g. qual-…")],
    path: Annotated[Path, typer.Argument(help="The MLPS certificate as JSON")],
    api_key: ApiKey = None,
    api_url: ApiUrl = None,
) -> None:
    """Submit an MLPS certificate (the alternative path)."""
    from domain.qualification import MlpsCertificate

    body = read_document(path, MlpsCertificate, what="certificate").model_dump(mode="json")
    key = "certificate:" + hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    _print_status(_post(api_url, api_key, f"/v1/qualifications/{qualification_id}/mlps-certificate", body, key=key))


def _document(path: Path) -> dict[str, Any]:
    content = path.read_bytes()
    if not content:
        fail(f"{path} is empty", EXIT_BAD_INPUT)
    return {"document_id": path.name[:128], "sha256": hashlib.sha256(content).hexdigest(), "size_bytes": len(content)}


def _post(api_url: str | None, api_key: str | None, path: str, body: dict, *, key: str) -> dict:
    from api.client import ApiClient, ApiError
    from cli.running import run_async
    from settings import get_settings

    if not api_key:
        fail("the provider's API key is needed: --api-key or CYBERINS_API_KEY", EXIT_BAD_INPUT)
    url = (api_url or get_settings().api_base_url).rstrip("/")

    async def send() -> dict:
        async with ApiClient(url, api_key) as client:
            try:
                return await client.post(path, body, key=key)
            except ApiError as error:
                problem = error.problem
                fields = "; ".join(f"{e['field']}: {e['message']}" for e in problem.get("errors", []))
                fail(f"{problem.get('detail', error)}" + (f" ({fields})" if fields else ""),
                     EXIT_BAD_INPUT if 400 <= error.status < 500 and error.status not in (404, 409) else 1)

    return run_async(send())


def _print_status(status: dict) -> None:
    typer.echo(f"Qualification {status['qualification_id']}: {status['phase']}.")
    for problem in status.get("last_problems", []):
        typer.echo(f"  {problem['code']}: {problem['message']}")
    if status.get("qualified_until"):
        typer.echo(f"  qualified until {status['qualified_until']}")
