"""What cyberins tells the parties: every event type by its stable name, and what its payload may hold.

The workflows decide whom to tell with a short `kind` (kept as it is in their histories); the name a
party sees, subscribes to and pages through is the dotted event type here. An event is urgent when a
clock runs on it (a panel dispatch, a regulatory deadline, a qualification contact window): it is
attempted at once and falls back to e-mail when its webhook fails. A payload holds only the fields
listed for its type, so a workflow cannot hand one party another party's data by accident.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum


class Subject(StrEnum):
    """What an event is about: the object a party must be granted to hear of it."""

    POLICY = "policy"
    INCIDENT = "incident"
    CLAIM = "claim"
    QUALIFICATION = "qualification"
    PILOT_DEADLINE = "pilot_deadline"
    ENDPOINT = "endpoint"  # the party's own webhook endpoint (disabled, failing)
    DELIVERY = "delivery"  # a delivery that failed, told to the operators


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    urgent: bool
    fields: frozenset[str]
    title_zh: str
    title_en: str


def _type(name: str, title_zh: str, title_en: str, *fields: str, urgent: bool = False) -> EventType:
    return EventType(name, urgent, frozenset(fields), title_zh, title_en)


_FINDING = ("vendor_event_id", "severity", "asset", "title", "deadline_at")
_PHASE = ("term_number",)

# kind as the workflows write it -> the event type parties see
EVENT_TYPES: dict[str, EventType] = {
    # before cover
    "assessment_requested": _type("policy.assessment.requested", "请开展保前安全评估", "A pre-cover assessment is requested", "term_number"),
    "assessment_overdue": _type("policy.assessment.overdue", "保前评估已逾期", "The pre-cover assessment is overdue", "term_number"),
    "referral": _type("policy.underwriting.referred", "投保申请待人工核保", "An application is referred to an underwriter", "term_number"),
    "referral_reminder": _type("policy.underwriting.referral_reminder", "人工核保提醒", "A referral still waits for an underwriter", "term_number"),
    "quote_issued": _type("policy.quote.issued", "报价已出具", "A quote is issued", "premium_fen"),
    "prebind_remediation_required": _type("policy.prebind_remediation.required", "承保前需完成整改", "Remediation is required before binding", "outstanding"),
    "policy_bound": _type("policy.bound", "保单已生效", "The policy is bound", *_PHASE),
    "monitoring_assigned": _type("policy.monitoring.assigned", "请开展保中安全监测", "Monitoring during cover is assigned to you", *_PHASE),
    "declined": _type("policy.declined", "投保申请被拒绝", "The application is declined", *_PHASE),
    "quote_expired": _type("policy.quote.expired", "报价已过期", "The quote expired", *_PHASE),
    "cancelled": _type("policy.cancelled", "保单已退保", "The policy is cancelled", *_PHASE),
    "expired": _type("policy.expired", "保单已到期", "The policy expired", *_PHASE),
    # during cover
    "remediation_reminder": _type("policy.remediation.reminder", "漏洞整改即将到期", "A finding's remediation comes due", *_FINDING),
    "remediation_overdue": _type("policy.remediation.overdue", "漏洞整改已逾期", "A finding's remediation is overdue", *_FINDING),
    "active_compromise": _type("policy.compromise.detected", "监测发现正在发生的入侵", "Monitoring found an active compromise", "vendor_event_id", urgent=True),
    "findings_dropped": _type("policy.findings.dropped", "报送的监测发现未被接收", "Findings you sent were not taken", "policy_id", "count", "reason", "dropped_at"),
    # incidents
    "late_notice": _type("incident.notice.late", "事故报案晚于约定期限", "The incident was reported late", "incident_id"),
    "incident_not_covered": _type("incident.not_covered", "事故不在保障范围内", "The incident is not covered", "incident_id"),
    "emergency_dispatch": _type("incident.dispatch.requested", "应急响应派单，请立即确认", "Emergency response dispatched to you: acknowledge now", "incident_id", urgent=True),
    "dispatch_escalated": _type("incident.dispatch.escalated", "派单未获确认，已转下一家服务商", "A dispatch went unacknowledged and moved to the next vendor", "incident_id", urgent=True),
    "no_panel_vendor_acknowledged": _type("incident.dispatch.unanswered", "无服务商确认应急派单", "No panel vendor acknowledged the dispatch", "incident_id", urgent=True),
    "regulatory_report_due": _type("incident.report.due", "须向主管部门报告事故", "The incident must be reported to the authorities", "incident_id", urgent=True),
    "regulatory_report_reminder": _type("incident.report.reminder", "事故报告期限将至", "The report to the authorities is nearly due", "incident_id", urgent=True),
    "regulatory_report_overdue": _type("incident.report.overdue", "事故报告已逾期", "The report to the authorities is overdue", "incident_id", urgent=True),
    "closing_report_overdue": _type("incident.closing_report.overdue", "事故总结报告已逾期", "The closing report is overdue", "incident_id"),
    # claims
    "late_notice_on_claim": _type("claim.notice.late", "理赔报案晚于约定期限", "The claim's notice was late", "claim_id"),
    "claim_offer": _type("claim.offer.made", "赔付方案待确认", "A settlement offer waits for you", "claim_id"),
    "claim_disputed": _type("claim.disputed", "被保险人对理算有异议", "The insured disputes the settlement", "claim_id"),
    # platform qualification
    "qualification_applied": _type("qualification.applied", "收到资质申请", "A qualification application arrived"),
    "intent_form": _type("qualification.intent_form.issued", "投保意向单已发出，请联系服务商", "An intent form is issued: contact the provider", "intent_id", urgent=True),
    "platform_contact_reminder": _type("qualification.platform_contact.reminder", "请在时限内联系申请方", "Contact the applicant before the window closes", urgent=True),
    "platform_contact_overdue": _type("qualification.platform_contact.overdue", "平台联系申请方已超时", "The platform's contact window has passed", urgent=True),
    "insurer_contact_reminder": _type("qualification.insurer_contact.reminder", "请在时限内联系服务商", "Contact the provider before the window closes", urgent=True),
    "insurer_contact_overdue": _type("qualification.insurer_contact.overdue", "保险公司联系服务商已超时", "The insurer's contact window has passed", urgent=True),
    "qualification_renewal_reminder": _type("qualification.renewal.reminder", "资质即将到期，请续保", "The qualification runs out: renew the policy", "days_before_expiry"),
    "qualification_rejected": _type("qualification.rejected", "资质申请未通过", "The qualification application is rejected"),
    "qualification_suspended": _type("qualification.suspended", "资质已暂停", "The qualification is suspended"),
    "qualified": _type("qualification.granted", "资质已认定", "The qualification is granted"),
    # the pilot's own deadlines (operators)
    "pilot_report_reminder": _type("pilot.report.reminder", "试点报送期限将至", "A pilot report is nearly due", "programme", "report", "due", "days_before", urgent=True),
    "pilot_report_overdue": _type("pilot.report.overdue", "试点报送已逾期", "A pilot report is overdue", "programme", "report", "due", "days_before", urgent=True),
    # about deliveries themselves
    "endpoint_disabled": _type("endpoint.disabled", "Webhook 端点已停用", "A webhook endpoint is disabled", "endpoint_id", "reason"),
    "delivery_failed": _type("delivery.failed", "通知投递失败", "A notification could not be delivered", "event_id", "event_type", "endpoint_id", "attempts"),
}

BY_NAME: dict[str, EventType] = {t.name: t for t in EVENT_TYPES.values()}


class UnknownEventKind(ValueError):
    pass


def event_type_of(kind: str) -> EventType:
    try:
        return EVENT_TYPES[kind]
    except KeyError:
        raise UnknownEventKind(f"no event type is defined for the notification kind {kind!r}") from None


def visible_payload(event: EventType, payload: dict[str, object]) -> dict[str, object]:
    """Only the fields the event's type lists: anything else a workflow put in is not sent."""
    return {key: value for key, value in payload.items() if key in event.fields}


