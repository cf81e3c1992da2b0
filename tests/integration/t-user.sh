#!/usr/bin/env bash
# user = runs the app with exactly that uid, gid and supplementary groups,
# and no capabilities.
. "$(dirname "$0")/../lib.sh"
[ "$(id -u)" = 0 ] || { echo "skip - needs root"; done_testing; }
U=tendapp$$; G=tendextra$$
groupadd --system "$G" && useradd --system --no-create-home -U -G "$G" -s /usr/sbin/nologin "$U" ||
	{ not_ok "create a test user"; done_testing; }
on_exit "userdel $U; groupdel $G 2>/dev/null; groupdel $U 2>/dev/null"
# The checkout may sit where the user cannot read (under /root).
mkdir -p "$T/app" && cp "$SERVER" "$T/app/" && chmod -R a+rX "$T/app"
tend_conf <<EOF2
[app:web]
dir = $T/app
command = $NODE server.js
user = $U
min_ready = 300ms
EOF2
tendd_start || { not_ok "tendd starts"; done_testing; }
check "live" wait_for live 10 state_is web live
pid=$(json web pid)
st=/proc/$pid/status
uid=$(id -u "$U"); gid=$(id -g "$U"); xg=$(getent group "$G" | cut -d: -f3)
check "real, effective, saved uid are the user's" test "$(awk '/^Uid:/ {print $2,$3,$4,$5}' "$st")" = "$uid $uid $uid $uid"
check "gids are the user's primary group" test "$(awk '/^Gid:/ {print $2,$3,$4,$5}' "$st")" = "$gid $gid $gid $gid"
groups=$(awk '/^Groups:/ { $1 = ""; print }' "$st")
check "supplementary group $G kept (groups:$groups)" grep -qw "$xg" <<<"$groups"
check "no other supplementary group (root's 0 is gone)" bash -c "! grep -qw 0 <<<'$groups'"
check "no capabilities (CapEff 0)" test "$(awk '/^CapEff:/ {print $2}' "$st")" = 0000000000000000
check "no permitted capabilities" test "$(awk '/^CapPrm:/ {print $2}' "$st")" = 0000000000000000
# tend.service sets NoNewPrivileges=yes: the drop must still work under it.
kill -TERM "$TENDD_PID"; wait "$TENDD_PID"; TENDD_PID=
setpriv --no-new-privs "$TENDD" -f -c "$T/tend.conf" >>"$T/tendd.log" 2>&1 &
TENDD_PID=$!
check "live under no_new_privs" wait_for live 10 state_is web live
pid=$(json web pid)
check "tendd runs with NoNewPrivs" test "$(awk '/^NoNewPrivs:/ {print $2}' /proc/$TENDD_PID/status)" = 1
check "the app still runs as the user" test "$(awk '/^Uid:/ {print $2,$3}' /proc/$pid/status)" = "$uid $uid"
check "with its supplementary group" grep -qw "$xg" <<<"$(awk '/^Groups:/' /proc/$pid/status)"
done_testing
