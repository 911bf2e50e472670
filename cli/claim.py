"""`cyberins claim`: loss determination (定责定损) as a what-if, with no server involved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cli.errors import EXIT_BAD_INPUT, describe_validation_error, fail
from domain.errors import DomainRuleError
from domain.loss import LimitsUsed, LossConditions, LossItem, LossStatement, determine_loss
from domain.schedule import CoverageSchedule

app = typer.Typer(help="Work out what a claim would pay.", no_args_is_help=True)


class WhatIfClaim(BaseModel):
    """The file `claim calculate` reads: a schedule, what earlier claims used, the facts, the items."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule: CoverageSchedule
    limits_used: LimitsUsed = Field(default_factory=LimitsUsed)
    conditions: LossConditions = Field(default_factory=LossConditions)
    items: list[LossItem]


def read_claim(path: Path) -> WhatIfClaim:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text", EXIT_BAD_INPUT)
    except json.JSONDecodeError as error:
        fail(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
            EXIT_BAD_INPUT,
        )
    try:
        return WhatIfClaim.model_validate(data)
    except ValidationError as error:
        problems = describe_validation_error(error, whole="claim")
        fail(f"{path} is not a valid claim:\n  " + "\n  ".join(problems), EXIT_BAD_INPUT)


def calculate_statement(claim: WhatIfClaim) -> LossStatement:
    try:
        return determine_loss(claim.schedule, claim.items, claim.conditions, claim.limits_used)
    except DomainRuleError as error:
        fail(f"the loss cannot be determined ({error.code}): {error.message}", EXIT_BAD_INPUT)


@app.command("calculate")
def calculate(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="schedule, limits_used, conditions and items as JSON",
        ),
    ],
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent the JSON")] = False,
) -> None:
    """Print the loss statement of a claim under a schedule as JSON (money in integer fen)."""
    statement = calculate_statement(read_claim(file))
    typer.echo(statement.model_dump_json(indent=2 if pretty else None))
