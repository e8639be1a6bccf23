#!/usr/bin/env bash
# Records, for every conformance/check/cases/NAME.conf, whether nats-server
# 2.9.10 starts with the whole configuration (`nats-server -c`; some checks
# only run at start, and `-t` alone turns some start-time warnings, such as
# an integer ping_interval, into errors). Writes NAME.expect: "accept", or
# "reject: <nats-server's first error line>".
#
#   bash conformance/check/record.sh            # re-record cases/*.expect
#   bash conformance/check/record.sh --verify   # compare verdicts only (CI)
#
# --verify records into a temporary directory and fails if any accept/reject
# verdict differs from the committed one. It ignores the message text:
# nats-server reports some errors at whichever key Go's random map order
# reaches first, so the position in the message can change between runs.
#
# Servers are started on 127.0.0.1 (`-a`) for at most 3 seconds each and
# receive no traffic.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
verify=false
[ "${1:-}" = "--verify" ] && verify=true
out_dir="$here/cases"
if $verify; then
  out_dir="$(mktemp -d)"
  trap 'rm -rf "$out_dir"' EXIT
fi
command -v nats-server >/dev/null || { echo "record.sh: apt-get install nats-server" >&2; exit 1; }
n=0
for conf in "$here"/cases/*.conf; do
  name="$out_dir/$(basename "${conf%.conf}")"
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
echo "recorded $n cases: $(grep -l '^accept' "$out_dir"/*.expect | wc -l) accepted, $(grep -l '^reject' "$out_dir"/*.expect | wc -l) rejected"
if $verify; then
  changed=0
  for fresh in "$out_dir"/*.expect; do
    committed="$here/cases/$(basename "$fresh")"
    if [ "$(cut -d: -f1 < "$fresh")" != "$(cut -d: -f1 < "$committed" 2>/dev/null)" ]; then
      echo "verdict changed: $(basename "$fresh"): committed '$(head -c 80 "$committed" 2>/dev/null)', now '$(head -c 80 "$fresh")'" >&2
      changed=1
    fi
  done
  [ "$changed" -eq 0 ] && echo "every verdict matches the committed recording"
  exit "$changed"
fi
