#!/bin/sh
# Records nats-server 2.9.10's monitoring JSON key paths for the scenario
# in scenario.py into this directory (*.keys), for tests/monitor.rs.
#
# Usage: conformance/monitor/record.sh [path/to/nats-server]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
server=${1:-nats-server}
"$server" --version | grep -q 'v2.9.10' || {
    echo "record.sh: needs nats-server v2.9.10, got: $("$server" --version)" >&2
    exit 1
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" -a 127.0.0.1 -p "$port" -m "$mport" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
i=0
until curl -sf "http://127.0.0.1:$mport/varz" >/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "record.sh: nats-server did not start" >&2; exit 1; }
    sleep 0.05
done
python3 "$here/scenario.py" "$port" "$mport" "$here"
kill $pid
wait $pid 2>/dev/null || true

# The accounts part: a server with accounts.conf (service/stream exports
# and imports), /accountz per account.
"$server" -a 127.0.0.1 -p "$port" -m "$mport" -c "$here/accounts.conf" >/dev/null 2>&1 &
pid=$!
i=0
until curl -sf "http://127.0.0.1:$mport/varz" >/dev/null; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "record.sh: nats-server did not start with accounts.conf" >&2; exit 1; }
    sleep 0.05
done
python3 "$here/accounts.py" "$port" "$mport" "$here"
echo "recorded $(ls "$here"/*.keys | wc -l) endpoints from $("$server" --version)"
