"""Texts of the email settings page and the test email, English and German.

The page follows the vendor documentation section by section (sender, server,
encryption, authentication, online service), in our own words.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SETTINGS_TEXTS"]

SETTINGS_TEXTS: Final[dict[str, dict[str, str]]] = {
    "settings_title": {"en": "Email settings", "de": "E-Mail-Einstellungen"},
    "settings_intro": {
        "en": "Tocsin emails alarms and warnings automatically — through your own SMTP mail "
        "server, or through the online service. Email stays off until you switch it on here "
        "and save.",
        "de": "Tocsin versendet Alarme und Warnungen automatisch per E-Mail — über Ihren "
        "eigenen SMTP-Mailserver oder über den Online-Dienst. E-Mail bleibt aus, bis Sie sie "
        "hier einschalten und speichern.",
    },
    "saved": {"en": "Settings saved.", "de": "Einstellungen gespeichert."},
    "advice_heading": {"en": "Notes on these settings", "de": "Hinweise zu diesen Einstellungen"},
    "password_retype": {
        "en": "The password you typed was not kept. Type it again before saving.",
        "de": "Das eingegebene Passwort wurde nicht übernommen. Geben Sie es vor dem Speichern "
        "erneut ein.",
    },
    "advice_password_missing": {
        "en": "A username is set but no password. Enter the password of the mail account "
        "under Authentication.",
        "de": "Ein Benutzername ist gesetzt, aber kein Passwort. Geben Sie das Passwort des "
        "E-Mail-Kontos unter Anmeldung ein.",
    },
    "advice_plaintext_auth": {
        "en": "The password would be sent unencrypted. Choose SSL or STARTTLS, or tick "
        "“Allow sending the password without encryption”.",
        "de": "Das Passwort würde unverschlüsselt übertragen. Wählen Sie SSL oder STARTTLS "
        "oder kreuzen Sie „Passwort auch unverschlüsselt senden“ an.",
    },
    "save": {"en": "Save settings", "de": "Einstellungen speichern"},
    "unsaved_changes": {
        "en": "You have unsaved changes.",
        "de": "Sie haben ungespeicherte Änderungen.",
    },
    # ---------------------------------------------------------------- on/off + transport
    "enabled_legend": {"en": "Email notifications", "de": "E-Mail-Benachrichtigungen"},
    "enabled_label": {
        "en": "Send email notifications",
        "de": "E-Mail-Benachrichtigungen senden",
    },
    "enabled_help": {
        "en": "Off by default. While off, no alarm or warning emails are sent; you can still "
        "configure everything and send a test email.",
        "de": "Standardmäßig aus. Solange aus, werden keine Alarm- oder Warnungs-E-Mails "
        "versendet; Sie können trotzdem alles einrichten und eine Test-E-Mail senden.",
    },
    "transport_legend": {"en": "How email is sent", "de": "Versandweg"},
    "transport_smtp": {"en": "Own SMTP server", "de": "Eigener SMTP-Server"},
    "transport_smtp_help": {
        "en": "Tocsin connects to a mail server you name below.",
        "de": "Tocsin verbindet sich mit einem Mailserver, den Sie unten angeben.",
    },
    "transport_online": {"en": "Online service", "de": "Online-Dienst"},
    "transport_online_help": {
        "en": "The hosted relay sends the emails; no SMTP settings needed.",
        "de": "Das gehostete Relay versendet die E-Mails; keine SMTP-Einstellungen nötig.",
    },
    # ---------------------------------------------------------------- SMTP
    "smtp_heading": {"en": "SMTP server", "de": "SMTP-Server"},
    "smtp_intro": {
        "en": "These settings connect Tocsin to the mail server (SMTP, Simple Mail Transfer "
        "Protocol) that sends the emails for it.",
        "de": "Diese Einstellungen verbinden Tocsin mit dem Mailserver (SMTP, Simple Mail "
        "Transfer Protocol), der die E-Mails für Tocsin versendet.",
    },
    "sender_legend": {"en": "Sender", "de": "Absender"},
    "sender_intro": {
        "en": "Every email Tocsin sends shows this address as its sender. Use a valid address "
        "of the mail account configured below.",
        "de": "Jede E-Mail von Tocsin zeigt diese Adresse als Absender. Verwenden Sie eine "
        "gültige Adresse des unten eingerichteten E-Mail-Kontos.",
    },
    "sender_address": {"en": "Sender address", "de": "Absenderadresse"},
    "sender_name": {"en": "Sender name", "de": "Absendername"},
    "sender_name_help": {
        "en": "Optional, e.g. “Server room alarms”.",
        "de": "Optional, z. B. „Alarme Serverraum“.",
    },
    "sender_note": {
        "en": "The sender address must belong to the mail account Tocsin logs in with. "
        "Otherwise spam filters may reject or hide the alarm emails.",
        "de": "Die Absenderadresse muss zu dem E-Mail-Konto gehören, mit dem sich Tocsin "
        "anmeldet. Sonst können Spamfilter die Alarm-E-Mails abweisen oder aussortieren.",
    },
    "server_legend": {"en": "Server", "de": "Server"},
    "server_intro": {
        "en": "The address of the SMTP server and its port. The usual port depends on the "
        "encryption and is preset when you choose one.",
        "de": "Die Adresse des SMTP-Servers und sein Port. Der übliche Port hängt von der "
        "Verschlüsselung ab und wird bei deren Auswahl voreingestellt.",
    },
    "host": {"en": "Server address", "de": "Serveradresse"},
    "host_help": {
        "en": "A name like smtp.example.com, or an IP address.",
        "de": "Ein Name wie smtp.example.com oder eine IP-Adresse.",
    },
    "port": {"en": "Port", "de": "Port"},
    "port_help": {
        "en": "Usually {starttls} (STARTTLS), {ssl} (SSL), {none} (none).",
        "de": "Meist {starttls} (STARTTLS), {ssl} (SSL), {none} (keine).",
    },
    "encryption_legend": {"en": "Encryption", "de": "Verschlüsselung"},
    "encryption_intro": {
        "en": "Plain SMTP carries emails as readable text. SSL and STARTTLS encrypt the "
        "connection.",
        "de": "Einfaches SMTP überträgt E-Mails als lesbaren Text. SSL und STARTTLS "
        "verschlüsseln die Verbindung.",
    },
    "encryption_starttls": {"en": "STARTTLS", "de": "STARTTLS"},
    "encryption_starttls_help": {
        "en": "Starts unencrypted, then switches to encryption before anything is sent. "
        "Usual port {port}. Tocsin never continues unencrypted if the switch fails.",
        "de": "Beginnt unverschlüsselt und wechselt vor dem Versand zur Verschlüsselung. "
        "Üblicher Port {port}. Scheitert der Wechsel, sendet Tocsin nie unverschlüsselt "
        "weiter.",
    },
    "encryption_ssl": {"en": "SSL", "de": "SSL"},
    "encryption_ssl_help": {
        "en": "Encrypted from the first byte (SMTPS, SMTP over SSL/TLS). Usual port {port}.",
        "de": "Verschlüsselt ab dem ersten Byte (SMTPS, SMTP über SSL/TLS). Üblicher Port {port}.",
    },
    "encryption_none": {"en": "None", "de": "Keine"},
    "encryption_none_help": {
        "en": "Plain text. Usual port {port}.",
        "de": "Klartext. Üblicher Port {port}.",
    },
    "encryption_warning": {
        "en": "Without encryption, the emails — and the password, if one is used — cross the "
        "network as readable text. Using SSL or STARTTLS is strongly recommended.",
        "de": "Ohne Verschlüsselung werden die E-Mails — und ein eventuelles Passwort — als "
        "lesbarer Text übertragen. SSL oder STARTTLS wird dringend empfohlen.",
    },
    "port_preset": {
        "en": "Port set to {port}, the usual port for {mode}.",
        "de": "Port auf {port} gesetzt, den üblichen Port für {mode}.",
    },
    "auth_legend": {"en": "Authentication", "de": "Anmeldung"},
    "auth_intro": {
        "en": "Most mail servers need a login. Enter the username and password of the mail "
        "account that sends the emails. Leave both empty if the server accepts mail from "
        "this device without a login.",
        "de": "Die meisten Mailserver verlangen eine Anmeldung. Geben Sie Benutzername und "
        "Passwort des E-Mail-Kontos ein, das die E-Mails versendet. Lassen Sie beides leer, "
        "wenn der Server Mail von diesem Gerät ohne Anmeldung annimmt.",
    },
    "auth_username": {"en": "Username", "de": "Benutzername"},
    "auth_username_help": {
        "en": "Often the full email address of the account.",
        "de": "Oft die vollständige E-Mail-Adresse des Kontos.",
    },
    "auth_password": {"en": "Password", "de": "Passwort"},
    "password_is_set": {
        "en": "A password is set — type a new one to change it, or leave the field empty to "
        "keep it.",
        "de": "Ein Passwort ist gesetzt — geben Sie ein neues ein, um es zu ändern, oder "
        "lassen Sie das Feld leer, um es zu behalten.",
    },
    "password_not_set": {"en": "No password is set.", "de": "Es ist kein Passwort gesetzt."},
    "password_clear": {
        "en": "Remove the stored password",
        "de": "Gespeichertes Passwort entfernen",
    },
    "allow_plaintext_auth": {
        "en": "Allow sending the password without encryption (insecure)",
        "de": "Passwort auch unverschlüsselt senden (unsicher)",
    },
    "allow_plaintext_auth_help": {
        "en": "Only for a server on a trusted local network that offers no encryption.",
        "de": "Nur für einen Server im vertrauenswürdigen lokalen Netz ohne Verschlüsselung.",
    },
    "app_password_tip": {
        "en": "Where your mail provider offers it, use an app-specific password rather than "
        "the account's normal password: it can be revoked on its own and does not open the "
        "whole account.",
        "de": "Verwenden Sie, wo Ihr Anbieter es anbietet, ein anwendungsspezifisches "
        "Passwort statt des normalen Kontopassworts: Es lässt sich einzeln widerrufen und "
        "öffnet nicht das ganze Konto.",
    },
    "tls_legend": {"en": "TLS and connection", "de": "TLS und Verbindung"},
    "tls_verify": {
        "en": "Verify the server's certificate",
        "de": "Zertifikat des Servers prüfen",
    },
    "tls_verify_help": {
        "en": "Keep this on. Turning it off is insecure: anyone on the network path could "
        "pose as the mail server and read the password.",
        "de": "Lassen Sie dies eingeschaltet. Ausschalten ist unsicher: Jeder auf dem "
        "Netzwerkweg könnte sich als Mailserver ausgeben und das Passwort mitlesen.",
    },
    "tls_verify_off": {
        "en": "Insecure: the server's certificate will not be checked.",
        "de": "Unsicher: Das Zertifikat des Servers wird nicht geprüft.",
    },
    "ca_file": {"en": "CA file", "de": "CA-Datei"},
    "ca_file_help": {
        "en": "Optional: path of a PEM file with the certificate authority of a server that "
        "uses a private or self-signed certificate.",
        "de": "Optional: Pfad einer PEM-Datei mit der Zertifizierungsstelle eines Servers mit "
        "eigenem oder selbstsigniertem Zertifikat.",
    },
    "ehlo_name": {"en": "EHLO name", "de": "EHLO-Name"},
    "ehlo_name_help": {
        "en": "Optional: the name this device gives the server. Empty: its own host name.",
        "de": "Optional: der Name, mit dem sich dieses Gerät beim Server meldet. Leer: der "
        "eigene Hostname.",
    },
    "timeout": {"en": "Command timeout (s)", "de": "Befehls-Timeout (s)"},
    "timeout_help": {
        "en": "How long to wait for each answer of the server.",
        "de": "Wie lange auf jede Antwort des Servers gewartet wird.",
    },
    "deadline": {"en": "Delivery deadline (s)", "de": "Zustellfrist (s)"},
    "deadline_help": {
        "en": "The longest one delivery attempt may take in all.",
        "de": "Die längste Zeit, die ein Zustellversuch insgesamt dauern darf.",
    },
    # ---------------------------------------------------------------- online service
    "online_heading": {"en": "Online service", "de": "Online-Dienst"},
    "online_intro": {
        "en": "Instead of configuring an SMTP server, you can send the emails through the "
        "online service. It needs a working connection from this device to the online "
        "service and makes the email setup much simpler.",
        "de": "Statt einen SMTP-Server einzurichten, können Sie die E-Mails über den "
        "Online-Dienst versenden. Dafür braucht dieses Gerät eine funktionierende Verbindung "
        "zum Online-Dienst; die Einrichtung wird dadurch deutlich einfacher.",
    },
    "online_advantages": {"en": "Advantages", "de": "Vorteile"},
    "online_adv_1": {
        "en": "No SMTP settings to enter by hand",
        "de": "Keine SMTP-Einstellungen von Hand",
    },
    "online_adv_2": {
        "en": "Always encrypted in transit (STARTTLS), automatically",
        "de": "Automatisch immer verschlüsselt übertragen (STARTTLS)",
    },
    "online_adv_3": {"en": "Less to configure", "de": "Weniger zu konfigurieren"},
    "online_adv_4": {
        "en": "Better delivery rates: the relay takes care of them",
        "de": "Bessere Zustellraten: Darum kümmert sich das Relay",
    },
    "online_note": {
        "en": "With the online service, none of the SMTP settings are needed.",
        "de": "Mit dem Online-Dienst sind keine SMTP-Einstellungen nötig.",
    },
    "online_status": {"en": "Status", "de": "Status"},
    "online_not_enrolled": {
        "en": "Not enrolled yet — follow the steps below. Until then, use your own SMTP server.",
        "de": "Noch nicht registriert — folgen Sie den Schritten unten. Verwenden Sie bis "
        "dahin Ihren eigenen SMTP-Server.",
    },
    # ---------------------------------------------------------------- test email
    "test_heading": {"en": "Send a test email", "de": "Test-E-Mail senden"},
    "test_intro": {
        "en": "Sends a short email with the saved settings and shows every step of the "
        "conversation with the mail server as it happens. If a step fails, it says what to "
        "change.",
        "de": "Sendet eine kurze E-Mail mit den gespeicherten Einstellungen und zeigt jeden "
        "Schritt des Gesprächs mit dem Mailserver, während er geschieht. Scheitert ein "
        "Schritt, steht dort, was zu ändern ist.",
    },
    "test_unsaved": {
        "en": "The test uses the saved settings: save your changes first.",
        "de": "Der Test verwendet die gespeicherten Einstellungen: Speichern Sie Ihre "
        "Änderungen zuerst.",
    },
    "test_to": {"en": "Recipient", "de": "Empfänger"},
    "test_to_help": {
        "en": "An address whose inbox you can check.",
        "de": "Eine Adresse, deren Posteingang Sie prüfen können.",
    },
    "test_send": {"en": "Send test email", "de": "Test-E-Mail senden"},
    "test_steps": {"en": "Steps", "de": "Schritte"},
    "test_running": {"en": "Sending…", "de": "Wird gesendet…"},
    "test_ok": {
        "en": "The mail server accepted the test email. Check the recipient's inbox (and its "
        "spam folder).",
        "de": "Der Mailserver hat die Test-E-Mail angenommen. Prüfen Sie den Posteingang des "
        "Empfängers (auch den Spam-Ordner).",
    },
    "test_failed": {
        "en": "The test email was not sent. See the failed step above.",
        "de": "Die Test-E-Mail wurde nicht gesendet. Siehe den gescheiterten Schritt oben.",
    },
    "test_refused": {
        "en": "Nothing was sent: the saved settings are not complete.",
        "de": "Nichts wurde gesendet: Die gespeicherten Einstellungen sind unvollständig.",
    },
    "test_rate_limited": {
        "en": "Too many test emails. Try again in {seconds} s.",
        "de": "Zu viele Test-E-Mails. Versuchen Sie es in {seconds} s erneut.",
    },
    "test_bad_recipient": {
        "en": "Enter a valid recipient address.",
        "de": "Geben Sie eine gültige Empfängeradresse ein.",
    },
    "test_session": {
        "en": "Your session has ended. Reload the page and log in again.",
        "de": "Ihre Sitzung ist abgelaufen. Laden Sie die Seite neu und melden Sie sich erneut an.",
    },
    "test_error": {
        "en": "The test could not be run (HTTP {status}).",
        "de": "Der Test konnte nicht ausgeführt werden (HTTP {status}).",
    },
    "test_network": {
        "en": "The connection to Tocsin broke off. Try again.",
        "de": "Die Verbindung zu Tocsin brach ab. Versuchen Sie es erneut.",
    },
    "step_hint": {"en": "What to change:", "de": "Was zu ändern ist:"},
    "server_reply": {"en": "Server answer", "de": "Antwort des Servers"},
    "step_ok": {"en": "done", "de": "erledigt"},
    "step_fail": {"en": "failed", "de": "fehlgeschlagen"},
    "step_start": {"en": "in progress", "de": "läuft"},
    "step_resolve": {"en": "Look up the server", "de": "Server nachschlagen"},
    "step_connect": {"en": "Connect", "de": "Verbinden"},
    "step_tls": {"en": "Encrypt (SSL)", "de": "Verschlüsseln (SSL)"},
    "step_ehlo": {"en": "Greet the server (EHLO)", "de": "Server begrüßen (EHLO)"},
    "step_starttls": {"en": "Switch to encryption (STARTTLS)", "de": "Verschlüsseln (STARTTLS)"},
    "step_auth": {"en": "Log in", "de": "Anmelden"},
    "step_mail_from": {"en": "Sender accepted", "de": "Absender angenommen"},
    "step_rcpt_to": {"en": "Recipient accepted", "de": "Empfänger angenommen"},
    "step_data": {"en": "Message accepted", "de": "Nachricht angenommen"},
    "step_quit": {"en": "Close the connection", "de": "Verbindung schließen"},
    "step_relay": {"en": "Hand over to the relay", "de": "An das Relay übergeben"},
}
