"""Texts of the users, alarm groups, events and delivery log pages, English and German."""

from __future__ import annotations

from typing import Final

__all__ = ["PAGE_TEXTS"]

PAGE_TEXTS: Final[dict[str, dict[str, str]]] = {
    # ---------------------------------------------------------------- users
    "users_title": {"en": "Users", "de": "Benutzer"},
    "users_intro": {
        "en": "The people Tocsin emails: each sees the alarm groups assigned to them "
        "(including their subgroups) and chooses, per category, whether to get email.",
        "de": "Die Personen, denen Tocsin E-Mails sendet: Jede sieht die ihr zugewiesenen "
        "Alarmgruppen (samt Untergruppen) und wählt je Kategorie, ob sie E-Mails erhält.",
    },
    # ---------------------------------------------------------------- groups
    "groups_title": {"en": "Alarm groups", "de": "Alarmgruppen"},
    "groups_intro": {
        "en": "Alarm groups form a tree (site → building → room). A group inherits each "
        "category's notification settings from its parent unless it overrides them.",
        "de": "Alarmgruppen bilden einen Baum (Standort → Gebäude → Raum). Eine Gruppe erbt "
        "die Benachrichtigungseinstellungen jeder Kategorie von der übergeordneten Gruppe, "
        "sofern sie sie nicht überschreibt.",
    },
    # ---------------------------------------------------------------- events
    "events_title": {"en": "Events", "de": "Ereignisse"},
    "events_intro": {
        "en": "The most recent alarms and warnings, with the emails each one caused, and a "
        "form to simulate an event for testing.",
        "de": "Die neuesten Alarme und Warnungen mit den dadurch ausgelösten E-Mails sowie "
        "ein Formular, um zum Testen ein Ereignis zu simulieren.",
    },
    # ---------------------------------------------------------------- deliveries
    "deliveries_title": {"en": "Delivery log", "de": "Zustellprotokoll"},
    "deliveries_intro": {
        "en": "Every email in the outbox: waiting, sent, or given up (dead) with the reason "
        "and the mail server's answer. With the online service, what became of the email "
        "after it took it follows within moments. A dead or bounced email can be retried.",
        "de": "Jede E-Mail im Postausgang: wartend, gesendet oder aufgegeben (tot) mit Grund "
        "und Antwort des Mailservers. Beim Online-Dienst folgt kurz darauf, was nach der "
        "Übergabe aus der E-Mail wurde. Eine tote oder abgewiesene E-Mail lässt sich "
        "erneut versuchen.",
    },
    "deliveries_status": {"en": "Status", "de": "Status"},
    "deliveries_all": {"en": "All", "de": "Alle"},
    "deliveries_recipient": {"en": "Recipient contains", "de": "Empfänger enthält"},
    "deliveries_apply": {"en": "Show", "de": "Anzeigen"},
    "deliveries_reset": {"en": "Reset", "de": "Zurücksetzen"},
    "deliveries_counts": {"en": "Deliveries by status", "de": "Zustellungen nach Status"},
    "deliveries_empty": {
        "en": "No deliveries match. Emails appear here as soon as an event or a notice sends one.",
        "de": "Keine passenden Zustellungen. E-Mails erscheinen hier, sobald ein Ereignis "
        "oder eine Meldung eine versendet.",
    },
    "deliveries_shown": {
        "en": "Showing the newest {count}.",
        "de": "Angezeigt werden die neuesten {count}.",
    },
    "col_time": {"en": "Created", "de": "Erstellt"},
    "col_recipient": {"en": "Recipient", "de": "Empfänger"},
    "col_subject": {"en": "Subject", "de": "Betreff"},
    "col_status": {"en": "Status", "de": "Status"},
    "col_attempts": {"en": "Attempts", "de": "Versuche"},
    "col_reason": {"en": "Reason", "de": "Grund"},
    "col_server": {"en": "Server answer", "de": "Antwort des Servers"},
    "col_next": {"en": "Next attempt", "de": "Nächster Versuch"},
    "col_actions": {"en": "Actions", "de": "Aktionen"},
    "retry": {"en": "Retry", "de": "Erneut versuchen"},
    "retry_label": {
        "en": "Retry the email to {recipient}",
        "de": "E-Mail an {recipient} erneut versuchen",
    },
    "retried": {
        "en": "Queued again: {count}. The delivery engine picks it up within moments.",
        "de": "Erneut eingereiht: {count}. Die Zustellung nimmt sie in Kürze auf.",
    },
    "retried_none": {
        "en": "Nothing to retry: the email has no dead, failed or bounced delivery any more.",
        "de": "Nichts zu wiederholen: Die E-Mail hat keine tote, gescheiterte oder "
        "abgewiesene Zustellung mehr.",
    },
    "email_not_found": {
        "en": "That email is no longer in the outbox.",
        "de": "Diese E-Mail ist nicht mehr im Postausgang.",
    },
    "status_queued": {"en": "Queued", "de": "Wartend"},
    "status_sending": {"en": "Sending", "de": "Wird gesendet"},
    "status_sent": {"en": "Sent", "de": "Gesendet"},
    "status_failed": {"en": "Failed", "de": "Gescheitert"},
    "status_dead": {"en": "Dead", "de": "Tot"},
    # The online service's later word on mail it took (see tocsin.outbox.tracking).
    "remote_title": {"en": "Online service", "de": "Online-Dienst"},
    "remote_counts": {
        "en": "Mail the online service took, by what became of it",
        "de": "Vom Online-Dienst übernommene E-Mails, nach ihrem Verbleib",
    },
    "remote_pending": {
        "en": "At the online service, not delivered yet",
        "de": "Beim Online-Dienst, noch nicht zugestellt",
    },
    "remote_delivered": {
        "en": "Delivered by the online service",
        "de": "Vom Online-Dienst zugestellt",
    },
    "remote_bounced": {
        "en": "Bounced: the recipient's mail server refused it",
        "de": "Abgewiesen: Der Mailserver des Empfängers hat sie abgelehnt",
    },
    "remote_gave_up": {
        "en": "Not delivered: the online service gave up",
        "de": "Nicht zugestellt: Der Online-Dienst hat aufgegeben",
    },
    "remote_unknown": {
        "en": "Unknown: the online service gave no final answer",
        "de": "Unbekannt: Der Online-Dienst gab keine abschließende Antwort",
    },
    "remote_chip_pending": {"en": "At the service", "de": "Beim Dienst"},
    "remote_chip_delivered": {"en": "Delivered", "de": "Zugestellt"},
    "remote_chip_bounced": {"en": "Bounced", "de": "Abgewiesen"},
    "remote_chip_gave_up": {"en": "Gave up", "de": "Aufgegeben"},
    "remote_chip_unknown": {"en": "Unknown", "de": "Unbekannt"},
    "remote_checked": {"en": "asked {time}", "de": "gefragt {time}"},
    "reason_dns_failed": {"en": "Server name not found", "de": "Servername nicht gefunden"},
    "reason_connect_refused": {"en": "Connection refused", "de": "Verbindung abgelehnt"},
    "reason_connect_failed": {"en": "Could not connect", "de": "Keine Verbindung"},
    "reason_disconnected": {"en": "Connection dropped", "de": "Verbindung getrennt"},
    "reason_timeout": {"en": "No answer in time", "de": "Keine Antwort in der Frist"},
    "reason_server_busy": {"en": "Server busy", "de": "Server ausgelastet"},
    "reason_server_rejected": {"en": "Server refused this device", "de": "Server weist Gerät ab"},
    "reason_tls_failed": {"en": "Encryption failed", "de": "Verschlüsselung gescheitert"},
    "reason_cert_invalid": {"en": "Certificate not trusted", "de": "Zertifikat nicht vertraut"},
    "reason_tls_required": {
        "en": "Encryption not available",
        "de": "Verschlüsselung nicht verfügbar",
    },
    "reason_auth_failed": {"en": "Login refused", "de": "Anmeldung abgelehnt"},
    "reason_auth_unavailable": {"en": "No login offered", "de": "Keine Anmeldung angeboten"},
    "reason_auth_required": {"en": "Login required", "de": "Anmeldung erforderlich"},
    "reason_sender_rejected": {"en": "Sender refused", "de": "Absender abgelehnt"},
    "reason_sender_deferred": {"en": "Sender deferred", "de": "Absender zurückgestellt"},
    "reason_recipient_rejected": {"en": "Recipient refused", "de": "Empfänger abgelehnt"},
    "reason_recipient_deferred": {"en": "Recipient deferred", "de": "Empfänger zurückgestellt"},
    "reason_message_rejected": {"en": "Message refused", "de": "Nachricht abgelehnt"},
    "reason_message_deferred": {"en": "Message deferred", "de": "Nachricht zurückgestellt"},
    "reason_smtputf8_unsupported": {
        "en": "International address not supported",
        "de": "Internationale Adresse nicht unterstützt",
    },
    "reason_rate_limited": {"en": "Rate limited", "de": "Mengenbegrenzt"},
    "reason_disabled": {"en": "Email is switched off", "de": "E-Mail ist ausgeschaltet"},
    "reason_not_configured": {"en": "Email not configured", "de": "E-Mail nicht eingerichtet"},
}
