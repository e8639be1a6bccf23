#!/usr/bin/env bash
# Records, for every conformance/check/cases/NAME.conf, whether nats-server
# 2.9.10 accepts the whole configuration: `nats-server -t` must pass AND the
# server must start with it (some checks only run at start). Writes
# NAME.expect: "accept", or "reject: <nats-server's first error line>".
#
#   bash conformance/check/record.sh
#
# Servers are started on 127.0.0.1 (`-a`) for at most 3 seconds each and
# receive no traffic.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v nats-server >/dev/null || { echo "record.sh: apt-get install nats-server" >&2; exit 1; }
n=0
for conf in "$here"/cases/*.conf; do
  name="${conf%.conf}"
  if ! out=$(cd "$here/cases" && nats-server -t -c "$(basename "$conf")" 2>&1); then
    printf 'reject: %s\n' "$(echo "$out" | head -1)" > "$name.expect"
  else
    set +e
    out=$(cd "$here/cases" && timeout 3 nats-server -a 127.0.0.1 -c "$(basename "$conf")" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -eq 124 ]; then
      echo accept > "$name.expect"
    else
      printf 'reject: %s\n' "$(echo "$out" | grep -m1 -E '\[FTL\]|nats-server:|rror' | sed 's/^\[[0-9]*\] [0-9/]* [0-9:.]* //' )" > "$name.expect"
    fi
  fi
  n=$((n + 1))
done
echo "recorded $n cases: $(grep -l '^accept' "$here"/cases/*.expect | wc -l) accepted, $(grep -l '^reject' "$here"/cases/*.expect | wc -l) rejected"
