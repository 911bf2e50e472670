"""Pydantic payloads held to the boundary rules (domain.boundaries) as Temporal decodes them.

Whatever sends a message straight to Temporal, a payload that breaks a rule or its model is refused
as a non-retryable `InvalidInput` ApplicationError rather than a Python exception. The SDK then
rejects an update, drops a signal with a logged reason, fails a workflow started with such an input
once and for all, and fails such an activity without retrying it; none of them fails workflow tasks
for ever. The message names fields, never the values, which can be an organisation's data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from domain.boundaries import breach_in_json, describe_invalid

INVALID_INPUT = "InvalidInput"


def refusal(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_INPUT, non_retryable=True)


class BoundaryJsonConverter(PydanticJSONPlainPayloadConverter):
    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        breach = breach_in_json(payload.data)
        if breach is not None:
            where, reason = breach
            raise refusal(f"invalid input: {where}: {reason}")
        try:
            return super().from_payload(payload, type_hint)
        except ValidationError as error:
            raise refusal(f"invalid input: {describe_invalid(error)}") from None


class BoundaryPayloadConverter(PydanticPayloadConverter):
    def __init__(self) -> None:
        super().__init__()
        self._set_converters(*(
            BoundaryJsonConverter() if isinstance(converter, PydanticJSONPlainPayloadConverter) else converter
            for converter in self.converters.values()
        ))


boundary_data_converter: DataConverter = dataclasses.replace(
    pydantic_data_converter, payload_converter_class=BoundaryPayloadConverter
)
