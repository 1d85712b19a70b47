"""Texts of the forms that add, change and remove users and alarm groups, English and German."""

from __future__ import annotations

from typing import Final

__all__ = ["SITE_FORM_TEXTS"]

SITE_FORM_TEXTS: Final[dict[str, dict[str, str]]] = {
    # ---------------------------------------------------------------- shared
    "edit": {"en": "Edit", "de": "Bearbeiten"},
    "edit_label": {"en": "Edit {name}", "de": "{name} bearbeiten"},
    "remove": {"en": "Remove…", "de": "Löschen…"},
    "remove_label": {"en": "Remove {name}", "de": "{name} löschen"},
    "remove_confirm_button": {"en": "Yes, remove", "de": "Ja, löschen"},
    "cancel": {"en": "Cancel", "de": "Abbrechen"},
    "form_refused": {
        "en": "Nothing was saved. Fix the fields marked below:",
        "de": "Nichts wurde gespeichert. Korrigieren Sie die markierten Felder:",
    },
    "f_id": {"en": "Id", "de": "ID"},
    "f_id_help": {
        "en": "A short, fixed name used by the REST API and the site file, e.g. anna or "
        "building-1: letters, digits and . _ @ + -. It cannot be changed later.",
        "de": "Ein kurzer, fester Name für die REST-API und die Standortdatei, z. B. anna oder "
        "gebaeude-1: Buchstaben, Ziffern und . _ @ + -. Er lässt sich später nicht ändern.",
    },
    "f_id_fixed": {
        "en": "The id cannot be changed.",
        "de": "Die ID lässt sich nicht ändern.",
    },
    "f_name": {"en": "Name", "de": "Name"},
    # ---------------------------------------------------------------- categories explained
    "cat_armed_help": {
        "en": "Burglary: door contacts, motion and glass-break sensors while the area is armed.",
        "de": "Einbruch: Türkontakte, Bewegungs- und Glasbruchmelder, solange der Bereich "
        "scharf geschaltet ist.",
    },
    "cat_always_help": {
        "en": "Sensors that watch around the clock: temperature, humidity, leakage, power.",
        "de": "Sensoren, die rund um die Uhr überwachen: Temperatur, Feuchte, Leckage, Strom.",
    },
    "cat_fire_help": {
        "en": "Smoke and heat detectors.",
        "de": "Rauch- und Hitzemelder.",
    },
    "cat_sabotage_help": {
        "en": "Tampering: a housing opened, a sensor covered or removed.",
        "de": "Manipulation: ein Gehäuse geöffnet, ein Sensor abgedeckt oder entfernt.",
    },
    "cat_system_help": {
        "en": "The system itself: failures, lost connections, firmware, Tocsin's own trouble "
        "(sent whatever alarm groups the user has).",
        "de": "Das System selbst: Ausfälle, Verbindungsverlust, Firmware, Probleme von Tocsin "
        "(unabhängig von den Alarmgruppen des Benutzers).",
    },
    # ---------------------------------------------------------------- users
    "user_add": {"en": "Add user", "de": "Benutzer anlegen"},
    "user_add_title": {"en": "Add a user", "de": "Benutzer anlegen"},
    "user_edit_title": {"en": "Edit user {name}", "de": "Benutzer {name} bearbeiten"},
    "user_create": {"en": "Add user", "de": "Benutzer anlegen"},
    "user_save": {"en": "Save user", "de": "Benutzer speichern"},
    "f_email": {"en": "Email address", "de": "E-Mail-Adresse"},
    "f_email_help": {
        "en": "Where this user's alarm emails go.",
        "de": "Wohin die Alarm-E-Mails dieses Benutzers gehen.",
    },
    "f_language": {"en": "Language of the emails", "de": "Sprache der E-Mails"},
    "f_time_zone": {"en": "Time zone", "de": "Zeitzone"},
    "f_time_zone_help": {
        "en": "Times in this user's emails are shown in this zone, e.g. Europe/Berlin. Start "
        "typing to pick from the list.",
        "de": "Zeiten in den E-Mails dieses Benutzers erscheinen in dieser Zone, z. B. "
        "Europe/Berlin. Tippen Sie los, um aus der Liste zu wählen.",
    },
    "f_enabled": {"en": "Enabled", "de": "Aktiv"},
    "f_enabled_help": {
        "en": "A disabled user keeps their settings but gets no email at all.",
        "de": "Ein deaktivierter Benutzer behält seine Einstellungen, erhält aber keine E-Mail.",
    },
    "f_groups": {"en": "Alarm groups", "de": "Alarmgruppen"},
    "f_groups_help": {
        "en": "The user hears about events in the groups ticked here. A group covers its "
        "subgroups: ticking a building includes every room in it.",
        "de": "Der Benutzer erfährt von Ereignissen in den hier angekreuzten Gruppen. Eine "
        "Gruppe umfasst ihre Untergruppen: Ein Gebäude schließt jeden Raum darin ein.",
    },
    "f_groups_none": {
        "en": "There are no alarm groups yet; add them on the Alarm groups page.",
        "de": "Es gibt noch keine Alarmgruppen; legen Sie sie auf der Seite Alarmgruppen an.",
    },
    "f_categories": {"en": "Email for these categories", "de": "E-Mail bei diesen Kategorien"},
    "f_categories_help": {
        "en": "Every category is off for a new user, as in KentixONE: tick the ones this "
        "user should get email for.",
        "de": "Für einen neuen Benutzer ist jede Kategorie aus, wie in KentixONE: Kreuzen Sie "
        "die an, zu denen dieser Benutzer E-Mails erhalten soll.",
    },
    "user_disable": {"en": "Disable", "de": "Deaktivieren"},
    "user_enable": {"en": "Enable", "de": "Aktivieren"},
    "user_disable_label": {"en": "Disable {name}", "de": "{name} deaktivieren"},
    "user_enable_label": {"en": "Enable {name}", "de": "{name} aktivieren"},
    "user_remove_confirm": {
        "en": "Remove {name} for good? Their settings are lost.",
        "de": "{name} endgültig löschen? Die Einstellungen gehen verloren.",
    },
    "user_added": {"en": "User {name} added.", "de": "Benutzer {name} angelegt."},
    "user_saved": {"en": "User {name} saved.", "de": "Benutzer {name} gespeichert."},
    "user_removed": {"en": "User {name} removed.", "de": "Benutzer {name} gelöscht."},
    "user_now_enabled": {"en": "User {name} enabled.", "de": "Benutzer {name} aktiviert."},
    "user_now_disabled": {"en": "User {name} disabled.", "de": "Benutzer {name} deaktiviert."},
    # ---------------------------------------------------------------- groups
    "group_add": {"en": "Add alarm group", "de": "Alarmgruppe anlegen"},
    "group_add_sub": {"en": "Add subgroup", "de": "Untergruppe anlegen"},
    "group_add_sub_label": {"en": "Add a subgroup to {name}", "de": "Untergruppe zu {name}"},
    "group_add_title": {"en": "Add an alarm group", "de": "Alarmgruppe anlegen"},
    "group_edit_title": {"en": "Edit alarm group {name}", "de": "Alarmgruppe {name} bearbeiten"},
    "group_create": {"en": "Add group", "de": "Gruppe anlegen"},
    "group_save": {"en": "Save group", "de": "Gruppe speichern"},
    "f_parent": {"en": "Parent group", "de": "Übergeordnete Gruppe"},
    "f_parent_help": {
        "en": "Where the group sits in the tree. Choosing another parent moves the group "
        "with its subgroups.",
        "de": "Wo die Gruppe im Baum steht. Eine andere Wahl verschiebt die Gruppe samt "
        "Untergruppen.",
    },
    "f_parent_none": {"en": "(none — a top-level group)", "de": "(keine — oberste Ebene)"},
    "policies_heading": {"en": "Notification settings", "de": "Benachrichtigungseinstellungen"},
    "policies_intro": {
        "en": "Per category, take the parent group's setting or set this group's own. "
        "Alarms are always emailed; the limit counts all notifications of the category "
        "per user and hour.",
        "de": "Je Kategorie die Einstellung der übergeordneten Gruppe übernehmen oder eine "
        "eigene setzen. Alarme werden immer gemailt; die Begrenzung zählt alle "
        "Benachrichtigungen der Kategorie je Benutzer und Stunde.",
    },
    "policy_inherit": {"en": "Inherit", "de": "Erben"},
    "policy_own": {"en": "Set here", "de": "Hier festlegen"},
    "policy_inherits_from": {
        "en": "from {group}: warnings {warnings}, {cap}",
        "de": "von {group}: Warnungen {warnings}, {cap}",
    },
    "policy_inherits_default": {
        "en": "the default: warnings {warnings}, {cap}",
        "de": "Standard: Warnungen {warnings}, {cap}",
    },
    "policy_inherit_note": {
        "en": "What “Inherit” gives is shown for the parent group selected when this page "
        "was loaded; after a move, the new parent's settings apply.",
        "de": "Was „Erben“ ergibt, gilt für die beim Laden dieser Seite gewählte "
        "übergeordnete Gruppe; nach dem Verschieben gelten die der neuen.",
    },
    "cap_per_hour": {"en": "at most {cap} per hour", "de": "höchstens {cap} pro Stunde"},
    "f_warnings": {"en": "Email warnings too", "de": "Auch Warnungen mailen"},
    "f_cap": {"en": "At most per hour", "de": "Höchstens pro Stunde"},
    "f_cap_help": {
        "en": "Leave empty for no limit.",
        "de": "Leer lassen für unbegrenzt.",
    },
    "inherited_from": {"en": "Inherited from {name}", "de": "Geerbt von {name}"},
    "group_remove_confirm": {
        "en": "Remove the group {name}? Only a group without subgroups and users can go.",
        "de": "Die Gruppe {name} löschen? Nur eine Gruppe ohne Untergruppen und Benutzer "
        "kann gelöscht werden.",
    },
    "group_remove_refused": {
        "en": "The group was not removed:",
        "de": "Die Gruppe wurde nicht gelöscht:",
    },
    "group_added": {"en": "Alarm group {name} added.", "de": "Alarmgruppe {name} angelegt."},
    "group_saved": {"en": "Alarm group {name} saved.", "de": "Alarmgruppe {name} gespeichert."},
    "group_removed": {"en": "Alarm group {name} removed.", "de": "Alarmgruppe {name} gelöscht."},
    # ---------------------------------------------------------------- online service status
    "online_enrolment": {"en": "Enrolment", "de": "Registrierung"},
    "online_enrolled": {"en": "Enrolled", "de": "Registriert"},
    "online_relay_url": {"en": "Relay URL", "de": "Relay-URL"},
    "online_device_id": {"en": "Device id", "de": "Geräte-ID"},
    "online_credential": {"en": "Device credential", "de": "Gerätezugang"},
    "online_credential_set": {"en": "set (not shown)", "de": "gesetzt (nicht angezeigt)"},
    "online_missing": {"en": "not set", "de": "nicht gesetzt"},
    "online_reach": {"en": "Connection now", "de": "Verbindung jetzt"},
    "online_check": {"en": "Check connection", "de": "Verbindung prüfen"},
    "online_not_checked": {"en": "not checked yet", "de": "noch nicht geprüft"},
    "online_checking": {"en": "checking…", "de": "wird geprüft…"},
    "online_reachable": {
        "en": "reachable — the relay knows this device as {device} ({ms} ms)",
        "de": "erreichbar — das Relay kennt dieses Gerät als {device} ({ms} ms)",
    },
    "online_unreachable": {"en": "not reachable ({reason})", "de": "nicht erreichbar ({reason})"},
    "online_check_failed": {
        "en": "The check itself failed (HTTP {status}). Reload the page and try again.",
        "de": "Die Prüfung selbst ist gescheitert (HTTP {status}). Laden Sie die Seite neu "
        "und versuchen Sie es erneut.",
    },
    "online_how_heading": {
        "en": "How to enrol this device",
        "de": "So registrieren Sie dieses Gerät",
    },
    "online_how_1": {
        "en": "Ask the relay operator for the relay's address and a one-time enrolment token.",
        "de": "Fragen Sie den Relay-Betreiber nach der Adresse des Relays und einem "
        "einmaligen Registrierungs-Token.",
    },
    "online_how_2": {
        "en": "On this device, run (as the user Tocsin runs as):",
        "de": "Führen Sie auf diesem Gerät aus (als der Benutzer, unter dem Tocsin läuft):",
    },
    "online_how_command": {
        "en": "tocsin online enroll URL",
        "de": "tocsin online enroll URL",
    },
    "online_how_3": {
        "en": "Reload this page: the enrolment appears above. Then choose “Online service”, "
        "switch email on, save, and send a test email.",
        "de": "Laden Sie diese Seite neu: Die Registrierung erscheint oben. Wählen Sie dann "
        "„Online-Dienst“, schalten Sie E-Mail ein, speichern Sie und senden Sie eine "
        "Test-E-Mail.",
    },
}
