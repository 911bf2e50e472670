"""Who takes part in the chain, and the one model every workflow notifies a party through."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.boundaries import Instant


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)


class Party(StrEnum):
    INSURER = "insurer"
    INSURED = "insured"
    VENDOR = "vendor"
    OPERATOR = "operator"
    PLATFORM = "platform"  # the open platform's operations team (§8)
    PROVIDER = "provider"  # a platform's service provider seeking qualification


class ActingParty(_Message):
    """The party whose request a workflow carries out: filled by the API from the key that signed the
    request, never from its body. Activities that write on it name it on the audit trail. Ids only."""

    party_kind: str = Field(max_length=32)
    party_id: str = Field(max_length=64)
    key_id: str | None = Field(default=None, max_length=64)


class Notification(_Message):
    """A decision to tell a party something: the one model every workflow notifies through.

    `kind` names it as the workflows always have; domain/notifications.py gives the event type parties
    see. The recipient is `recipient_id` when named, else every party of that kind granted the object.
    `dedupe_key` is unique: the same notification emitted twice is one event per party.
    """

    dedupe_key: str = Field(max_length=300)
    policy_id: str | None = None
    recipient: Party
    recipient_id: str | None = None
    kind: str
    payload: dict[str, str | int | bool | None] = Field(default_factory=dict)
    # What it is about when not the narrowest id in the payload (a qualification, a pilot deadline).
    subject: str | None = None
    subject_id: str | None = None
    at: Instant | None = None  # when it was decided (workflow time); None: when it is stored
