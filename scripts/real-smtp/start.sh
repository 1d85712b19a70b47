#!/usr/bin/env bash
# start.sh - run a private, loopback-only Postfix instance as a real SMTP
# smarthost for tests.  Run as root on Debian 12.  Idempotent: stops a previous
# instance in the same state directory first.  Stop it with stop.sh.
#
#   REAL_SMTP_DIR            state dir (config, queue, Maildir, log)  [${TMPDIR:-/tmp}/tocsin-real-smtp]
#   REAL_SMTP_PLAIN_PORT     plain SMTP, no TLS, no AUTH             [2525]
#   REAL_SMTP_SMTPS_PORT     implicit TLS, AUTH required             [4650]
#   REAL_SMTP_SUBMISSION_PORT STARTTLS required, AUTH required       [5870]
#   REAL_SMTP_MX_PORT        STARTTLS required, AUTH optional (like a
#                            receiving MX that insists on TLS)       [5871]
#   REAL_SMTP_USER / REAL_SMTP_PASSWORD  the one SASL account        [tocsin / tocsin-secret]
#   REAL_SMTP_MAIL_UID / _GID  owner of delivered mail files          [65534 / 65534]
#   REAL_SMTP_INSTALL        auto: apt-get install what is missing; no: never  [auto]
#
# On success it writes $REAL_SMTP_DIR/env (shell "KEY=value" lines) that tests
# can source or parse; stop.sh removes it again.  tests/conftest.py (fixture
# real_smtp) uses a running instance through that file, or runs this script
# itself (as root) with a private REAL_SMTP_DIR and free ports.
set -euo pipefail

STATE=${REAL_SMTP_DIR:-${TMPDIR:-/tmp}/tocsin-real-smtp}
PLAIN_PORT=${REAL_SMTP_PLAIN_PORT:-2525}
SMTPS_PORT=${REAL_SMTP_SMTPS_PORT:-4650}
SUBM_PORT=${REAL_SMTP_SUBMISSION_PORT:-5870}
MX_PORT=${REAL_SMTP_MX_PORT:-5871}
SASL_USER=${REAL_SMTP_USER:-tocsin}
SASL_PASS=${REAL_SMTP_PASSWORD:-tocsin-secret}
MAIL_UID=${REAL_SMTP_MAIL_UID:-65534}
MAIL_GID=${REAL_SMTP_MAIL_GID:-65534}
INSTALL=${REAL_SMTP_INSTALL:-auto}
# Realm that Cyrus SASL appends to a bare user name; the account is stored
# under it, so clients log in with the bare name.
REALM=localhost

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[real-smtp] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (Postfix master needs it)"
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac

t0=$(date +%s.%N)

# ---------------------------------------------------------------- packages
# postfix: the MTA; sasl2-bin: saslpasswd2; libsasl2-modules(-db): PLAIN/LOGIN
# and the sasldb auxprop plugin; swaks + perl TLS/IPv6 modules: the CLI client
# used for smoke checks.  Only missing packages are installed, so nothing that
# is already there gets upgraded as a side effect.
PKGS="postfix sasl2-bin libsasl2-modules libsasl2-modules-db swaks libnet-ssleay-perl libio-socket-inet6-perl openssl"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ "$INSTALL" = auto ] || die "missing packages:$missing (REAL_SMTP_INSTALL=$INSTALL)"
  log "installing:$missing"
  # "No configuration": the package creates no /etc/postfix/main.cf and so
  # never starts a default instance listening on port 25.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  APT_OPTS="-o DPkg::Lock::Timeout=120"   # wait for another apt/dpkg run
  for try in 1 2 3; do
    timeout 300 apt-get $APT_OPTS update -qq >/dev/null && break
    [ "$try" = 3 ] && die "apt-get update failed"; sleep 5
  done
  # shellcheck disable=SC2086
  timeout 600 apt-get $APT_OPTS install -y -qq --no-install-recommends $missing >/dev/null \
    || die "apt-get install$missing failed"
fi
t1=$(date +%s.%N)

# ---------------------------------------------------------------- previous run
if [ -e "$STATE/spool/pid/master.pid" ]; then
  REAL_SMTP_DIR="$STATE" bash "$HERE/stop.sh" || true
fi

