# failed-tests.awk: from `go test -v` output, what each failed test said
# itself (t.Log, t.Error, t.Fatal lines and up to 40 continuation lines of
# each), without the process logs dumped at cleanup ("---- name log").
# Printed last by `make test-faults` so a failure's reason is not pushed out
# of view by those dumps.
#
#   awk -f scripts/failed-tests.awk .cache/faults.log

/^=== (RUN|CONT|NAME) / { cur = $3; next }

# A test's own line: indented, "file_test.go:N: message".
/^ +[A-Za-z0-9_]+_test\.go:[0-9]+: / {
	keep = ($0 !~ /_test\.go:[0-9]+: ---- /)
	cont = 0
	if (keep) said[cur] = said[cur] $0 "\n"
	next
}

# Continuation lines of a multi-line message are indented deeper.
/^        / {
	if (keep && cont < 40) { said[cur] = said[cur] $0 "\n"; cont++ }
	next
}

{ keep = 0 }

/^ *--- FAIL: / {
	name = $3
	failed++
	printf "== %s said ==\n%s", name, said[name]
}

END {
	if (failed == 0) print "(no --- FAIL line in the log: the run stopped before a test ended, see the tail above)"
}
