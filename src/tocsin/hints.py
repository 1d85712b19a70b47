"""What to change when a delivery step fails: plain-language hints, English and German.

Each hint code names the situation, not the symptom, so the test email, the delivery
log and the system notices can all say the same thing.
"""

from __future__ import annotations

from tocsin.i18n import register

_HINTS: dict[str, dict[str, str]] = {
    "hint_dns": {
        "en": "The server name {host} could not be found. Check it for typos, and that this "
        "device has a working DNS server.",
        "de": "Der Servername {host} wurde nicht gefunden. Prüfen Sie ihn auf Tippfehler und "
        "ob dieses Gerät einen funktionierenden DNS-Server hat.",
    },
    "hint_refused": {
        "en": "Nothing accepts connections on {host} port {port}. Check the port (usually 587 "
        "for STARTTLS, 465 for SSL, 25 without encryption) and that the mail server runs.",
        "de": "Auf {host} Port {port} nimmt nichts Verbindungen an. Prüfen Sie den Port "
        "(meist 587 für STARTTLS, 465 für SSL, 25 ohne Verschlüsselung) und ob der "
        "Mailserver läuft.",
    },
    "hint_connect_timeout": {
        "en": "No answer from {host} port {port}. A firewall may block outgoing mail ports "
        "(providers often block port 25): try 587 or 465, or ask your network administrator.",
        "de": "Keine Antwort von {host} Port {port}. Eine Firewall blockiert eventuell "
        "ausgehende Mail-Ports (Port 25 ist oft gesperrt): Versuchen Sie 587 oder 465 oder "
        "fragen Sie Ihre Netzwerkadministration.",
    },
    "hint_plain_on_tls_port": {
        "en": "Port {port} expects SSL (implicit TLS) from the first byte, but STARTTLS or no "
        "encryption was chosen. Choose SSL for this port, or use port 587 for STARTTLS.",
        "de": "Port {port} erwartet SSL (TLS ab dem ersten Byte), gewählt ist aber STARTTLS "
        "oder keine Verschlüsselung. Wählen Sie SSL für diesen Port oder Port 587 für "
        "STARTTLS.",
    },
    "hint_no_greeting": {
        "en": "The server on port {port} accepted the connection but never greeted. Check "
        "that this port belongs to a mail server, and the encryption mode.",
        "de": "Der Server auf Port {port} hat die Verbindung angenommen, aber nie gegrüßt. "
        "Prüfen Sie, ob dieser Port zu einem Mailserver gehört, und die Verschlüsselung.",
    },
    "hint_ssl_on_plain_port": {
        "en": "Port {port} speaks plain SMTP and upgrades with STARTTLS, but SSL was chosen. "
        "Choose STARTTLS for this port, or use port 465 for SSL.",
        "de": "Port {port} spricht zunächst unverschlüsseltes SMTP und wechselt mit STARTTLS, "
        "gewählt ist aber SSL. Wählen Sie STARTTLS für diesen Port oder Port 465 für SSL.",
    },
    "hint_tls_failed": {
        "en": "The encrypted connection could not be set up ({detail}). Check the encryption "
        "mode and port; the server may need a newer TLS version.",
        "de": "Die verschlüsselte Verbindung kam nicht zustande ({detail}). Prüfen Sie "
        "Verschlüsselung und Port; der Server braucht eventuell eine neuere TLS-Version.",
    },
    "hint_cert_hostname": {
        "en": "The server's certificate is for {names}, not for {host}. Enter the server "
        "address exactly as it appears in the certificate.",
        "de": "Das Zertifikat des Servers gilt für {names}, nicht für {host}. Geben Sie die "
        "Serveradresse genau so ein, wie sie im Zertifikat steht.",
    },
    "hint_cert_untrusted": {
        "en": "The server's certificate is not trusted ({detail}). If the server uses a "
        "self-signed certificate or a private CA, name that CA file in the TLS settings. "
        "Accepting an unverified certificate is a last resort: it is insecure.",
        "de": "Das Zertifikat des Servers ist nicht vertrauenswürdig ({detail}). Nutzt der "
        "Server ein selbstsigniertes Zertifikat oder eine eigene CA, geben Sie diese "
        "CA-Datei in den TLS-Einstellungen an. Ein ungeprüftes Zertifikat zu akzeptieren ist "
        "nur der letzte Ausweg: Es ist unsicher.",
    },
    "hint_cert_expired": {
        "en": "The server's certificate has expired. The mail server's administrator must "
        "renew it.",
        "de": "Das Zertifikat des Servers ist abgelaufen. Die Administration des Mailservers "
        "muss es erneuern.",
    },
    "hint_starttls_missing": {
        "en": "The server on port {port} does not offer STARTTLS, so nothing was sent: Tocsin "
        "never falls back to plain text. Check the port (587 for STARTTLS), or choose SSL "
        "with port 465.",
        "de": "Der Server auf Port {port} bietet kein STARTTLS an, daher wurde nichts "
        "gesendet: Tocsin weicht nie auf Klartext aus. Prüfen Sie den Port (587 für "
        "STARTTLS) oder wählen Sie SSL mit Port 465.",
    },
    "hint_plaintext_refused": {
        "en": "The password would cross the network unencrypted, so it was not sent. Choose "
        "SSL or STARTTLS.",
        "de": "Das Passwort würde unverschlüsselt übertragen und wurde daher nicht gesendet. "
        "Wählen Sie SSL oder STARTTLS.",
    },
    "hint_auth_unavailable": {
        "en": "The server offers no login on this connection. Submission ports (587, 465) "
        "normally do; if this server accepts mail without login, remove the username.",
        "de": "Der Server bietet auf dieser Verbindung keine Anmeldung an. Einlieferungsports "
        "(587, 465) tun das normalerweise; nimmt der Server Mail ohne Anmeldung an, "
        "entfernen Sie den Benutzernamen.",
    },
    "hint_auth_failed": {
        "en": "The server refused the username or password. Check both. Many providers "
        "(Microsoft 365, Gmail, iCloud) need an app-specific password when two-factor "
        "sign-in is on.",
        "de": "Der Server hat Benutzername oder Passwort abgelehnt. Prüfen Sie beides. Viele "
        "Anbieter (Microsoft 365, Gmail, iCloud) verlangen bei Zwei-Faktor-Anmeldung ein "
        "anwendungsspezifisches Passwort.",
    },
    "hint_auth_required": {
        "en": "The server requires a login before it accepts mail. Enter the username and "
        "password of the mail account.",
        "de": "Der Server verlangt eine Anmeldung, bevor er Mail annimmt. Geben Sie "
        "Benutzername und Passwort des E-Mail-Kontos ein.",
    },
    "hint_sender_rejected": {
        "en": "The server refused the sender {sender}. The sender address must belong to the "
        "account you log in with.",
        "de": "Der Server hat den Absender {sender} abgelehnt. Die Absenderadresse muss zu "
        "dem Konto gehören, mit dem Sie sich anmelden.",
    },
    "hint_recipient_rejected": {
        "en": "The server refused the recipient {recipient}. Check the address; a server that "
        "accepts mail only for its own domain needs a login to send elsewhere.",
        "de": "Der Server hat den Empfänger {recipient} abgelehnt. Prüfen Sie die Adresse; "
        "ein Server, der nur Mail für seine eigene Domain annimmt, verlangt zum Versand "
        "an andere eine Anmeldung.",
    },
    "hint_smtputf8": {
        "en": "The address {recipient} contains international characters, which this server "
        "cannot carry (no SMTPUTF8). Use an ASCII address for this recipient.",
        "de": "Die Adresse {recipient} enthält internationale Zeichen, die dieser Server nicht "
        "übertragen kann (kein SMTPUTF8). Verwenden Sie eine ASCII-Adresse.",
    },
    "hint_busy": {
        "en": "The server is busy or limiting for now (a temporary refusal). Alarm emails are "
        "retried automatically; try the test again in a few minutes.",
        "de": "Der Server ist gerade ausgelastet oder begrenzt (vorübergehende Ablehnung). "
        "Alarm-E-Mails werden automatisch erneut versucht; wiederholen Sie den Test in "
        "einigen Minuten.",
    },
    "hint_message_rejected": {
        "en": "The server refused the message itself: {server}. Its administrator can tell "
        "why (size limit, content filter).",
        "de": "Der Server hat die Nachricht selbst abgelehnt: {server}. Die Administration "
        "kann den Grund nennen (Größenlimit, Inhaltsfilter).",
    },
    "hint_server_rejected": {
        "en": "The server refused this device ({server}). It may not accept mail from this "
        "network address; check the server address and port.",
        "de": "Der Server hat dieses Gerät abgewiesen ({server}). Er nimmt eventuell keine "
        "Mail von dieser Netzwerkadresse an; prüfen Sie Serveradresse und Port.",
    },
    "hint_disconnected": {
        "en": "The server closed the connection during {step}. Check the encryption mode and "
        "port; if it persists, the server's log says why.",
        "de": "Der Server hat die Verbindung bei {step} getrennt. Prüfen Sie Verschlüsselung "
        "und Port; bleibt es dabei, nennt das Log des Servers den Grund.",
    },
    "hint_timeout": {
        "en": "The server stopped answering during {step}. Try again; if it persists, raise "
        "the timeout or check the network.",
        "de": "Der Server hat bei {step} nicht mehr geantwortet. Versuchen Sie es erneut; "
        "bleibt es dabei, erhöhen Sie das Timeout oder prüfen Sie das Netzwerk.",
    },
    "hint_not_configured": {
        "en": "Email is not configured yet: {detail}",
        "de": "E-Mail ist noch nicht eingerichtet: {detail}",
    },
    # ---------------------------------------------------------------- the test email itself
    "test_subject": {
        "en": "Tocsin test email",
        "de": "Tocsin Test-E-Mail",
    },
    "test_body": {
        "en": "This is a test email from Tocsin.\n\nIf you can read it, email notifications "
        "work: alarm and warning emails will be sent from {sender} through {server} port "
        "{port} ({encryption}).\n\nSent at {time}.\n",
        "de": "Dies ist eine Test-E-Mail von Tocsin.\n\nWenn Sie sie lesen können, "
        "funktionieren E-Mail-Benachrichtigungen: Alarm- und Warnungs-E-Mails werden von "
        "{sender} über {server} Port {port} ({encryption}) versendet.\n\nGesendet um "
        "{time}.\n",
    },
}

for _code, _texts in _HINTS.items():
    register(_code, _texts)
