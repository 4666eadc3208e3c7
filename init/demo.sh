#!/bin/sh
# SPDX-License-Identifier: ISC
# init/demo.sh - `make run`: a demo installation under ./run/ (SPEC 2).
#
# Expects `make` to have built build/bin/ (the run target does deps and the
# build first).  Creates on first use, and reuses afterwards:
#   run/facteur.conf        loopback ports 2525 (SMTP), 2587 (submission),
#                           2465 (submissions), 2993 (IMAPS); domain example.org
#   run/tls/                self-signed certificate (facteur-keytool tls
#                           selfsigned, else the openssl CLI)
#   run/demo-password       the password of demo@example.org (mode 0600)
#   run/state/dkim/         an RSA DKIM key for example.org, selector "demo":
#                           mail submitted on 2587/2465 is signed
#   run/state run/mail run/run
# then prints how to use it (sending, reading, a signed mail and
# init/dkim-check.py) and runs facteur-authd, facteur-smtpd and
# facteur-imapd (those that are built) in the foreground with -d; Ctrl-C
# stops them all.  As root the daemons run as `nobody` (like the tests: the
# demo lives in your checkout, not in /var), from a copy of the binaries in
# run/bin.  When nobody cannot reach the checkout (a clone under /root,
# mode 0700), ./run is a link to /var/tmp/facteur-demo-N, where the demo
# keeps its state instead.  BIN=dir overrides build/bin;
# FACTEUR_DEMO_NORUN=1 sets up and prints, without starting the daemons.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/build/bin}
RUN=$ROOT/run
CONF=$RUN/facteur.conf
ADDR=demo@example.org
# DEMO_*_PORT: for tests only; ports are fixed once run/facteur.conf exists
SMTP_PORT=${DEMO_SMTP_PORT:-2525}
SUB_PORT=${DEMO_SUB_PORT:-2587}
SUBS_PORT=${DEMO_SUBS_PORT:-2465}
IMAPS_PORT=${DEMO_IMAPS_PORT:-2993}

if [ ! -x "$BIN/facteur-keytool" ]; then
	echo "demo: $BIN/facteur-keytool is missing: run make first" >&2
	exit 1
fi

RUNAS=""
if [ "$(id -u)" -eq 0 ]; then
	RUNAS="setpriv --reuid=nobody --regid=nogroup --clear-groups --"
	# a checkout under a private directory (/root is 0700) is out of
	# nobody's reach: keep the state where it can go, linked as ./run
	if ! $RUNAS test -x "$ROOT"; then
		RUN=/var/tmp/facteur-demo-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
		mkdir -p "$RUN"
		if [ -L "$RUN" ] || [ "$(stat -c %u "$RUN")" != 0 ]; then
			echo "demo: $RUN is not root's own directory" >&2
			exit 1
		fi
		if [ ! -e "$ROOT/run" ] && [ ! -L "$ROOT/run" ]; then
			ln -s "$RUN" "$ROOT/run"
		fi
		echo "demo: nobody cannot reach $ROOT: the demo's state is in" \
		    "$RUN (./run links to it)"
		CONF=$RUN/facteur.conf
	fi
fi

mkdir -p "$RUN/state" "$RUN/mail" "$RUN/run" "$RUN/tls"

if [ -n "$RUNAS" ]; then
	DEMO_USER=nobody
	mkdir -p "$RUN/bin"
	for f in "$BIN"/facteur-*; do
		cp -f "$f" "$RUN/bin/"
	done
	BIN=$RUN/bin
	chmod 755 "$RUN"
else
	DEMO_USER=$(id -un)
fi

# conf_port SECTION KEY - the port of the first KEY = host:port in SECTION
conf_port() {
	awk -v s="[$1]" -v k="$2" '/^\[/ { sec = $1 }
	    sec == s && $1 == k && $2 == "=" { sub(/.*:/, "", $3); print $3; exit }' "$CONF"
}

if [ -f "$CONF" ]; then
	SMTP_PORT=$(conf_port smtp listen)
	SUB_PORT=$(conf_port smtp submission)
	SUBS_PORT=$(conf_port smtp submissions)
	IMAPS_PORT=$(conf_port imap listen)
else
	cat >"$CONF" <<EOF
# facteur demo configuration, written by init/demo.sh (make run)
hostname  = localhost
domains   = example.org
state_dir = $RUN/state
mail_dir  = $RUN/mail/%d/%u
run_dir   = $RUN/run
user      = $DEMO_USER
log       = stderr

[tls]
cert = $RUN/tls/cert.pem
key  = $RUN/tls/key.pem

