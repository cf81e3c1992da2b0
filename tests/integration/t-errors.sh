#!/usr/bin/env bash
# Every error a user can hit: a clear message and a non-zero exit.
. "$(dirname "$0")/../lib.sh"
out=$("$TENDD" -t -c "$T/missing.conf" 2>&1); rc=$?
check "tendd -t on a missing config exits 1" test "$rc" = 1
check "and names the file" grep -q "$T/missing.conf: No such file" <<<"$out"
tend_conf <<EOF2
[app:x]
dir = $T
command = true
kill_timeout = soon
restrat = always
EOF2
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
check "tendd -t on a bad config exits 1" test "$rc" = 1
l1=$(grep -n '^kill_timeout' "$T/tend.conf" | cut -d: -f1)
l2=$(grep -n '^restrat' "$T/tend.conf" | cut -d: -f1)
check "first error with file:line" grep -q "^$T/tend.conf:$l1: kill_timeout: expected a duration" <<<"$out"
check "second error too, with a suggestion" grep -q "^$T/tend.conf:$l2: unknown key 'restrat' in \[app:x\]; did you mean 'restart'?" <<<"$out"
check "tendd -f refuses to start on it" bash -c "! \"$TENDD\" -f -c $T/tend.conf 2>/dev/null"
printf '[app:x]\ndir = %s\ncommand = true\nenv_file = %s/bad.env\n' "$T" "$T" | tend_conf
printf 'GOOD=1\nBAD KEY=2\nQ="unterminated\n' > "$T/bad.env"
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
check "tendd -t checks env files" test "$rc" = 1
check "env file error 1 with line" grep -q "^$T/bad.env:2: " <<<"$out"
check "env file error 2 with line" grep -q "^$T/bad.env:3: unterminated double quote" <<<"$out"
printf 'OK=1\nDB_PASSWORD=hunter2pass\n' > "$T/open.env"; chmod 644 "$T/open.env"
printf '[app:x]\ndir = %s\ncommand = true\nenv_file = %s/open.env\n' "$T" "$T" | tend_conf
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1); rc=$?
check "a world-readable .env is a warning, not an error" test "$rc" = 0
check "the warning names the file and the fix" grep -q "^$T/open.env: warning: readable by every user .*chmod 600 $T/open.env" <<<"$out"
check "and never shows a value" bash -c "! grep -q hunter2pass <<<'$out'"
chmod 600 "$T/open.env"
out=$("$TENDD" -t -c "$T/tend.conf" 2>&1)
check "no warning once it is chmod 600" bash -c "! grep -q warning <<<'$out'"
out=$("$TENDCTL" -s "$T/nonexistent.sock" status 2>&1); rc=$?
check "unreachable socket exits 3" test "$rc" = 3
check "and names the socket" grep -q "$T/nonexistent.sock" <<<"$out"
printf '[app:x]\ndir = %s\ncommand = sleep 100\n' "$T" | tend_conf
tendd_start || { not_ok "tendd starts"; done_testing; }
out=$(tctl status nosuchapp 2>&1); rc=$?
check "unknown app exits 1" test "$rc" = 1
check "and names it" grep -q "no app named nosuchapp" <<<"$out"
tctl bogus >/dev/null 2>&1; rc=$?
check "unknown command exits 2" test "$rc" = 2
tctl logs >/dev/null 2>&1; rc=$?
check "logs without an app exits 2" test "$rc" = 2
tctl start >/dev/null 2>&1; rc=$?
check "start without an app exits 2" test "$rc" = 2
out=$(tctl start '../etc' 2>&1); rc=$?
check "an invalid app name is refused" test "$rc" = 2
"$TENDD" -f -c "$T/tend.conf" >"$T/second.log" 2>&1; rc=$?
check "a second tendd on the same socket refuses to start" test "$rc" = 1
check "saying another tendd is listening" grep -q "another tendd is already listening" "$T/second.log"
check "the first tendd still answers" tctl status
done_testing
