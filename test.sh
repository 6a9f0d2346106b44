#!/usr/bin/env bash
# Runs every test of Starbase on a fresh machine: installs what the tests need, builds,
# vets, and runs the whole suite under the race detector.
set -euo pipefail
cd "$(dirname "$0")"

# The etcd backend is also tested against the oldest etcd server it supports, Debian's
# etcd-server 3.4, run as a separate process (newer servers run in-process from Go modules).
if ! command -v etcd >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq etcd-server >/dev/null
fi

# The editor's browser tests drive Debian's chromium (headless), which they require here.
if ! command -v chromium >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
export STARBASE_BROWSER_TESTS=require

# The editor's committed build (ui/dist, embedded in the binary) is exactly what its sources
# and pinned packages produce: rebuild it and compare.
if ! command -v npm >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build && npm test --silent)
if [ -n "$(git status --porcelain -- ui/dist 2>/dev/null)" ]; then
	echo "ui/dist differs from what ui/src builds: run (cd ui && npm ci && npm run build) and commit ui/dist" >&2
	git status --short -- ui/dist >&2
	exit 1
fi

# The PostgreSQL data tier is tested against Debian's PostgreSQL server (postgresql-15 on
# bookworm), which the tests start themselves (objects/postgres/pgtest): initdb in a
# temporary directory, an unprivileged user, a loopback port.
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi

# go.mod and go.sum say exactly what the code imports.
if ! go mod tidy -diff >/dev/null; then
	echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
	go mod tidy -diff >&2 || true
	exit 1
fi

go build ./...
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go test -race -count=1 -timeout 20m ./...

# The fork of go.starlark.net (third_party/go.starlark.net/FORK.md) passes the upstream
# test suite, unchanged, and the tests of its own changes.
(cd third_party/go.starlark.net && go test -race -count=1 -timeout 10m ./...)

# Every fuzz target (decoders of untrusted input) also runs briefly: a count of inputs, not a
# duration, so that a busy machine makes the run slower, never red. With a duration, Go 1.26's
# fuzz coordinator can report its own deadline as a failure ("context deadline exceeded", no
# failing input) when a worker is mid-call at that moment (go.dev/issue/75804, fixed in Go
# 1.27); a count sets no deadline. Minimizing a new input is bounded by a count too (by
# default each may take 60s). Run longer by hand with FUZZTIME=1000000x ./test.sh, or
# go test -fuzz TARGET -fuzztime 10m ./PKG (and ignore that message if it comes alone).
fuzztime=${FUZZTIME:-4000x}
grep -l '^func Fuzz' $(git ls-files '*_test.go' 2>/dev/null || find . -name '*_test.go') | while read -r file; do
	pkg=./$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "fuzzing $pkg $target for $fuzztime"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg"
	done
done
