"""Every patch id the workflows branch on, named once.

A change to workflow code that would not replay a committed history goes behind `workflow.patched`
with one of these ids; the comment says which histories the old branch keeps replaying. An id is
never reused or renamed: it is recorded in the histories of the workflows that took the new branch.
"""

from __future__ import annotations

# Search attributes for the operator's views; histories recorded before them replay without.
OPERATOR_SEARCH_ATTRIBUTES = "operator-search-attributes"
# A monitoring finding that signals active compromise opens an incident; older policy histories only notified.
ESCALATION_OPENS_INCIDENT = "escalation-opens-incident"
# The closing report's working days follow China's calendar (holidays, 调休), counted in an activity.
CLOSING_REPORT_ON_CHINA_CALENDAR = "closing-report-china-calendar"
# Records and notifications are short database writes, run as local activities (workflows/gateway.py),
# and a timeline entry is written with the notifications it causes, in one.
LOCAL_RECORDS = "incident-local-records"
# Progress dated ahead of the workflow's clock, or before discovery, is dropped. The recorded
# incident_ransomware*.json histories carry progress sent ahead of the clock by their test: they keep
# replaying through the branch that takes it as it comes.
RESPONSE_TIMES_CHECKED = "response-times-checked"
# A reopened claim needs a new determination before it can be approved or paid again.
REOPEN_NEEDS_DETERMINATION = "reopen-needs-determination"
# The qualification and pilot workflows moved onto the one notification activity;
# qualification_mlps_before_one_notification_path.json keeps replaying the old activities.
ONE_NOTIFICATION_PATH = "one-notification-path"
# Incident, qualification and pilot deadline: handlers and background work take turns under one lock,
# a message rechecks what its validator checked once it has its turn, and the incident's run ends its
# background tasks itself (a failure in one fails the run). incident_ransomware*.json,
# qualification_mlps*.json and pilot_deadline.json keep replaying with handlers interleaving.
MESSAGES_IN_TURN = "messages-in-turn"
# The claim's messages take turns under its one lock: a subrogation too, every message waits until the
# claim is recorded, and each asks the claim's process again when its turn comes. Subrogations in claim
# histories recorded before it stay outside the lock; claim_ransomware.json and claim_reopened*.json
# never reach a place where the new code parts from the old, and replay either way.
CLAIM_MESSAGES_IN_TURN = "claim-messages-in-turn"
# Findings a policy drops are told to the vendor that sent them, as well as kept in its status. Policy
# histories recorded before it said so in the status only; they replay without the notice.
FINDINGS_DROPPED_NOTICE = "findings-dropped-notice"
# The operator's overdue views are exact: CyberinsReportOverdue goes back to false when a late report
# is filed, and CyberinsContactOverdue marks a qualification whose contact is overdue until it is made.
# Incident and qualification histories recorded before it replay without those upserts.
OPERATOR_OVERDUE_VIEWS = "operator-overdue-views"
