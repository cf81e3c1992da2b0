#!/usr/bin/env bash
# The systemd units are valid and the service's hardening keeps its score.
. "$(dirname "$0")/../lib.sh"
if ! command -v systemd-analyze >/dev/null; then
	echo "skip - systemd-analyze is not installed"
	done_testing
fi
sed "s|@sbindir@/tendd|$TENDD|g; s|@sysconfdir@|$T|g" "$SRCDIR/systemd/tend.service.in" > "$T/tend.service"
cp "$SRCDIR/systemd/tend.socket" "$T/tend.socket"
out=$(systemd-analyze verify --man=no "$T/tend.service" "$T/tend.socket" 2>&1); rc=$?
check "systemd-analyze verify accepts tend.service and tend.socket" test "$rc" = 0 -a -z "$out"
[ -n "$out" ] && printf '# %s\n' "$out"
check "Type=notify with a watchdog" grep -q '^WatchdogSec=' "$T/tend.service"
check "no MemoryDenyWriteExecute (breaks Node's JIT)" bash -c "! grep -q '^MemoryDenyWriteExecute' $T/tend.service"
score=$(systemd-analyze security --offline=true "$T/tend.service" 2>/dev/null | grep -o 'exposure level for tend.service: [0-9.]*' | awk '{print $NF}')
echo "# systemd-analyze security: $score"
check "security exposure at most 3.5 (got $score)" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 3.5) }'
done_testing
