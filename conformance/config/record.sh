#!/usr/bin/env bash
# Re-record the expected output of every config conformance case with the
# reference parser (nats-server 2.9.10's `conf` package, via oracle/main.go).
#
#   bash conformance/config/record.sh
#
# For each cases/NAME.conf it writes cases/NAME.json: the oracle's one line of
# JSON, or {"crash":"<reason>"} when the oracle dies (stack overflow on
# include/variable cycles) or times out. The environment is emptied for each
# run except PATH and the KEY=VALUE lines of cases/NAME.env (if present).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cases="$here/cases"
gopath=/usr/share/gocode
confpkg="$gopath/src/github.com/nats-io/nats-server/conf"

die() { echo "record.sh: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 ||
  die "go is not installed (apt-get install golang-go)"
[ -f "$confpkg/parse.go" ] && [ -f "$confpkg/lex.go" ] ||
  die "nats-server conf package not found at $confpkg (apt-get install golang-github-nats-io-nats-server-dev)"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is not installed"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

gocache="$(go env GOCACHE 2>/dev/null || true)"
if [ -z "$gocache" ] || [ "$gocache" = off ]; then gocache="$tmp/gocache"; fi

echo "building oracle ($(go version))" >&2
(cd "$here/oracle" &&
  GOPATH="$gopath" GO111MODULE=off GOFLAGS= GOCACHE="$gocache" \
    go build -o "$tmp/oracle" .) || die "cannot build oracle/main.go"

# Recordings of cases that no longer exist would be stale.
shopt -s nullglob
for j in "$cases"/*.json; do
  [ -f "${j%.json}.conf" ] || rm -f "$j"
done

total=0 ok=0 errors=0 crashes=0
cd "$cases" # include paths and error messages are relative to this directory
for conf in *.conf; do
  name="${conf%.conf}"
  envargs=(PATH="$PATH")
  if [ -f "$name.env" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in '' | '#'*) continue ;; esac
      [[ "$line" == *=* ]] || die "$name.env: not a KEY=VALUE line: $line"
      envargs+=("$line")
    done <"$name.env"
  fi

  set +e
  out="$(
    ulimit -v 4194304 2>/dev/null # 4 GiB of address space
    timeout 10 env -i "${envargs[@]}" "$tmp/oracle" "$conf" 2>"$tmp/stderr"
  )"
  rc=$?
  set -e

  if [ "$rc" -eq 0 ] && [ -n "$out" ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; then
    printf '%s\n' "$out" >"$name.json"
    case "$out" in '{"error":'*) errors=$((errors + 1)) ;; *) ok=$((ok + 1)) ;; esac
  else
    if [ "$rc" -eq 124 ]; then
      reason="timeout after 10s"
    elif grep -q 'stack overflow' "$tmp/stderr"; then
      reason="stack overflow"
    elif grep -q '^panic: ' "$tmp/stderr"; then
      reason="$(grep -m1 '^panic: ' "$tmp/stderr")"
    elif grep -q '^fatal error: ' "$tmp/stderr"; then
      reason="$(grep -m1 '^fatal error: ' "$tmp/stderr")"
    else
      reason="exit status $rc"
    fi
    reason="$(printf '%s' "$reason" | tr -d '"\\' | tr -c '[:print:]' ' ' | cut -c1-120)"
    printf '{"crash":"%s"}\n' "$reason" >"$name.json"
    crashes=$((crashes + 1))
    echo "crash: $name ($reason)" >&2
  fi
  total=$((total + 1))
done

echo "recorded $total cases: $ok parsed, $errors errors, $crashes crashes"
