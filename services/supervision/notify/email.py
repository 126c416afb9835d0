"""The e-mail of an escalation: its Vietnamese subject and body, and its sending over SMTP."""

from __future__ import annotations

import json
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from services.shared import escalation_rules
from services.supervision.notify.encoding import as_utc, json_default


def build_email(notification_id: str, escalation: dict[str, Any], to: list[str],
                from_address: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = email_subject(escalation)
    message["From"] = from_address
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(as_utc(now))
    message["Message-ID"] = f"<{notification_id}@chibo.notifications>"
    message["X-Chibo-Notification-Id"] = notification_id
    message["X-Chibo-Escalation-Id"] = str(escalation.get("escalation_id", ""))
    message.set_content(email_body(notification_id, escalation), charset="utf-8",
                        cte="quoted-printable")
    return message


def rule_label(escalation: dict[str, Any]) -> str:
    """The rule's Vietnamese label from the catalogue (the code itself only for a rule
    the catalogue does not know, which the event schema never lets through)."""
    if escalation.get("rule_label"):
        return str(escalation["rule_label"])
    rule = escalation_rules.rule_of(escalation.get("rule"))
    return rule.label_vi if rule else str(escalation.get("rule", "")).replace("_", " ")


def period_label(escalation: dict[str, Any]) -> str:
    """"tháng 10/2026", "quý III/2026", or for a task "hạn 01/02/2026"."""
    return escalation_rules.period_label(escalation, "vi", in_sentence=True)


def reason_text(escalation: dict[str, Any]) -> str:
    """Why, in Vietnamese, read from the escalation's facts; a `reason` given without
    them (a payload built by hand) is shown as it is."""
    if escalation.get("details") or not escalation.get("reason"):
        return escalation_rules.reason(escalation, "vi")
    return str(escalation["reason"])


def email_subject(escalation: dict[str, Any]) -> str:
    subject = f"[chibo] Cảnh báo cấp {escalation.get('level', '?')}: {rule_label(escalation)}"
    if period := period_label(escalation):
        subject += f" {period}"
    if escalation.get("subject_name"):
        subject += f" – {escalation['subject_name']}"
    return subject


def email_body(notification_id: str, escalation: dict[str, Any]) -> str:
    def field(key: str) -> str:
        value = escalation.get(key)
        return "" if value is None else str(value)

    raised_on = escalation.get("raised_on")
    lines = [
        f"Cảnh báo cấp {field('level')}: {rule_label(escalation)}",
        "",
        f"Đối tượng: {field('subject_name')} ({field('subject_id')})",
        f"Kỳ: {period_label(escalation)}",
        f"Lý do: {reason_text(escalation)}",
        f"Gửi cấp ủy: {field('target_name')} ({field('target_unit_id')})",
        f"Ngày phát sinh: {escalation_rules.format_day(raised_on) if raised_on else ''}",
        f"Quy tắc: {field('rule')}",
        f"Mã cảnh báo: {field('escalation_id')}",
        f"Mã thông báo: {notification_id}",
    ]
    known = {"level", "rule", "rule_label", "subject_name", "subject_id", "period", "reason",
             "details", "target_name", "target_unit_id", "raised_on", "escalation_id"}
    extra = sorted(k for k in escalation if k not in known)
    if extra:
        lines.append("")
        lines += [f"{k}: {_plain(escalation[k])}" for k in extra]
    lines += ["", "Thư này do hệ thống chibo gửi tự động; xin đừng trả lời thư này."]
    return "\n".join(lines) + "\n"


def smtp_send(smtp: dict[str, Any], message: EmailMessage) -> dict[str, Any]:
    """Send over SMTP as configured; raises on failure, returns refused recipients."""
    host, port = smtp["host"], int(smtp["port"])
    timeout = float(smtp.get("timeout_seconds") or 30)
    client: smtplib.SMTP
    if smtp.get("ssl"):
        client = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if smtp.get("starttls") and not smtp.get("ssl"):
            client.starttls(context=ssl.create_default_context())
        if smtp.get("username"):
            client.login(str(smtp["username"]), str(smtp.get("password") or ""))
        return dict(client.send_message(message))


def _plain(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=json_default)
    return str(value)