[smtp]
listen      = 127.0.0.1:$SMTP_PORT
submission  = 127.0.0.1:$SUB_PORT
submissions = 127.0.0.1:$SUBS_PORT

[imap]
listen = 127.0.0.1:$IMAPS_PORT

[dkim]
sign = example.org demo $RUN/state/dkim/example.org.demo.key
EOF
fi

keytool() {
	$RUNAS "$BIN/facteur-keytool" -c "$CONF" "$@"
}

if [ -n "$RUNAS" ]; then
	chown -R nobody:nogroup "$RUN/state" "$RUN/mail" "$RUN/run" \
	    "$RUN/tls" "$CONF"
	if ! $RUNAS test -r "$CONF"; then
		echo "demo: nobody cannot read $CONF" >&2
		exit 1
	fi
fi

if [ ! -s "$RUN/tls/cert.pem" ] || [ ! -s "$RUN/tls/key.pem" ]; then
	if ! keytool tls selfsigned >/dev/null 2>&1 ||
	    [ ! -s "$RUN/tls/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -keyout "$RUN/tls/key.pem" -out "$RUN/tls/cert.pem" \
		    -days 825 -subj /CN=localhost \
		    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		    >/dev/null 2>&1
	fi
	chmod 600 "$RUN/tls/key.pem"
	[ -n "$RUNAS" ] && chown nobody:nogroup "$RUN/tls/key.pem" "$RUN/tls/cert.pem"
fi

DKIM_KEY=$(awk '/^\[/ { sec = $1 } sec == "[dkim]" && $1 == "sign" { print $5; exit }' "$CONF")
if [ -n "$DKIM_KEY" ] && [ ! -s "$DKIM_KEY" ]; then
	mkdir -p "$(dirname "$DKIM_KEY")"
	[ -n "$RUNAS" ] && chown nobody:nogroup "$(dirname "$DKIM_KEY")"
	if ! keytool dkim generate example.org demo >/dev/null; then
		echo "demo: facteur-keytool dkim generate failed" >&2
		exit 1
	fi
fi

if [ ! -s "$RUN/demo-password" ]; then
	PASS=$(openssl rand -base64 18 | tr -dc 'A-Za-z0-9' | cut -c1-16)
	if keytool user add "$ADDR" <<EOF
$PASS
EOF
	then
		(umask 077; printf '%s\n' "$PASS" >"$RUN/demo-password")
	else
		echo "demo: facteur-keytool user add $ADDR failed" >&2
		exit 1
	fi
fi
PASS=$(cat "$RUN/demo-password")

cat <<EOF

facteur demo - configuration $CONF
  SMTP (receive)         127.0.0.1:$SMTP_PORT
  submission (STARTTLS)  127.0.0.1:$SUB_PORT
  submissions (TLS)      127.0.0.1:$SUBS_PORT
  IMAPS                  127.0.0.1:$IMAPS_PORT
  user                   $ADDR
  password               $PASS
  Maildir                $RUN/mail/example.org/demo

Send a test mail (in another terminal):
  swaks --server 127.0.0.1:$SMTP_PORT --from someone@example.net --to $ADDR --header 'Subject: hello facteur'

Read it back over IMAPS:
  curl -k --user '$ADDR:$PASS' 'imaps://127.0.0.1:$IMAPS_PORT/INBOX;UID=1'

Send a DKIM-signed mail (submission, logged in as $ADDR), then check the
signature of the newest message with dkimpy and OpenDKIM:
  swaks --server 127.0.0.1:$SUB_PORT --tls --auth-user $ADDR --auth-password '$PASS' --from $ADDR --to $ADDR --header 'Subject: signed by facteur'
  $ROOT/init/dkim-check.py

EOF

[ -n "${FACTEUR_DEMO_NORUN:-}" ] && exit 0

PIDS=""
stop_all() {
	trap - INT TERM EXIT
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

started=""
for d in authd smtpd imapd; do
	if [ ! -x "$BIN/facteur-$d" ]; then
		echo "demo: facteur-$d is not built yet, not started"
		continue
	fi
	$RUNAS "$BIN/facteur-$d" -c "$CONF" -d &
	PIDS="$PIDS $!"
	started="$started $d"
	if [ "$d" = authd ]; then
		i=0
		while [ ! -S "$RUN/run/authd.sock" ] && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1))
		done
	fi
done
if [ -z "$started" ]; then
	echo "demo: no daemon built yet" >&2
	exit 1
fi
echo "demo: running$started; Ctrl-C stops"
# the first daemon to exit ends the demo: poll, portable to dash
while :; do
	for p in $PIDS; do
		kill -0 "$p" 2>/dev/null || break 2
	done
	sleep 1
done
echo "demo: a daemon exited; stopping the others"
