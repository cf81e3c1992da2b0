#!/usr/bin/env bash
# Every parser of untrusted or hand-edited input survives a bounded
# libFuzzer run (ASan+UBSan, leaks checked) from its seed corpus.
. "$(dirname "$0")/../lib.sh"
command -v clang >/dev/null || { echo "skip - clang is not installed"; done_testing; }
secs=${FUZZ_SECONDS:-20}
if ! make -s -C "$BUILDDIR" fuzz >"$T/build.log" 2>&1; then
	not_ok "make fuzz builds the targets" "$(tail -n 5 "$T/build.log")"
	done_testing
fi
ok "make fuzz builds the targets"
for t in dotenv conf proto units http logline; do
	mkdir -p "$T/corpus-$t"
	cp "$SRCDIR/tests/fuzz/corpus/$t/"* "$T/corpus-$t/"
	"$BUILDDIR/tests/fuzz/fuzz-$t" -max_total_time="$secs" -max_len=4096 \
	    -rss_limit_mb=1024 "$T/corpus-$t" >"$T/fuzz-$t.log" 2>&1
	rc=$?
	runs=$(grep -o 'Done [0-9]* runs' "$T/fuzz-$t.log" | awk '{print $2}')
	if [ "$rc" = 0 ]; then
		ok "fuzz-$t: ${runs:-?} runs in ${secs}s, no crash, leak or UB"
	else
		not_ok "fuzz-$t found a problem" "$(grep -E 'ERROR|SUMMARY|runtime error' "$T/fuzz-$t.log" | head -n 5)"
		cp "$T/fuzz-$t.log" "$BUILDDIR/tests/fuzz/last-failure-$t.log" 2>/dev/null
	fi
done
done_testing
