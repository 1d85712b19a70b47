"""The test email: walk the real conversation, report every step, and say what to change.

The transcript is built from the SMTP session's own step events, so the test takes
exactly the path an alarm email takes.  When a step fails, a hint is chosen from
the failure; where the symptom is ambiguous (no greeting, a TLS error right after
connecting), a short probe of the port tells SSL from STARTTLS ports apart.

Where it lives: ``run`` (`run_test_email`: the conversation), ``report`` (`CheckStep`,
`TestEmailReport`), ``transcript`` (step events into report lines), ``hints`` (what to
change), ``probes`` (short looks at the server's port), ``mail`` (the test email
itself).  Import from ``tocsin.transports.diagnostics`` itself.
"""

from tocsin.transports.diagnostics.hints import recipient_hint, send_as_denied
from tocsin.transports.diagnostics.mail import compose_test_email, test_email_html
from tocsin.transports.diagnostics.report import CheckStep, Progress, TestEmailReport
from tocsin.transports.diagnostics.run import run_test_email

__all__ = [
    "CheckStep",
    "Progress",
    "TestEmailReport",
    "compose_test_email",
    "recipient_hint",
    "run_test_email",
    "send_as_denied",
    "test_email_html",
]
