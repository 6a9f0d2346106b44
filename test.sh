#!/usr/bin/env bash
# Runs every test of Starbase on a fresh machine: installs what the tests need, builds,
# vets, and runs the whole suite under the race detector.
set -euo pipefail
cd "$(dirname "$0")"

go build ./...
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go test -race -count=1 -timeout 20m ./...
