#!/usr/bin/env bash
# Records, for every conformance/check/cases/NAME.conf, whether nats-server
# 2.9.10 starts with the whole configuration (`nats-server -c`; some checks
# only run at start, and `-t` alone turns some start-time warnings, such as
# an integer ping_interval, into errors). Writes NAME.expect: "accept", or
# "reject: <nats-server's first error line>".
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
  set +e
  out=$(cd "$here/cases" && timeout 3 nats-server -a 127.0.0.1 -c "$(basename "$conf")" 2>&1)
  rc=$?
  set -e
  if [ "$rc" -eq 124 ]; then
    echo accept > "$name.expect"
  else
    printf 'reject: %s\n' "$(echo "$out" | grep -m1 -E '\[FTL\]|nats-server:|rror' | sed 's/^\[[0-9]*\] [0-9/]* [0-9:.]* //' )" > "$name.expect"
  fi
  n=$((n + 1))
done
echo "recorded $n cases: $(grep -l '^accept' "$here"/cases/*.expect | wc -l) accepted, $(grep -l '^reject' "$here"/cases/*.expect | wc -l) rejected"
