"""The test email itself: its text, its subject with the time, and its HTML part in the
frame of the alarm emails; the same for the SMTP and the online-service test."""

from __future__ import annotations

import html as html_text
from datetime import datetime

from tocsin.i18n import translate
from tocsin.message import Mail, compose
from tocsin.settings import EmailSettings

__all__ = ["compose_test_email", "test_email_html"]


def compose_test_email(
    settings: EmailSettings,
    to: str,
    language: str,
    *,
    server: str,
    port: int,
    encryption: str,
    now: datetime,
) -> Mail:
    """The test email from the sender of ``settings`` to ``to``; its text names the way
    it takes (``server``, ``port``, ``encryption``) and ``now`` (UTC).

    Raises:
        ValueError: an address or a header text is not valid (see `compose`).
    """
    stamp = f"{now:%Y-%m-%d %H:%M:%S}"
    body = translate(
        "test_body",
        language,
        sender=settings.sender_address,
        server=server,
        port=port,
        encryption=encryption,
        time=f"{stamp} UTC",
    )
    subject = f"{translate('test_subject', language)} {stamp}"
    return compose(
        sender=settings.sender_address,
        sender_name=settings.sender_name,
        to=[to],
        subject=subject,
        text=body,
        html=test_email_html(body, subject, language),
        date=now,
    )


_FONT = "font-family:Arial,Helvetica,sans-serif;"


def test_email_html(text: str, subject: str, language: str) -> str:
    """The HTML part of the test email: its text, one paragraph per block, in the
    single-column frame of the alarm emails (tables and inline styles only)."""
    paragraphs = "\n".join(
        f'<p style="margin:0 0 12px 0;{_FONT}font-size:15px;line-height:22px;color:#111827;">'
        f"{html_text.escape(block).replace(chr(10), '<br>')}</p>"
        for block in (b.strip() for b in text.split("\n\n"))
        if block
    )
    title = html_text.escape(subject)
    return f"""<!DOCTYPE html>
<html lang="{html_text.escape(language)}">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:16px 8px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid #d1d5db;">
<tr><td bgcolor="#1d4ed8" style="background-color:#1d4ed8;padding:16px 24px;{_FONT}\
color:#ffffff;font-size:20px;line-height:26px;font-weight:bold;">{title}</td></tr>
<tr><td style="padding:16px 24px 8px 24px;overflow-wrap:anywhere;">
{paragraphs}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""
