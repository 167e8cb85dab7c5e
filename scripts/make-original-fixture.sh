#!/usr/bin/env bash
# Regenerates fixtures/original/: a data directory ($ROG_HOME) written by the
# original Rust Rog server (eaneto/rog), and expected.json, what
# was published and acknowledged into it. Tests import it; they never run this.
#
# Needs the original's binaries and Python client, built from its source:
#   ORIGINAL_SRC=/path/to/eaneto-rog   (holding target/release/rog-server,
#                                      target/release/rog-cli, tests/rog_client.py)
#   scripts/make-original-fixture.sh
#
# Timestamps are the server's clock, so every run gives other bytes; the
# messages, offsets and groups are always the same.
set -euo pipefail

: "${ORIGINAL_SRC:?set ORIGINAL_SRC to a built checkout of the original Rog}"
SERVER="$ORIGINAL_SRC/target/release/rog-server"
CLI="$ORIGINAL_SRC/target/release/rog-cli"
CLIENT_DIR="$ORIGINAL_SRC/tests"
PORT="${PORT:-17878}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/fixtures/original"

HOME_DIR="$(mktemp -d)"
SERVER_PID=
trap 'if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi; rm -rf "$HOME_DIR"' EXIT

ROG_HOME="$HOME_DIR/data" "$SERVER" -p "$PORT" >"$HOME_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  sleep 0.1
done

cli () { "$CLI" --address "127.0.0.1:$PORT" "$@"; }

# The original accepts any log name: these two are invalid in Rog.
cli create-log --name logA --partitions 2
cli create-log --name 'bad name' --partitions 1
cli create-log --name 'ünï' --partitions 1

START_MS=$(date +%s%3N)
cli publish --log-name logA --partition 0 --data hello
cli publish --log-name logA --partition 0 --data ''
cli publish --log-name logA --partition 0 --data "$(printf 'line %04d of a longer text message\n' $(seq 0 99))"
cli publish --log-name logA --partition 0 --data 'grüße 🎉'
cli publish --log-name logA --partition 1 --data p1-first
cli publish --log-name 'bad name' --partition 0 --data 'in a log with a space'
cli publish --log-name 'bad name' --partition 0 --data 'second'
cli publish --log-name 'ünï' --partition 0 --data 'ünïcode log'

# Binary and large messages, and acknowledgements, through the original's Python
# client (it counts characters, not bytes, for names: ASCII names only there;
# the UTF-8 group is sent by hand).
PORT="$PORT" OUT_DIR="$HOME_DIR" PYTHONPATH="$CLIENT_DIR" python3 - <<'PY'
import json, os, socket
from rog_client import RogClient

port = int(os.environ["PORT"])

def call(method, *args):
    c = RogClient()
    c.connect(port)
    reply = getattr(c, method)(*args)
    assert reply[0:1] == b"\x00", (method, args, reply)
    return reply

call("send_binary_message", "logA", 0, bytes(range(256)))
call("send_binary_message", "logA", 0, bytes((i * 7) % 256 for i in range(10000)))
call("send_binary_message", "logA", 1, b"\x00\xff\x00")

def ack(log, partition, group, times):
    for _ in range(times):
        call("ack_message", log, partition, group)

def raw_ack(log, partition, group):
    name, g = log.encode(), group.encode()
    frame = bytes([3, partition, len(name)]) + name + bytes([len(g)]) + g
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(frame)
    assert s.recv(1024)[0:1] == b"\x00"
    s.close()

# A fetch creates the group's offset files (empty: offset 0); an ack before it
# crashes the handler. Acks are not bounded: "ahead" ends past the end of logA/1.
call("fetch_log", "logA", 0, "g1")
ack("logA", 0, "g1", 3)
ack("logA", 1, "g1", 1)
call("fetch_log", "logA", 0, "slow")
call("fetch_log", "logA", 1, "ahead")
ack("logA", 1, "ahead", 4)
call("fetch_log", "bad name", 0, "past-end")
ack("bad name", 0, "past-end", 3)
s = socket.create_connection(("127.0.0.1", port))
g = "grüppe one".encode()
s.sendall(bytes([2, 0, 4]) + b"logA" + bytes([len(g)]) + g)
s.recv(1 << 16)
s.close()
raw_ack("logA", 0, "grüppe one")
PY
END_MS=$(date +%s%3N)

# Publishes are answered before they are written: let the writers drain.
sleep 1
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

rm -rf "$OUT"
mkdir -p "$OUT"
cp -a "$HOME_DIR/data" "$OUT/data"

START_MS="$START_MS" END_MS="$END_MS" python3 - "$OUT/expected.json" <<'PY'
import json, os, sys
text = "".join("line %04d of a longer text message\n" % i for i in range(100)).rstrip("\n")
messages = {
    "logA/0": [b"hello", b"", text.encode(), "grüße 🎉".encode(), bytes(range(256)),
               bytes((i * 7) % 256 for i in range(10000))],
    "logA/1": [b"p1-first", b"\x00\xff\x00"],
    "bad name/0": [b"in a log with a space", b"second"],
    "ünï/0": ["ünïcode log".encode()],
}
groups = {
    "logA/0": {"g1": 3, "slow": 0, "ahead": 0, "grüppe one": 1},
    "logA/1": {"g1": 1, "slow": 0, "ahead": 4, "grüppe one": 0},
    "bad name/0": {"past-end": 3},
    "ünï/0": {},
}
json.dump({
    "about": "Written by scripts/make-original-fixture.sh: data/ is the original Rog server's ROG_HOME after these publishes and acks. Messages as hex by partition, in offset order; timestamps were taken between startMs and endMs.",
    "startMs": int(os.environ["START_MS"]) - 1000,
    "endMs": int(os.environ["END_MS"]) + 1000,
    "messages": {k: [m.hex() for m in v] for k, v in messages.items()},
    "groups": groups,
}, open(sys.argv[1], "w"), indent=2, ensure_ascii=False)
open(sys.argv[1], "a").write("\n")
PY
du -sh "$OUT"
find "$OUT/data" -type f | sort
