#!/usr/bin/env bash
# Paths from configure: a build with another --prefix, --sysconfdir,
# --runstatedir and --localstatedir (out of tree, installed under the
# test's directory) gives a tendd, a tendctl, a tend.conf and a unit that
# all name the same config, socket, state and log directories.
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || { echo "skip - needs root (tendd, groupadd)"; done_testing; }
for p in autoreconf make cc git; do
	if ! command -v $p >/dev/null; then
		echo "skip - t-paths needs $p"
		exit 0
	fi
done

P=$T/p ETC=$T/etc RUN=$T/run VAR=$T/var
tree_copy "$T/src" || { not_ok "copy the source tree"; done_testing; }
(cd "$T/src" && autoreconf -fi) >"$T/build.log" 2>&1 &&
mkdir "$T/b" && (cd "$T/b" && "$T/src/configure" --quiet --prefix="$P" \
    --sysconfdir="$ETC" --runstatedir="$RUN" --localstatedir="$VAR" &&
    make -j2 V=0 && make V=0 install) >>"$T/build.log" 2>&1
rc=$?
check "an out-of-tree build with other directories installs" test "$rc" = 0
if [ "$rc" != 0 ]; then
	tail -n 20 "$T/build.log" | sed 's/^/# /'
	done_testing
fi

# What the programs were built with, as tendd -p shows it.
"$P/sbin/tendd" -p > "$T/paths"
want() { grep -qx "$1 *$2" "$T/paths" || { cat "$T/paths"; false; }; }
check "tendd -p: config under --sysconfdir" want config "$ETC/tend/tend.conf"
check "tendd -p: socket under --runstatedir" want socket "$RUN/tend/tend.sock"
check "tendd -p: state_dir under --localstatedir" want state_dir "$VAR/lib/tend"
check "tendd -p: log_dir under --localstatedir" want log_dir "$VAR/log/tend"
check "tendd -p: the probe is where it was installed" \
    test -x "$(awk '$1 == "probe" { print $2 }' "$T/paths")"
check "tendd -p: the probe is under --libexecdir" want probe "$P/libexec/tend/tend-probe"

# The installed tend.conf names the same directories, runs no app, and
# is what tendd and tendctl read when given no -c.
conf=$ETC/tend/tend.conf
check "tend.conf installed under --sysconfdir" test -f "$conf"
check "tend.conf: socket under --runstatedir" \
    grep -qE "^socket *= *$RUN/tend/tend.sock( |\$)" "$conf"
check "tend.conf: state_dir and log_dir under --localstatedir" \
    sh -c "grep -qE '^state_dir *= *$VAR/lib/tend( |\$)' '$conf' &&
        grep -qE '^log_dir *= *$VAR/log/tend( |\$)' '$conf'"
check "tend.conf: no /etc, /run or /var path left in it" \
    sh -c "! grep -nE '(^|[ =])/(etc|run|var)/(tend|lib/tend|log/tend)' '$conf'"
# socket_group = tend: the group must exist for tendd -t to pass.
if ! getent group tend >/dev/null; then
	groupadd --system tend && on_exit "groupdel tend"
fi
out=$("$P/sbin/tendd" -t 2>&1)
check "tendd -t without -c reads the installed tend.conf and passes" \
    sh -c "printf '%s\n' '$out' | grep -qx '$conf: configuration OK (0 apps)'"

# The unit: its tendd reads that config, and systemd lets it write the
# directories (no RuntimeDirectory= outside /run, no StateDirectory=
# outside /var/lib).
unit=$P/lib/systemd/system/tend.service
check "unit installed" test -f "$unit"
check "unit: ExecStartPre checks the same config" \
    grep -qx "ExecStartPre=$P/sbin/tendd -t -c $conf" "$unit"
check "unit: ExecStart runs the installed tendd on the same config" \
    grep -qx "ExecStart=$P/sbin/tendd -f -c $conf" "$unit"
check "unit: its directories are writable under ProtectSystem=strict" \
    sh -c "grep -qx 'ReadWritePaths=$RUN/tend' '$unit' &&
        grep -qx 'ReadWritePaths=$VAR/lib/tend' '$unit' &&
        grep -qx 'ReadWritePaths=$VAR/log/tend' '$unit' &&
        ! grep -qE '^(Runtime|State|Logs)Directory=' '$unit'"
check "make install made those directories" \
    test -d "$RUN/tend" -a -d "$VAR/lib/tend" -a -d "$VAR/log/tend"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify --man=no "$unit" 2>&1); rc=$?
	check "systemd-analyze verify accepts the installed unit" \
	    test "$rc" = 0 -a -z "$out"
	[ -n "$out" ] && printf '# %s\n' "$out"
fi

# Run tendd as the unit does, and reach it with a tendctl given nothing.
unset TEND_SOCKET
cmd=$(sed -n 's/^ExecStart=//p' "$unit")
$cmd >"$T/tendd.log" 2>&1 &
TENDD_PID=$!
wait_for "tendd on $RUN/tend/tend.sock" 10 test -S "$RUN/tend/tend.sock" ||
    not_ok "tendd started from the unit's ExecStart"
check "tendctl with no -c or -s reaches the unit's tendd" \
    "$P/bin/tendctl" status
kill -TERM "$TENDD_PID"
wait "$TENDD_PID"
check "tendd stopped on SIGTERM" test $? = 0
TENDD_PID=
out=$("$P/bin/tendctl" status 2>&1); rc=$?
check "tendctl without tendd: exit 3 naming the socket it tried" \
    sh -c "test $rc = 3 && printf '%s\n' '$out' | grep -qF '$RUN/tend/tend.sock'"

# make install again keeps a tend.conf the user edited.
echo "; edited" >> "$conf"
(cd "$T/b" && make V=0 install) >>"$T/build.log" 2>&1
check "make install keeps an edited tend.conf" \
    grep -qx "; edited" "$conf"
done_testing
