#!/usr/bin/env bash
# timeout: 600
# The Debian package: built from a copy of the tree with dpkg-buildpackage,
# checked with lintian, installed on this machine with apt-get, upgraded to
# a rebuilt package (next Debian revision) while an app runs (tendd and
# the app keep their pids and the app answers throughout), removed (logs
# and state stay) and purged (they go).  systemd is not PID 1 here, so the
# maintainer scripts' systemctl calls are skipped (they test for
# /run/systemd/system) and tendd is started the way the unit's ExecStart
# line starts it.  The machine is left as it was: the package is purged at
# exit, even on failure.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
for p in dpkg-buildpackage dh lintian apt-get curl jq; do
	command -v $p >/dev/null || {
		echo "skip - t-package needs $p (./setup test installs it)"
		done_testing
	}
done
if dpkg-query -W -f='${Status}' tend 2>/dev/null | grep -qv "not-installed"; then
	echo "skip - a tend package is installed here; the test would replace it"
	done_testing
fi
for d in /etc/tend /var/lib/tend /var/log/tend /run/tend; do
	if [ -e "$d" ]; then
		echo "skip - $d exists: tend runs here outside the package"
		done_testing
	fi
done

APT="apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends"
export DEBIAN_FRONTEND=noninteractive
getent group tend >/dev/null && had_group=1 || had_group=0
# At exit, whatever happened: no package, no directory, no group it made.
on_exit "dpkg --purge tend >/dev/null 2>&1; rm -rf /etc/tend /var/lib/tend /var/log/tend /run/tend"
[ $had_group = 1 ] || on_exit "groupdel tend"

# build DIR REVISION [FROM]: the tree in DIR/tend (a copy of the source,
# or of FROM's built tree: only the packaging runs again, as for a new
# Debian revision), its changelog at REVISION of configure.ac's version,
# built; the .deb's path on stdout.
build() {
	local dir=$1 rev=$2 from=${3:-} v nc=
	if [ -n "$from" ]; then
		mkdir -p "$dir" && cp -a "$from/tend" "$dir/tend" || return 1
		nc=-nc
	else
		tree_copy "$dir/tend" || return 1
	fi
	v=$(sed -n 's/^AC_INIT(\[tend\], \[\([^]]*\)\].*/\1/p' "$dir/tend/configure.ac")
	if [ "$(cd "$dir/tend" && dpkg-parsechangelog -S Version)" != "$v-$rev" ]; then
		{ printf 'tend (%s-%s) unstable; urgency=medium\n\n' "$v" "$rev"
		  printf '  * Rebuilt by t-package.\n\n'
		  printf ' -- tend tests <root@localhost>  %s\n\n' "$(date -R)"
		  cat "$dir/tend/debian/changelog"; } > "$dir/changelog"
		mv "$dir/changelog" "$dir/tend/debian/changelog"
	fi
	(cd "$dir/tend" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	    dpkg-buildpackage -us -uc -b $nc) > "$dir/build.log" 2>&1 ||
	    { tail -n 20 "$dir/build.log" | sed 's/^/# /' >&2; return 1; }
	ls "$dir/tend_$v-$rev"_*.deb
}

# The package's version is configure.ac's: whoever bumps one bumps the
# other (a new debian/changelog entry).
cv=$(sed -n 's/^AC_INIT(\[tend\], \[\([^]]*\)\].*/\1/p' "$SRCDIR/configure.ac")
dv=$(cd "$SRCDIR" && dpkg-parsechangelog -S Version)
check "debian/changelog ($dv) is at configure.ac's version ($cv)" \
    test "${dv%-*}" = "$cv"
