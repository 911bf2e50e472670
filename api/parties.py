"""The kinds of party that call the API and of object they act on; light enough for the CLI to import."""

from __future__ import annotations

from enum import StrEnum


class PartyKind(StrEnum):
    INSURED = "insured"
    VENDOR = "vendor"
    INSURER = "insurer"
    PLATFORM = "platform"  # an open platform's operations team (qualifications: docs/domain.md)


class ObjectKind(StrEnum):
    POLICY = "policy"
    INCIDENT = "incident"
    CLAIM = "claim"
    QUALIFICATION = "qualification"
