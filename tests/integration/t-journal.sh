#!/usr/bin/env bash
# App output goes to the journal with the app's name and priority.  The
# test runs tendd in a mount namespace where the journal's socket is a
# datagram socket of the test's own (no journald needed).
. "$(dirname "$0")/../lib.sh"
if ! unshare -m true 2>/dev/null; then
	echo "skip - no mount namespaces here (unshare -m failed)"
	done_testing
fi
tend_conf <<EOF2
log_journal = yes

[app:jweb]
dir = $SRCDIR/tests/app
command = sh -c 'echo to-stdout; echo to-stderr >&2; exec $NODE server.js'
min_ready = 300ms
EOF2
# log_journal belongs in [tend]: move it there.
sed -i '/^log_journal = yes$/d' "$T/tend.conf"; sed -i 's|^\[tend\]$|[tend]\nlog_journal = yes|' "$T/tend.conf"
unshare -m bash -c "
	mkdir -p /run/systemd/journal && mount -t tmpfs tmpfs /run/systemd/journal || exit 1
	python3 '$SRCDIR/tests/dgram-listen.py' /run/systemd/journal/socket '$T/journal.out' &
	lp=\$!
	for i in \$(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
	'$TENDD' -f -c '$T/tend.conf' >>'$T/tendd.log' 2>&1 &
	tp=\$!
	for i in \$(seq 100); do grep -q to-stderr '$T/journal.out' 2>/dev/null && break; sleep 0.1; done
	kill -TERM \$tp; wait \$tp; kill \$lp
"
out=$T/journal.out
check "stdout line reached the journal" grep -q 'MESSAGE=to-stdout' "$out"
# One message per line, its fields joined by '|', in any order.
field() { grep -E "[ |]MESSAGE=$1([|]|$)" "$T/journal.out" | grep -qE "[ |]$2([|]|$)"; }
check "with PRIORITY=6" field to-stdout PRIORITY=6
check "stderr line with PRIORITY=3" field to-stderr PRIORITY=3
check "SYSLOG_IDENTIFIER is the app" field to-stdout SYSLOG_IDENTIFIER=jweb
check "TEND_APP field" field to-stdout TEND_APP=jweb
done_testing
