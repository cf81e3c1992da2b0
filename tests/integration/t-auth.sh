#!/usr/bin/env bash
# Only root, tendd's own uid and socket_group members get in.
. "$(dirname "$0")/../lib.sh"
G=tendtest$$; U=tendtest$$
groupadd --system "$G" && useradd --system --no-create-home -g nogroup -G "$G" -s /usr/sbin/nologin "$U" ||
	{ not_ok "create a test user and group"; done_testing; }
on_exit "userdel $U; groupdel $G"
TEND_EXTRA="socket_group = $G" tend_conf <<EOF2
[app:web]
dir = $SRCDIR/tests/app
command = $NODE server.js
min_ready = 100ms
EOF2
( umask 000; tendd_start ) || { not_ok "tendd starts"; done_testing; }
TENDD_PID=$(pgrep -f "tendd -f -c $T/tend.conf")
check "root may use status" tctl status
mode=$(stat -c %a "$T/tend.sock")
check "socket mode is 660 despite umask 000 (got $mode)" test "$mode" = 660
check "socket group is $G" test "$(stat -c %G "$T/tend.sock")" = "$G"
as() { local u=$1; shift; setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups "$@"; }
out=$(as nobody "$TENDCTL" -s "$T/tend.sock" status 2>&1); rc=$?
check "nobody is refused by the socket's mode (exit 3)" test "$rc" = 3
check "with a message about permission" grep -qi "permission denied" <<<"$out"
chmod 666 "$T/tend.sock"
out=$(as nobody "$TENDCTL" -s "$T/tend.sock" status 2>&1); rc=$?
check "nobody is refused by tendd itself (exit 1)" test "$rc" = 1
check "tendd names the uid" grep -q "uid $(id -u nobody) is not root" <<<"$out"
check "and socket_group, which would let a user in" grep -q "is not root and not in group $G (socket_group)" <<<"$out"
check "tendd logs the refusal" grep -q "refused uid $(id -u nobody)" "$T/tendd.log"
chmod 660 "$T/tend.sock"
check "a member of socket_group gets in" as "$U" "$TENDCTL" -s "$T/tend.sock" status
# A socket directory tendd creates gets 0755 whatever the umask.
kill -TERM "$TENDD_PID"
while kill -0 "$TENDD_PID" 2>/dev/null; do sleep 0.05; done
TENDD_PID=
sed -i "s|^socket = .*|socket = $T/run/sub/tend.sock|" "$T/tend.conf"
( umask 000; tendd_start ) || { not_ok "tendd restarts"; done_testing; }
TENDD_PID=$(pgrep -f "tendd -f -c $T/tend.conf")
check "the socket directories it made are 0755 (umask 000)" test "$(stat -c %a "$T/run") $(stat -c %a "$T/run/sub")" = "755 755"
check "a socket_group member reaches the socket through them" as "$U" "$TENDCTL" -s "$T/run/sub/tend.sock" status
check "the socket in it is 0660" test "$(stat -c %a "$T/run/sub/tend.sock")" = 660
done_testing
