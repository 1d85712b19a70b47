"""User-facing texts in English and German, looked up by a stable code.

Codes are part of the API (clients may branch on them); texts may be reworded.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

__all__ = ["Language", "translate"]


class Language(StrEnum):
    """The languages Tocsin speaks."""

    EN = "en"
    DE = "de"


_TEXTS: Final[dict[str, dict[str, str]]] = {
    # ---------------------------------------------------------------- settings: errors
    "unknown_field": {
        "en": "Unknown setting '{field}'. Known settings: {known}.",
        "de": "Unbekannte Einstellung '{field}'. Bekannte Einstellungen: {known}.",
    },
    "invalid_value": {
        "en": "{detail}",
        "de": "{detail}",
    },
    "invalid_bool": {
        "en": "Enter true or false.",
        "de": "Geben Sie true oder false ein.",
    },
    "invalid_choice": {
        "en": "Choose one of: {choices}.",
        "de": "Wählen Sie eines von: {choices}.",
    },
    "invalid_number": {
        "en": "Enter a number from {low} to {high}.",
        "de": "Geben Sie eine Zahl von {low} bis {high} ein.",
    },
    "required": {
        "en": "This is required when email is enabled.",
        "de": "Dieses Feld ist erforderlich, wenn E-Mail aktiviert ist.",
    },
    "invalid_address": {
        "en": "Not a valid email address.",
        "de": "Keine gültige E-Mail-Adresse.",
    },
    "invalid_host": {
        "en": "Not a valid server name or IP address: {detail}",
        "de": "Kein gültiger Servername und keine gültige IP-Adresse: {detail}",
    },
    "unsafe_text": {
        "en": "{detail}",
        "de": "Ungültige Zeichen: {detail}",
    },
    "too_long": {
        "en": "At most {limit} characters.",
        "de": "Höchstens {limit} Zeichen.",
    },
    "plaintext_auth": {
        "en": "The password would be sent unencrypted. Choose SSL or STARTTLS, or allow "
        "unencrypted authentication explicitly (allow_plaintext_auth).",
        "de": "Das Passwort würde unverschlüsselt übertragen. Wählen Sie SSL oder STARTTLS "
        "oder erlauben Sie unverschlüsselte Anmeldung ausdrücklich (allow_plaintext_auth).",
    },
    "password_without_username": {
        "en": "A password is set but no username. Enter the username of the mail account.",
        "de": "Ein Passwort ist gesetzt, aber kein Benutzername. Geben Sie den Benutzernamen "
        "des E-Mail-Kontos ein.",
    },
    "deadline_below_timeout": {
        "en": "The delivery deadline must be at least the command timeout ({timeout} s).",
        "de": "Die Zustellfrist muss mindestens so lang sein wie das Befehls-Timeout "
        "({timeout} s).",
    },
    "ca_file_missing": {
        "en": "The CA file {path} cannot be read: {detail}",
        "de": "Die CA-Datei {path} kann nicht gelesen werden: {detail}",
    },
    "online_not_enrolled": {
        "en": "The online service is not set up on this installation yet. Use the SMTP "
        "server transport, or enrol with the online service first.",
        "de": "Der Online-Dienst ist auf dieser Installation noch nicht eingerichtet. "
        "Verwenden Sie einen SMTP-Server oder melden Sie das Gerät zuerst beim "
        "Online-Dienst an.",
    },
    "secret_on_command_line": {
        "en": "{field} is a secret and is not taken as KEY=VALUE (it would stay in the "
        "shell history and the process list). Use '{command}'.",
        "de": "{field} ist geheim und wird nicht als KEY=VALUE angenommen (es bliebe in der "
        "Shell-Historie und der Prozessliste). Verwenden Sie '{command}'.",
    },
    "secret_as_argument": {
        "en": "The credential is not taken as an argument (it would stay in the shell "
        "history and the process list). Run '{command}' and type it when asked, or use "
        "--stdin or --token-file PATH.",
        "de": "Die Zugangsdaten werden nicht als Argument angenommen (sie blieben in der "
        "Shell-Historie und der Prozessliste). Führen Sie '{command}' aus und geben Sie sie "
        "auf Nachfrage ein, oder verwenden Sie --stdin oder --token-file PFAD.",
    },
    "secret_file_open": {
        "en": "{path} can be read by other users; make it private first: chmod 600 {path}",
        "de": "{path} ist für andere Benutzer lesbar; schützen Sie die Datei zuerst: "
        "chmod 600 {path}",
    },
    "secret_file_unreadable": {
        "en": "Cannot read {path}: {reason}",
        "de": "{path} kann nicht gelesen werden: {reason}",
    },
    "secret_in_database_url": {
        "en": "The --database URL carries a password, which the process list and the shell "
        "history would show. Give the URL in {envvar}, or keep the password in ~/.pgpass.",
        "de": "Die --database-URL enthält ein Passwort, das Prozessliste und Shell-Historie "
        "zeigen würden. Geben Sie die URL in {envvar} an, oder das Passwort in ~/.pgpass.",
    },
    "secret_empty": {
        "en": "Nothing was entered; nothing was changed.",
        "de": "Es wurde nichts eingegeben; nichts wurde geändert.",
    },
    # ---------------------------------------------------------------- settings: advice
    "encryption_none": {
        "en": "Encryption is off: messages travel in plain text and can be read or changed "
        "on the way. Using SSL or STARTTLS is strongly recommended.",
        "de": "Die Verschlüsselung ist aus: Nachrichten werden im Klartext übertragen und "
        "können unterwegs gelesen oder verändert werden. SSL oder STARTTLS wird dringend "
        "empfohlen.",
    },
    "sender_mismatch": {
        "en": "The sender address {sender} does not match the mail account {account}. "
        "Spam filters may reject or hide the alarm emails; use the account's own address.",
        "de": "Die Absenderadresse {sender} passt nicht zum E-Mail-Konto {account}. "
        "Spamfilter können die Alarm-E-Mails abweisen oder aussortieren; verwenden Sie "
        "die Adresse des Kontos.",
    },
    "app_password": {
        "en": "Tip: where the mail provider offers it, use an app-specific password instead "
        "of the account's normal password.",
        "de": "Tipp: Verwenden Sie, wo der Anbieter es anbietet, ein anwendungsspezifisches "
        "Passwort statt des normalen Kontopassworts.",
    },
    "insecure_tls": {
        "en": "Insecure: the server's certificate is not verified, so anyone on the network "
        "path could pose as the mail server and read the password. Name a CA file instead.",
        "de": "Unsicher: Das Zertifikat des Servers wird nicht geprüft; jeder auf dem "
        "Netzwerkweg könnte sich als Mailserver ausgeben und das Passwort lesen. Geben Sie "
        "stattdessen eine CA-Datei an.",
    },
    "password_missing": {
        "en": "A username is set but no password. Set one with 'tocsin settings password'.",
        "de": "Ein Benutzername ist gesetzt, aber kein Passwort. Setzen Sie es mit "
        "'tocsin settings password'.",
    },
    "plaintext_auth_allowed": {
        "en": "Unencrypted authentication is allowed: the password crosses the network "
        "in plain text.",
        "de": "Unverschlüsselte Anmeldung ist erlaubt: Das Passwort wird im Klartext übertragen.",
    },
    "disabled": {
        "en": "Email notifications are disabled; no alarm emails are sent until enabled.",
        "de": "E-Mail-Benachrichtigungen sind deaktiviert; bis zur Aktivierung werden "
        "keine Alarm-E-Mails versendet.",
    },
    "port_unusual": {
        "en": "Port {port} is unusual for {encryption}; the usual port is {default}.",
        "de": "Port {port} ist für {encryption} ungewöhnlich; üblich ist Port {default}.",
    },
    # --- added for issue 18
    "database_readable_by_others": {
        "en": "The database {path} can be read by other users of this machine; run: {command}",
        "de": "Die Datenbank {path} ist für andere Benutzer dieses Rechners lesbar; "
        "führen Sie aus: {command}",
    },
    "next_step_setup": {
        "en": "Next step: open {url} to create the first administrator "
        "(or run '{command} admin create' in a second terminal).",
        "de": "Nächster Schritt: Öffnen Sie {url}, um den ersten Administrator anzulegen "
        "(oder führen Sie '{command} admin create' in einem zweiten Terminal aus).",
    },
    "next_step_email": {
        "en": "Email is off: nothing is sent until you enable it at {url} "
        "(or: {command} settings set … enabled=true).",
        "de": "E-Mail ist aus: Nichts wird versendet, bis Sie sie unter {url} aktivieren "
        "(oder: {command} settings set … enabled=true).",
    },
    "required_for_test": {
        "en": "A test email needs this.",
        "de": "Eine Test-E-Mail braucht diese Angabe.",
    },
    "test_email_disabled_incomplete": {
        "en": "Email is disabled (enabled=false) and not set up yet, so nothing was sent: "
        "set {fields} first, then enable it with 'tocsin settings set enabled=true' "
        "(or on the Email settings page).",
        "de": "E-Mail ist deaktiviert (enabled=false) und noch nicht eingerichtet, daher "
        "wurde nichts gesendet: Setzen Sie zuerst {fields} und aktivieren Sie sie dann mit "
        "'tocsin settings set enabled=true' (oder auf der Seite E-Mail-Einstellungen).",
    },
    "test_email_disabled_note": {
        "en": "Email is disabled (enabled=false): alarm emails go out only once you enable "
        "it with 'tocsin settings set enabled=true' (or on the Email settings page).",
        "de": "E-Mail ist deaktiviert (enabled=false): Alarm-E-Mails werden erst versendet, "
        "wenn Sie sie mit 'tocsin settings set enabled=true' aktivieren (oder auf der Seite "
        "E-Mail-Einstellungen).",
    },
    "test_email_incomplete": {
        "en": "The settings are not complete; nothing was sent.",
        "de": "Die Einstellungen sind unvollständig; nichts wurde gesendet.",
    },
    "test_email_not_enrolled": {
        "en": "This installation is not enrolled with the online service; nothing was sent.",
        "de": "Diese Installation ist nicht beim Online-Dienst angemeldet; nichts wurde gesendet.",
    },
    "test_email_accepted": {
        "en": "Test email accepted by the server ({reply}).",
        "de": "Test-E-Mail vom Server angenommen ({reply}).",
    },
    "test_email_not_delivered": {
        "en": "The test email was not delivered. See the hint above.",
        "de": "Die Test-E-Mail wurde nicht zugestellt. Siehe den Hinweis oben.",
    },
    "cli_error": {"en": "error", "de": "Fehler"},
    "cli_warning": {"en": "warning", "de": "Warnung"},
    "cli_tip": {"en": "tip", "de": "Tipp"},
    "cli_not_key_value": {
        "en": "'{pair}' is not KEY=VALUE (example: host=smtp.example.com).",
        "de": "'{pair}' hat nicht die Form SCHLÜSSEL=WERT (Beispiel: host=smtp.example.com).",
    },
    "cli_nothing_saved_fix": {
        "en": "Nothing was saved. Correct the fields above and try again.",
        "de": "Nichts wurde gespeichert. Korrigieren Sie die Felder oben und versuchen Sie "
        "es erneut.",
    },
    "cli_nothing_saved": {"en": "Nothing was saved.", "de": "Nichts wurde gespeichert."},
    "cli_saved": {"en": "Saved.", "de": "Gespeichert."},
    "cli_password_prompt": {"en": "SMTP password: ", "de": "SMTP-Passwort: "},
    "cli_admin_password_prompt": {
        "en": "Password for the new admin: ",
        "de": "Passwort für den neuen Administrator: ",
    },
    "cli_again": {"en": "Again: ", "de": "Noch einmal: "},
    "cli_entries_differ": {
        "en": "The two entries differ; nothing was saved.",
        "de": "Die beiden Eingaben unterscheiden sich; nichts wurde gespeichert.",
    },
    "cli_password_empty": {
        "en": "Empty password; to remove the password use --clear.",
        "de": "Leeres Passwort; um das Passwort zu entfernen, verwenden Sie --clear.",
    },
    "cli_password_saved": {"en": "Password saved.", "de": "Passwort gespeichert."},
    "cli_password_cleared": {"en": "Password cleared.", "de": "Passwort entfernt."},
    "cli_admin_created": {
        "en": "Admin '{username}' created.",
        "de": "Administrator '{username}' angelegt.",
    },
    "cli_admin_username_invalid": {
        "en": "The username takes 1-64 letters, digits and . _ @ -.",
        "de": "Der Benutzername besteht aus 1-64 Buchstaben, Ziffern und . _ @ -.",
    },
    "cli_admin_password_short": {
        "en": "The password needs at least {count} characters.",
        "de": "Das Passwort braucht mindestens {count} Zeichen.",
    },
    "cli_language_unknown": {
        "en": "--lang takes en or de.",
        "de": "--lang nimmt en oder de.",
    },
}


def translate(code: str, language: str = "en", /, **params: object) -> str:
    """Return the text for ``code`` in ``language`` (English if unknown), formatted."""
    entry = _TEXTS.get(code)
    if entry is None:
        return code
    template = entry.get(language) or entry["en"]
    return template.format(**params)


def known_codes() -> frozenset[str]:
    """Every code that has a text (for tests)."""
    return frozenset(_TEXTS)


def register(code: str, texts: Mapping[str, str]) -> None:
    """Add texts for a code (modules with their own texts call this at import)."""
    if code in _TEXTS:
        raise ValueError(f"text code {code!r} registered twice")
    if "en" not in texts or "de" not in texts:
        raise ValueError(f"text code {code!r} needs English and German")
    _TEXTS[code] = dict(texts)
