#!/bin/sh
# Runs the committed mutations (scripts/mutants/*.patch, format in scripts/mutants/README.md): each one is applied
# to a fresh copy of HEAD and the tests named in its "# test:" lines are run there with CI=true and -race. A
# mutation must make at least one of them fail (KILLED); it SURVIVED when they all pass. Exits non-zero when a
# mutation survived, no longer applies, does not build, or names tests that do not exist.
#
# Usage: scripts/mutants/run.sh [-b] [PATCH...]   (default: every scripts/mutants/*.patch)
#   -b  first run each patch's tests on the unmodified copy: they must pass there, or a kill proves nothing.
set -u
ROOT="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || exit 2
GO="${GO:-go}"
baseline=0
if [ "${1:-}" = "-b" ]; then
	baseline=1
	shift
fi
[ $# -gt 0 ] || set -- "$ROOT"/scripts/mutants/*.patch
[ -e "$1" ] || { echo "mutants: no patches in scripts/mutants" >&2; exit 2; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tbgateway-mutants.XXXXXX")" || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM

# runtests DIR PATCH LOG: runs every "# test:" line of PATCH in DIR; status 0 if all passed, 1 if one failed,
# 2 if the patch names no test or a pattern matches no test.
runtests() {
	lines="$(sed -n 's/^# test:[[:space:]]*//p' "$2")"
	[ -n "$lines" ] || { echo "no '# test: <package> <regex>' line" >>"$3"; return 2; }
	status=0
	while read -r pkg regex; do
		[ -n "$pkg" ] && [ -n "$regex" ] || { echo "malformed test line: $pkg $regex" >>"$3"; return 2; }
		echo "== CI=true go test -race -count=1 -run '$regex' $pkg" >>"$3"
		out="$(cd "$1" && CI=true CGO_ENABLED=1 "$GO" test -race -count=1 -run "$regex" "$pkg" 2>&1)"
		rc=$?
		printf '%s\n' "$out" >>"$3"
		if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'no tests to run'; then
			echo "'$regex' matches no test in $pkg" >>"$3"
			return 2
		fi
		if printf '%s\n' "$out" | grep -q -e '\[build failed\]' -e '\[setup failed\]'; then
			echo "does not build" >>"$3"
			return 2
		fi
		[ $rc -eq 0 ] || status=1
	done <<EOF
$lines
EOF
	return $status
}

killed=0
bad=0
for patch in "$@"; do
	patch="$(cd "$(dirname "$patch")" && pwd)/$(basename "$patch")"
	name="$(basename "$patch" .patch)"
	dir="$TMP/$name"
	log="$TMP/$name.log"
	mkdir -p "$dir"
	git -C "$ROOT" archive HEAD | tar -x -C "$dir" || exit 2
	git -C "$dir" init -q # its own repository, so that git apply takes paths from the copy's root
	# The OPC-UA peer is installed into the work tree (not tracked); share it with the copy.
	if [ -d "$ROOT/testpeers/opcua/node_modules" ]; then
		ln -s "$ROOT/testpeers/opcua/node_modules" "$dir/testpeers/opcua/node_modules"
	fi
	if [ $baseline -eq 1 ]; then
		runtests "$dir" "$patch" "$log"
		if [ $? -ne 0 ]; then
			echo "BASELINE FAILS $name: its tests fail without the mutation"
			tail -n 30 "$log"
			bad=$((bad + 1))
			continue
		fi
	fi
	if ! (cd "$dir" && git apply --whitespace=nowarn "$patch") >>"$log" 2>&1; then
		echo "DOES NOT APPLY $name"
		tail -n 10 "$log"
		bad=$((bad + 1))
		continue
	fi
	runtests "$dir" "$patch" "$log"
	case $? in
	1)
		echo "KILLED $name"
		killed=$((killed + 1))
		;;
	0)
		echo "SURVIVED $name: its tests pass with the mutation"
		tail -n 30 "$log"
		bad=$((bad + 1))
		;;
	*)
		echo "BROKEN $name"
		tail -n 30 "$log"
		bad=$((bad + 1))
		;;
	esac
	rm -rf "$dir"
done
echo "mutants: $killed killed, $bad survived or broken"
[ $bad -eq 0 ]