def unknown_type_names(names: list[str]) -> list[str]:
    """Of the names a party subscribes to, those that are not event types (`*` means every type)."""
    return [name for name in names if name != "*" and name not in BY_NAME]


def subscribed(event_types: list[str], name: str) -> bool:
    return "*" in event_types or name in event_types


def subject_of(payload: dict[str, object], policy_id: str | None) -> tuple[Subject, str | None]:
    """The object an event is about when the notification does not say: the narrowest id it carries."""
    for key, subject in (("claim_id", Subject.CLAIM), ("incident_id", Subject.INCIDENT)):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return subject, value
    return Subject.POLICY, policy_id


def event_id_for(dedupe_key: str, party_kind: str, party_id: str) -> str:
    """The id a party knows an event by: the same for the same decision told to the same party, so a
    retried or replayed emission is the same event, and it is the `webhook-id` a receiver dedupes on."""
    digest = hashlib.sha256(f"{dedupe_key}\x1f{party_kind}\x1f{party_id}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode().rstrip("=").lower()[:32]


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class Outcome(StrEnum):
    """How one attempt ended."""

    DELIVERED = "delivered"  # a 2xx within the timeout, or the mail server took the message
    FAILED = "failed"  # anything else; tried again on the schedule
    GONE = "gone"  # the receiver answered 410: its endpoint is disabled at once
    INACTIVE = "inactive"  # the endpoint was paused, disabled or deleted before the attempt


def retry_schedule(text: str) -> list[int]:
    """`0s,5s,5m,30m,2h,5h,10h,10h` as the seconds to wait before each attempt."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    delays = []
    for part in text.split(","):
        part = part.strip()
        if len(part) < 2 or part[-1] not in units or not part[:-1].isdigit():
            raise ValueError(f"{part!r} is not a delay such as 0s, 5s, 5m, 2h or 1d")
        delays.append(int(part[:-1]) * units[part[-1]])
    if not delays:
        raise ValueError("the schedule needs at least one attempt")
    return delays