rev1=${dv##*-}
rev2=$((rev1 + 1))
deb1=$(build "$T/b1" "$rev1")
check "dpkg-buildpackage -us -uc -b builds $(basename "${deb1:-the .deb}")" test -f "$deb1"
[ -f "$deb1" ] || done_testing
check "a -dbgsym package beside it" sh -c "ls $T/b1/tend-dbgsym_*.deb"

# As nobody: lintian run as root warns about it, on the same stream.
out=$(runuser -u nobody -- lintian --fail-on error,warning --display-info \
    "$T"/b1/tend_*.changes 2>&1)
rc=$?
printf '%s\n' "$out" | grep . | sed 's/^/# lintian: /'
check "lintian: no error or warning, every info tag overridden" \
    sh -c "test $rc = 0 && ! printf '%s\n' '$out' | grep -q '^[EWI]:'"

# --- install -------------------------------------------------------------
$APT install "$deb1" > "$T/install1.log" 2>&1
check "apt-get install ./$(basename "$deb1")" \
    sh -c "dpkg-query -W -f='\${Status} \${Version}' tend | grep -qx 'install ok installed .*-$rev1'"
check "the group tend exists (sysusers.d)" getent group tend
check "sysusers.d snippet in /usr/lib/sysusers.d" \
    grep -qx 'g tend -' /usr/lib/sysusers.d/tend.conf
for f in /usr/sbin/tendd /usr/bin/tendctl /usr/libexec/tend/tend-probe /usr/libexec/tend/tend-fleet; do
	check "$f installed, executable" test -x "$f"
done
for m in man8/tendd.8 man1/tendctl.1 man5/tend.conf.5; do
	check "man page /usr/share/man/$m.gz" test -f "/usr/share/man/$m.gz"
done
unit=$(dpkg -L tend | grep -E '^(/usr)?/lib/systemd/system/tend.service$')
check "tend.service in the system unit directory ($unit)" test -f "$unit"
check "tend.socket shipped beside it" test -f "$(dirname "$unit")/tend.socket"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify --man=no "$unit" "$(dirname "$unit")/tend.socket" 2>&1)
	check "systemd-analyze verify accepts the installed units" \
	    test "$?" = 0 -a -z "$out"
	[ -n "$out" ] && printf '# %s\n' "$out"
fi
check "/etc/tend/tend.conf is a conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}\n' tend | grep -q '^ /etc/tend/tend.conf '"
check "tendd -t passes on the shipped config" /usr/sbin/tendd -t
check "tendd -p: /etc, /run, /var/lib, /var/log, /usr/libexec paths" \
    sh -c '/usr/sbin/tendd -p | awk "{ print \$2 }" | sed 1d | tr "\n" " " |
        grep -qx "/etc/tend/tend.conf /run/tend/tend.sock /var/lib/tend /var/log/tend /usr/libexec/tend/tend-probe "'
check "the unit runs the installed tendd on the shipped config" \
    grep -qx "ExecStart=/usr/sbin/tendd -f -c /etc/tend/tend.conf" "$unit"
v=$cv
out=$(/usr/bin/tendctl --version 2>&1); rc=$?
check "tendctl --version exits 0" test "$rc" = 0
check "tendctl --version names $v" grep -qF "$v" <<<"$out"

# What systemd would be asked (the calls are skipped here): start on
# install, stop only on remove, never a restart on upgrade.
info=/var/lib/dpkg/info
check "postinst starts tend.service" \
    grep -q "deb-systemd-invoke start 'tend.service'" $info/tend.postinst
check "postinst never restarts tend.service (an upgrade keeps the apps)" \
    sh -c "! grep -nE 'deb-systemd-invoke .*restart|_dh_action' $info/tend.postinst"
check "prerm stops tend.service on remove only, not on upgrade" \
    sh -c "grep -B1 \"deb-systemd-invoke stop 'tend.service'\" $info/tend.prerm |
        grep -q '\"\$1\" = remove'"

# --- the running service -------------------------------------------------
app_user || { not_ok "create the app's user"; done_testing; }
mkdir -p "$T/app" && cp "$SERVER" "$T/app/" && chmod -R a+rX "$T/app"
port=$(free_port)
cat >> /etc/tend/tend.conf <<EOF2

