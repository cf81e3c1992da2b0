#!/usr/bin/env bash
# Layers only look down: every call from a daemon file into another one
# goes to the same layer or below, except the up-calls tests/layers.sh
# lists (each explained where it is made).
. "$(dirname "$0")/../lib.sh"
out=$(bash "$SRCDIR/tests/layers.sh" "$BUILDDIR" 2>&1); rc=$?
printf '%s\n' "$out" | grep -E 'mutual|up-calls|NOT ALLOWED|not allowed' | sed 's/^/# /'
check "no call goes up a layer unless listed and explained" test "$rc" = 0
done_testing
