"""Texts of the users, alarm groups and events pages, English and German."""

from __future__ import annotations

from typing import Final

__all__ = ["SITE_TEXTS"]

SITE_TEXTS: Final[dict[str, dict[str, str]]] = {
    # ---------------------------------------------------------------- categories etc.
    "cat_armed": {"en": "Armed (burglary)", "de": "Scharf (Einbruch)"},
    "cat_always": {"en": "Always active", "de": "Immer aktiv"},
    "cat_fire": {"en": "Fire", "de": "Brand"},
    "cat_sabotage": {"en": "Sabotage", "de": "Sabotage"},
    "cat_system": {"en": "System", "de": "System"},
    "sev_alarm": {"en": "Alarm", "de": "Alarm"},
    "sev_warning": {"en": "Warning", "de": "Warnung"},
    "state_raised": {"en": "Raised", "de": "Ausgelöst"},
    "state_cleared": {"en": "Cleared", "de": "Aufgehoben"},
    "how_to_change": {
        "en": "Besides these pages, the REST API (/api/v1/groups, /api/v1/users) and the "
        "command line (tocsin group …, tocsin user …, tocsin site import) change them too.",
        "de": "Außer auf diesen Seiten lassen sie sich über die REST-API (/api/v1/groups, "
        "/api/v1/users) und die Kommandozeile (tocsin group …, tocsin user …, tocsin site "
        "import) ändern.",
    },
    # ---------------------------------------------------------------- users
    "users_empty": {"en": "No users yet.", "de": "Noch keine Benutzer."},
    "col_name": {"en": "Name", "de": "Name"},
    "col_email": {"en": "Email", "de": "E-Mail"},
    "col_groups": {"en": "Alarm groups", "de": "Alarmgruppen"},
    "col_categories": {"en": "Email for", "de": "E-Mail bei"},
    "col_language": {"en": "Language", "de": "Sprache"},
    "col_time_zone": {"en": "Time zone", "de": "Zeitzone"},
    "user_disabled": {"en": "disabled", "de": "deaktiviert"},
    "email_on": {"en": "email on", "de": "E-Mail an"},
    "email_off": {"en": "email off", "de": "E-Mail aus"},
    "no_groups": {"en": "none — gets no alarm emails", "de": "keine — erhält keine Alarm-E-Mails"},
    # ---------------------------------------------------------------- groups
    "groups_empty": {"en": "No alarm groups yet.", "de": "Noch keine Alarmgruppen."},
    "groups_legend_own": {"en": "Set here", "de": "Hier gesetzt"},
    "groups_legend_inherited": {"en": "Inherited", "de": "Geerbt"},
    "groups_legend_default": {"en": "Default", "de": "Standard"},
    "groups_legend": {
        "en": "“Set here” overrides the parent group; “Inherited” takes the setting of the "
        "group named below it; “Default”: no group up the tree sets it, so warnings are "
        "emailed, with no limit.",
        "de": "„Hier gesetzt“ überschreibt die übergeordnete Gruppe; „Geerbt“ übernimmt die "
        "Einstellung der darunter genannten Gruppe; „Standard“: Keine Gruppe darüber legt "
        "sie fest, also Warnungen per E-Mail, ohne Begrenzung.",
    },
    "col_category": {"en": "Category", "de": "Kategorie"},
    "col_warnings": {"en": "Warnings emailed", "de": "Warnungen per E-Mail"},
    "col_cap": {"en": "At most per hour", "de": "Höchstens pro Stunde"},
    "col_source": {"en": "Setting", "de": "Einstellung"},
    "no_cap": {"en": "no limit", "de": "unbegrenzt"},
    "group_id": {"en": "id {id}", "de": "ID {id}"},
    "settings_of": {"en": "Notification settings of {name}", "de": "Benachrichtigungen von {name}"},
    # ---------------------------------------------------------------- events
    "events_recent": {"en": "Recent events", "de": "Neueste Ereignisse"},
    "events_empty": {"en": "No events yet.", "de": "Noch keine Ereignisse."},
    "col_received": {"en": "Received", "de": "Empfangen"},
    "col_group": {"en": "Group", "de": "Gruppe"},
    "col_source_device": {"en": "Device / sensor", "de": "Gerät / Sensor"},
    "col_event": {"en": "Event", "de": "Ereignis"},
    "col_notifications": {"en": "Notifications", "de": "Benachrichtigungen"},
    "event_open": {"en": "open", "de": "offen"},
    "no_notifications": {"en": "nobody notified", "de": "niemand benachrichtigt"},
    "notif_sent": {"en": "emailed", "de": "gemailt"},
    "notif_held": {"en": "held for a summary", "de": "für Zusammenfassung zurückgehalten"},
    "notif_summarized": {"en": "in a summary", "de": "in Zusammenfassung"},
    "notif_failed": {"en": "failed", "de": "gescheitert"},
    "notif_dropped": {"en": "dropped", "de": "verworfen"},
    "why_no_sender": {
        "en": "no sender address set up yet",
        "de": "noch keine Absenderadresse eingerichtet",
    },
    "why_hourly_cap": {"en": "hourly limit reached", "de": "Stundenlimit erreicht"},
    "simulate_heading": {"en": "Simulate an event", "de": "Ereignis simulieren"},
    "simulate_intro": {
        "en": "Check who gets which email: the event takes the same path as one from a "
        "sensor, and real emails go to the users it routes to.",
        "de": "Prüfen Sie, wer welche E-Mail bekommt: Das Ereignis nimmt denselben Weg wie "
        "eines von einem Sensor, und echte E-Mails gehen an die Benutzer, zu denen es "
        "geleitet wird.",
    },
    "simulate_no_groups": {
        "en": "Create an alarm group first: events always belong to one.",
        "de": "Legen Sie zuerst eine Alarmgruppe an: Ereignisse gehören immer zu einer.",
    },
    "f_group": {"en": "Alarm group", "de": "Alarmgruppe"},
    "f_category": {"en": "Category", "de": "Kategorie"},
    "f_severity": {"en": "Severity", "de": "Schwere"},
    "f_state": {"en": "State", "de": "Zustand"},
    "f_device": {"en": "Device", "de": "Gerät"},
    "f_sensor": {"en": "Sensor", "de": "Sensor"},
    "f_text": {"en": "Text (optional)", "de": "Text (optional)"},
    "f_value": {"en": "Value (optional)", "de": "Wert (optional)"},
    "f_unit": {"en": "Unit", "de": "Einheit"},
    "simulate_default_device": {"en": "Simulation", "de": "Simulation"},
    "simulate_default_sensor": {"en": "Test sensor", "de": "Testsensor"},
    "simulate_submit": {"en": "Simulate event", "de": "Ereignis simulieren"},
    "simulate_refused": {
        "en": "The event was not accepted. Fix the fields marked below.",
        "de": "Das Ereignis wurde nicht angenommen. Korrigieren Sie die markierten Felder.",
    },
    "simulate_accepted": {
        "en": "Event accepted: {notified} emailed, {held} held back.",
        "de": "Ereignis angenommen: {notified} gemailt, {held} zurückgehalten.",
    },
}