[app:web]
dir = $T/app
command = $NODE server.js
user = $APP_USER
port = $port
health = /health
EOF2
check "tendd -t passes on the edited config" /usr/sbin/tendd -t
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
setsid $cmd >> "$T/tendd.log" 2>&1 &
TENDD_PID=$!
pst() { /usr/bin/tendctl status --json | jq -r ".apps[] | select(.name == \"web\") | .$1"; }
live() { [ "$(pst state)" = live ]; }
check "tendd (as the unit starts it) runs the app: live" wait_for live 20 live
app_pid=$(pst pid)
check "the app answers on :$port" curl -fsS --max-time 2 "http://127.0.0.1:$port/health"

# The upgrade, with requests going all the time (bounded: at most 60 s).
: > "$T/ok"; : > "$T/fail"
(
	end=$(( $(date +%s) + 60 ))
	while [ ! -e "$T/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		if p=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/pid"); then
			echo "$p" >> "$T/ok"
		else
			echo x >> "$T/fail"
		fi
		sleep 0.02
	done
) &
loop=$!
wait_for "requests before the upgrade" 10 test -s "$T/ok"
before=$(wc -l < "$T/ok")
deb2=$(build "$T/b2" "$rev2" "$T/b1")
check "a rebuilt package at revision $rev2" test -f "$deb2"
$APT install "$deb2" > "$T/install2.log" 2>&1
rc=$?
sed 's/^/# apt: /' "$T/install2.log" | grep -i "tend:" || true
touch "$T/stop"; wait $loop
check "apt-get install ./$(basename "${deb2:-deb}") upgrades" \
    sh -c "test $rc = 0 && dpkg-query -W -f='\${Version}' tend | grep -q -- '-$rev2\$'"
check "requests went on during the upgrade" test "$(wc -l < "$T/ok")" -gt "$before"
check "no request failed ($(wc -l < "$T/fail") of $(( $(wc -l < "$T/ok") + $(wc -l < "$T/fail") )))" \
    test ! -s "$T/fail"
check "every answer came from the same app process" \
    test "$(sort -u "$T/ok")" = "$app_pid"
check "the app kept its pid" test "$(pst pid)" = "$app_pid"
check "tendd kept running (pid $TENDD_PID)" kill -0 "$TENDD_PID"
check "the new tendctl talks to the running tendd: web live" live
check "the postinst said tendd now runs the new version" \
    grep -q "now runs the new version; its apps kept running" "$T/install2.log"
check "tendd's executable is the new /usr/sbin/tendd ($(readlink "/proc/$TENDD_PID/exe"))" \
    test "$(stat -L -c %d:%i "/proc/$TENDD_PID/exe")" = "$(stat -c %d:%i /usr/sbin/tendd)"
check "tendd's executable is not a deleted file" \
    sh -c "! readlink /proc/$TENDD_PID/exe | grep -q deleted"
check "the edited tend.conf survived the upgrade" \
    grep -qx "\[app:web\]" /etc/tend/tend.conf

# --- remove and purge ----------------------------------------------------
# systemd would stop tend.service in prerm; here, as it would: SIGTERM.
kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; TENDD_PID=
check "tendd left a log of the app" test -s /var/log/tend/web.log
$APT remove tend > "$T/remove.log" 2>&1
check "apt-get remove: binaries gone" test ! -e /usr/sbin/tendd -a ! -e /usr/bin/tendctl
check "remove keeps the config (rc)" \
    sh -c "dpkg-query -W -f='\${db:Status-Abbrev}' tend | grep -q '^rc' && test -f /etc/tend/tend.conf"
check "remove keeps logs and state" test -d /var/lib/tend -a -s /var/log/tend/web.log
$APT purge tend > "$T/purge.log" 2>&1
check "apt-get purge: the package is gone" \
    sh -c "! dpkg-query -W -f='\${Status}' tend 2>/dev/null | grep -q installed"
check "purge removes config, logs and state" \
    test ! -e /etc/tend -a ! -e /var/lib/tend -a ! -e /var/log/tend
check "purge leaves the group tend (files may still belong to it)" getent group tend
done_testing
