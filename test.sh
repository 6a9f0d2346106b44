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

go build ./...
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt-formatted:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go test -race -count=1 -timeout 20m ./...