# Is IPv6 loopback usable?  Then listen on [::1] too.
if [ -e /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6; then
  INET_PROTOCOLS=all; INET_IFACES="127.0.0.1, [::1]"; MYNETWORKS="127.0.0.0/8 [::1]/128"
  ADDRS="127.0.0.1 ::1"
else
  INET_PROTOCOLS=ipv4; INET_IFACES="127.0.0.1"; MYNETWORKS="127.0.0.0/8"
  ADDRS="127.0.0.1"
fi

# Postfix listens with SO_REUSEPORT, so binding a port that another
# SO_REUSEPORT server (e.g. smtp-sink, another Postfix) already holds does NOT
# fail: the kernel silently splits connections between the two.  Refuse busy ports.
for port in "$PLAIN_PORT" "$SMTPS_PORT" "$SUBM_PORT" "$MX_PORT"; do
  for a in $ADDRS; do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$a/$port" 2>/dev/null; then
      die "port $a:$port is already in use; pick another with REAL_SMTP_*_PORT"
    fi
  done
done

# ---------------------------------------------------------------- layout
CONF="$STATE/etc"
rm -rf "$CONF" "$STATE/spool" "$STATE/data" "$STATE/Maildir" "$STATE/maillog"
install -d -m 0755 -o root -g root "$STATE" "$CONF" "$CONF/sasl" "$CONF/tls" "$STATE/spool"
install -d -m 0700 -o postfix -g postfix "$STATE/data"
install -d -m 0700 -o "$MAIL_UID" -g "$MAIL_GID" "$STATE/Maildir" \
  "$STATE/Maildir/new" "$STATE/Maildir/cur" "$STATE/Maildir/tmp"

# ---------------------------------------------------------------- TLS
# A throw-away CA and a server certificate for localhost / 127.0.0.1 / ::1,
# so clients can verify properly (cafile=ca.crt, server name "localhost").
(
  cd "$CONF/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -sha256 \
    -keyout ca.key -out ca.crt -subj "/CN=tocsin real-smtp test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" > server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 3650 -sha256 -extfile server.ext -out server.crt 2>/dev/null
  rm -f server.csr server.ext ca.srl
  chmod 0600 ca.key server.key
  chmod 0644 ca.crt server.crt
)

# ---------------------------------------------------------------- SASL
# Cyrus SASL inside smtpd, password in a private sasldb (no daemon needed).
printf '%s\n' \
  "pwcheck_method: auxprop" \
  "auxprop_plugin: sasldb" \
  "mech_list: PLAIN LOGIN" \
  "sasldb_path: $CONF/sasldb2" > "$CONF/sasl/smtpd.conf"
printf '%s' "$SASL_PASS" | saslpasswd2 -p -c -f "$CONF/sasldb2" -u "$REALM" "$SASL_USER"
chown root:postfix "$CONF/sasldb2"; chmod 0640 "$CONF/sasldb2"

# ---------------------------------------------------------------- main.cf
cat > "$CONF/main.cf" <<EOF
# Generated by start.sh - a private test instance, not the system's Postfix.
compatibility_level = 3.6
queue_directory = $STATE/spool
data_directory = $STATE/data
mail_owner = postfix
setgid_group = postdrop
myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
inet_interfaces = $INET_IFACES
inet_protocols = $INET_PROTOCOLS
mynetworks = $MYNETWORKS
smtpd_banner = \$myhostname ESMTP real-smtp test smarthost
biff = no
append_dot_mydomain = no
readme_directory = no

# Log to a file (no syslog in containers).  The path must be under a prefix.
maillog_file = $STATE/maillog
maillog_file_prefixes = $STATE

# No DNS, no local users, no aliases: every accepted recipient, whatever the
# domain, goes to one Maildir through the virtual(8) delivery agent.
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
mydestination =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
default_transport = virtual
virtual_mailbox_base = $STATE
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_minimum_uid = 1
virtual_mailbox_limit = 0

# TLS material; whether TLS is offered/required is set per port in master.cf.
smtpd_tls_cert_file = $CONF/tls/server.crt
smtpd_tls_key_file = $CONF/tls/server.key
smtpd_tls_security_level = none
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =

# SASL; enabled per port in master.cf.
smtpd_sasl_auth_enable = no
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $CONF/sasl
smtpd_sasl_local_domain = $REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = no

# Default rules (the plain port): loopback clients may send anywhere.
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject
EOF

# ---------------------------------------------------------------- master.cf
# Everything unchrooted (chroot column "n") so no files need copying.
cat > "$CONF/master.cf" <<EOF
# service      type  private unpriv chroot wakeup maxproc command + args
$PLAIN_PORT    inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/plain
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=no
$SMTPS_PORT    inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$SUBM_PORT     inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
$MX_PORT       inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/mx-tls
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
EOF
cat "$HERE/internal-services.cf" >> "$CONF/master.cf"

# ---------------------------------------------------------------- start
# ("postfix start" itself creates the queue directories; a separate
#  "postfix check" would add ~2 s of find(1) over the system's Postfix files.)
postfix -c "$CONF" start >/dev/null 2>&1 || { cat "$STATE/maillog" >&2 2>/dev/null; die "postfix start failed"; }

PID=$(tr -dc 0-9 < "$STATE/spool/pid/master.pid")
# Bounded wait until every port accepts connections.
for port in "$PLAIN_PORT" "$SMTPS_PORT" "$SUBM_PORT" "$MX_PORT"; do
  ok=0
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "port $port not listening after 10 s (see $STATE/maillog)"
done
t2=$(date +%s.%N)

cat > "$STATE/env" <<EOF
REAL_SMTP_DIR=$STATE
REAL_SMTP_HOST=127.0.0.1
REAL_SMTP_TLS_NAME=localhost
REAL_SMTP_PLAIN_PORT=$PLAIN_PORT
REAL_SMTP_SMTPS_PORT=$SMTPS_PORT
REAL_SMTP_SUBMISSION_PORT=$SUBM_PORT
REAL_SMTP_MX_PORT=$MX_PORT
REAL_SMTP_USER=$SASL_USER
REAL_SMTP_PASSWORD=$SASL_PASS
REAL_SMTP_CA=$CONF/tls/ca.crt
REAL_SMTP_MAILDIR=$STATE/Maildir
REAL_SMTP_LOG=$STATE/maillog
REAL_SMTP_PID=$PID
EOF
chmod 0644 "$STATE/env"
log "postfix master pid $PID; ports $PLAIN_PORT (plain) $SMTPS_PORT (implicit TLS+AUTH) $SUBM_PORT (STARTTLS+AUTH) $MX_PORT (STARTTLS, AUTH optional) on $INET_IFACES"
log "mail lands in $STATE/Maildir/new; env in $STATE/env"
log "$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "timing: packages %.1fs, configure+start %.1fs, total %.1fs", b-a, c-b, c-a}')"
