"""Every text the pages show, in English and German, looked up by a stable key.

The pages keep their own catalog (the validation and hint texts they show come from
:mod:`tocsin.i18n`): page wording changes often and must not collide with API codes.
``tests/web/test_texts.py`` checks that every key has both languages with the same
placeholders.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from tocsin.web.texts_pages import PAGE_TEXTS
from tocsin.web.texts_settings import SETTINGS_TEXTS
from tocsin.web.texts_site import SITE_TEXTS
from tocsin.web.texts_site_forms import SITE_FORM_TEXTS

__all__ = ["LANGUAGES", "TEXTS", "Translator", "translator"]

LANGUAGES: Final = ("en", "de")

_COMMON: Final[dict[str, dict[str, str]]] = {
    # ---------------------------------------------------------------- layout
    "app_name": {"en": "Tocsin", "de": "Tocsin"},
    "skip_to_content": {"en": "Skip to content", "de": "Zum Inhalt springen"},
    "nav_label": {"en": "Main", "de": "Hauptmenü"},
    "nav_email": {"en": "Email settings", "de": "E-Mail-Einstellungen"},
    "nav_users": {"en": "Users", "de": "Benutzer"},
    "nav_groups": {"en": "Alarm groups", "de": "Alarmgruppen"},
    "nav_events": {"en": "Events", "de": "Ereignisse"},
    "nav_deliveries": {"en": "Delivery log", "de": "Zustellprotokoll"},
    "signed_in_as": {"en": "Signed in as {name}", "de": "Angemeldet als {name}"},
    "logout": {"en": "Log out", "de": "Abmelden"},
    "language": {"en": "Language", "de": "Sprache"},
    "language_en": {"en": "English", "de": "English"},
    "language_de": {"en": "Deutsch", "de": "Deutsch"},
    "switch_language": {"en": "Auf Deutsch umschalten", "de": "Switch to English"},
    "other_language": {"en": "de", "de": "en"},
    "other_language_name": {"en": "Deutsch", "de": "English"},
    "footer": {
        "en": "Tocsin {version} — email notifications for alarms and warnings",
        "de": "Tocsin {version} — E-Mail-Benachrichtigungen für Alarme und Warnungen",
    },
    # ---------------------------------------------------------------- errors
    "error_title": {"en": "Something went wrong", "de": "Etwas ist schiefgegangen"},
    "csrf_refused": {
        "en": "This form was refused: it has expired or did not come from this site. "
        "Go back, reload the page and try again.",
        "de": "Dieses Formular wurde abgewiesen: Es ist abgelaufen oder stammt nicht von "
        "dieser Seite. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es erneut.",
    },
    "bad_form": {
        "en": "The form could not be read. Reload the page and try again.",
        "de": "Das Formular konnte nicht gelesen werden. Laden Sie die Seite neu und "
        "versuchen Sie es erneut.",
    },
    "back_to_start": {"en": "Back to the start page", "de": "Zurück zur Startseite"},
    "not_found": {"en": "There is no such page.", "de": "Diese Seite gibt es nicht."},
    # ---------------------------------------------------------------- first run
    "setup_title": {"en": "Welcome to Tocsin", "de": "Willkommen bei Tocsin"},
    "setup_intro": {
        "en": "No administrator exists yet. Create the first one: this account signs in to "
        "these pages and configures email, users and alarm groups. This page is only "
        "available until the first administrator exists.",
        "de": "Es gibt noch keinen Administrator. Legen Sie den ersten an: Mit diesem Konto "
        "melden Sie sich an diesen Seiten an und richten E-Mail, Benutzer und Alarmgruppen "
        "ein. Diese Seite steht nur zur Verfügung, bis der erste Administrator existiert.",
    },
    "setup_username_help": {
        "en": "Letters, digits and . _ @ - (up to 64).",
        "de": "Buchstaben, Ziffern und . _ @ - (bis zu 64).",
    },
    "setup_password_help": {
        "en": "At least {min} characters. A passphrase of several words is easy to type and "
        "hard to guess.",
        "de": "Mindestens {min} Zeichen. Eine Passphrase aus mehreren Wörtern ist leicht zu "
        "tippen und schwer zu erraten.",
    },
    "setup_password_again": {"en": "Password again", "de": "Passwort wiederholen"},
    "setup_language_help": {
        "en": "The language of these pages; you can change it at any time.",
        "de": "Die Sprache dieser Seiten; Sie können sie jederzeit ändern.",
    },
    "setup_submit": {"en": "Create administrator", "de": "Administrator anlegen"},
    "setup_mismatch": {
        "en": "The two passwords differ. Type the same password twice.",
        "de": "Die beiden Passwörter unterscheiden sich. Geben Sie zweimal dasselbe Passwort ein.",
    },
    "setup_username_invalid": {
        "en": "Use 1 to 64 letters, digits and . _ @ - for the username.",
        "de": "Der Benutzername besteht aus 1 bis 64 Buchstaben, Ziffern und . _ @ -.",
    },
    "setup_password_short": {
        "en": "The password needs at least {min} characters.",
        "de": "Das Passwort braucht mindestens {min} Zeichen.",
    },
    "setup_username_taken": {
        "en": "This username exists already.",
        "de": "Diesen Benutzernamen gibt es bereits.",
    },
    # ---------------------------------------------------------------- login
    "login_title": {"en": "Log in", "de": "Anmelden"},
    "login_intro": {
        "en": "Log in with your Tocsin administrator account.",
        "de": "Melden Sie sich mit Ihrem Tocsin-Administratorkonto an.",
    },
    "username": {"en": "Username", "de": "Benutzername"},
    "password": {"en": "Password", "de": "Passwort"},
    "login_submit": {"en": "Log in", "de": "Anmelden"},
    "login_refused": {
        "en": "Wrong username or password.",
        "de": "Falscher Benutzername oder falsches Passwort.",
    },
    "login_throttled": {
        "en": "Too many failed attempts. Wait {seconds} s, then try again.",
        "de": "Zu viele Fehlversuche. Warten Sie {seconds} s und versuchen Sie es dann erneut.",
    },
    "logged_out": {"en": "You have logged out.", "de": "Sie haben sich abgemeldet."},
    "session_expired": {
        "en": "Your session has ended. Log in again.",
        "de": "Ihre Sitzung ist abgelaufen. Melden Sie sich erneut an.",
    },
    # ---------------------------------------------------------------- shared words
    "error_summary": {
        "en": "Nothing was saved. Fix these fields:",
        "de": "Nichts wurde gespeichert. Korrigieren Sie diese Felder:",
    },
    "error_prefix": {"en": "Error:", "de": "Fehler:"},
    "warning_prefix": {"en": "Warning:", "de": "Warnung:"},
    "tip_prefix": {"en": "Tip:", "de": "Tipp:"},
    "note_prefix": {"en": "Note:", "de": "Hinweis:"},
    "yes": {"en": "yes", "de": "ja"},
    "no": {"en": "no", "de": "nein"},
}

TEXTS: Final[Mapping[str, Mapping[str, str]]] = {
    **_COMMON,
    **SETTINGS_TEXTS,
    **PAGE_TEXTS,
    **SITE_TEXTS,
    **SITE_FORM_TEXTS,
}
"""The whole catalog: key → language → text (``str.format`` placeholders)."""

if len(TEXTS) != len(_COMMON) + len(SETTINGS_TEXTS) + len(PAGE_TEXTS) + len(SITE_TEXTS) + len(
    SITE_FORM_TEXTS
):
    raise RuntimeError("a web text key is defined twice")  # pragma: no cover

Translator = Callable[..., str]


def translator(language: str) -> Translator:
    """A ``t(key, **params)`` for ``language`` that the templates call.

    An unknown key shows as the key itself (a test catches those); a missing
    language falls back to English.
    """
    lang = language if language in LANGUAGES else "en"

    def t(key: str, /, **params: object) -> str:
        entry = TEXTS.get(key)
        if entry is None:
            return key
        text = entry.get(lang) or entry["en"]
        return text.format(**params) if params else text

    return t
