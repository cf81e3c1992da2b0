#!/bin/bash
# tests/layers.sh: which daemon file calls into which, read from a build.
#
# For every object linked into src/tendd (src/tendd-*.o; libtend's pure
# files are not listed), each undefined symbol is resolved to the daemon
# object that defines it.  Prints, per file, the files it calls into with
# the number of symbols; then the pairs of files that call each other in
# both directions; then, with the layer table below, every reference that
# goes up a layer.  A hook (a function pointer a lower file is given) is
# not a link-time reference, so it does not show here: that is the point.
#
#   tests/layers.sh [-v] [BUILDDIR]    (default: the current directory)
#     -v   name the symbols of each reference
#
# Exit status: 0, or 1 when a file calls up a layer that is not listed in
# ALLOWED_UP below (so a new up-call is a decision, not an accident).
set -euo pipefail

verbose=0
if [ "${1:-}" = -v ]; then verbose=1; shift; fi
build=${1:-.}

# Layers, lowest first: a file may call its own layer and any below.
LAYERS='
1 spawn.c appenv.c logpipe.c logzip.c ptree.c job.c health.c lineproc.c probe-run.c fleet-run.c check.c release.c nginx.c nginx-lua.c systemd.c
2 app.c inst.c supervise.c prep.c preflight.c
3 deploy.c fleet.c fleet-deploy.c
4 control.c cmd.c cmd-status.c cmd-run.c cmd-logs.c cmd-reread.c cmd-check.c cmd-deploy.c cmd-metrics.c metrics.c
5 tendd.c handover.c
'
# Up-calls that stay, each with its reason at the call site
# ("caller.c:symbol").  Keep this list short.
ALLOWED_UP='
job.c:app_handle_done logpipe.c:app_handle_done
health.c:inst_event health.c:inst_event_why
logpipe.c:inst_group_check job.c:app_notify job.c:app_maybe_free
logpipe.c:inst_active
'

shopt -s nullglob
objs=("$build"/src/tendd-*.o)
if [ ${#objs[@]} -eq 0 ]; then
	echo "layers.sh: no $build/src/tendd-*.o: build first" >&2
	exit 2
fi

{
	for o in "${objs[@]}"; do
		f=${o##*/tendd-}
		f=${f%.o}.c
		# Defined, global: text, data, bss, read-only (and weak).
		nm -P --defined-only "$o" |
		    awk -v f="$f" '$2 ~ /^[TDBRVW]$/ { print "D", f, $1 }'
		nm -P --undefined-only "$o" |
		    awk -v f="$f" '{ print "U", f, $1 }'
	done
} | awk -v verbose="$verbose" -v layers="$LAYERS" -v allowed="$ALLOWED_UP" '
BEGIN {
	n = split(layers, lines, "\n")
	for (i = 1; i <= n; i++) {
		m = split(lines[i], w, " ")
		for (j = 2; j <= m; j++)
			layer[w[j]] = w[1]
	}
	n = split(allowed, a, "[ \n]+")
	for (i = 1; i <= n; i++)
		if (a[i] != "")
			ok[a[i]] = 1
}
$1 == "D" { def[$3] = $2; files[$2] = 1; next }
$1 == "U" { und[++nu] = $2 " " $3; files[$2] = 1 }
END {
	for (i = 1; i <= nu; i++) {
		split(und[i], u, " ")
		if (!(u[2] in def) || def[u[2]] == u[1])
			continue
		k = u[1] SUBSEP def[u[2]]
		cnt[k]++
		syms[k] = syms[k] " " u[2]
	}
	nf = 0
	for (f in files)
		names[++nf] = f
	# Sort by layer, then by name.
	for (i = 1; i <= nf; i++)
		for (j = i + 1; j <= nf; j++)
			if (key(names[j]) < key(names[i])) {
				t = names[i]; names[i] = names[j]; names[j] = t
			}

	print "calls into (file -> files it references, symbols):"
	edges = 0
	for (i = 1; i <= nf; i++) {
		f = names[i]
		line = ""
		for (j = 1; j <= nf; j++) {
			g = names[j]
			if ((f, g) in cnt) {
				line = line " " g "(" cnt[f, g] ")"
				edges++
			}
		}
		printf "  %s %-14s ->%s\n", lyr(f), f, line == "" ? " -" : line
		if (verbose)
			for (j = 1; j <= nf; j++)
				if ((f, names[j]) in cnt)
					printf "        %s:%s\n", names[j], \
					    syms[f, names[j]]
	}
	printf "files %d, file-to-file references %d\n\n", nf, edges

	print "mutual pairs (each calls the other):"
	pairs = 0
	for (i = 1; i <= nf; i++)
		for (j = i + 1; j <= nf; j++)
			if (((names[i], names[j]) in cnt) &&
			    ((names[j], names[i]) in cnt)) {
				printf "  %s <-> %s\n", names[i], names[j]
				pairs++
			}
	printf "mutual pairs: %d\n\n", pairs

	print "up-calls (a file referencing a higher layer):"
	ups = 0; bad = 0
	for (i = 1; i <= nf; i++)
		for (j = 1; j <= nf; j++) {
			f = names[i]; g = names[j]
			if (!((f, g) in cnt) || !(f in layer) || !(g in layer))
				continue
			if (layer[g] <= layer[f])
				continue
			m = split(syms[f, g], s, " ")
			for (k = 1; k <= m; k++) {
				tag = (f ":" s[k]) in ok ? "allowed" : "NEW"
				if (tag == "NEW")
					bad++
				printf "  %s %s -> %s %s: %s (%s)\n", layer[f], \
				    f, layer[g], g, s[k], tag
				ups++
			}
		}
	for (i = 1; i <= nf; i++)
		if (!(names[i] in layer))
			printf "  %s has no layer\n", names[i]
	printf "up-calls: %d (%d not allowed)\n", ups, bad
	exit bad > 0
}
function lyr(f) { return (f in layer) ? "L" layer[f] : "L?" }
function key(f) { return ((f in layer) ? layer[f] : 9) " " f }
'
