#!/usr/bin/env bash
# Runs the background samples against a local server, with a daemon of their own, and checks
# what they print and save.
#   samples/run_samples.sh BUILD_DIR   (the meson test "samples")
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
export FOUNDATION_NET_RUNTIME_DIR="$work/run" FOUNDATION_NET_STATE_DIR="$work/state"
export FOUNDATION_NET_DAEMON="$build/daemon/urlsessiond" FOUNDATION_NET_DAEMON_IDLE_EXIT=20
export FOUNDATION_NET_CONDITIONS_FILE="$work/conditions" FOUNDATION_NET_LAUNCH_DELAY_MS=200
printf 'power=ac\nnetwork=unmetered\n' > "$work/conditions"
upload_server=
cleanup() {
  kill "$server" 2>/dev/null || true
  [ -n "$upload_server" ] && kill "$upload_server" 2>/dev/null || true
  [ -f "$work/run/urlsessiond.pid" ] && kill "$(cat "$work/run/urlsessiond.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$build/tests/support/fntest-server" > "$work/url" &
server=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.05; done
url=$(head -n1 "$work/url")
cd "$work"

echo "== background_download"
"$build/samples/background_download" start "$url/bytes?n=100000" | tee out.txt
grep -q "didCompleteWithError: task 1, no error" out.txt || fail "background_download did not complete"
[ "$(stat -c %s downloaded.bin)" = 100000 ] || fail "background_download saved the wrong size"

echo "== background_wakeup"
mkdir wakeup
# The download lasts 3 s, so that the start process has left before it ends (even under
# ThreadSanitizer, where leaving takes over a second) and the events come through a launch.
"$build/samples/background_wakeup" start "$url/bytes?n=200000&pace_ms=300&chunk=20000" "$work/wakeup"
for _ in $(seq 200); do grep -qs "done with the background events" wakeup/wakeup.log && break; sleep 0.1; done
cat wakeup/wakeup.log
expected="started background download task 1; leaving
application(_:handleEventsForBackgroundURLSession: com.example.background-wakeup)
didFinishDownloadingTo: 200000 bytes saved
didCompleteWithError: task 1, no error
urlSessionDidFinishEvents(forBackgroundURLSession:)
calling the completion handler on the main queue
done with the background events"
[ "$(cat wakeup/wakeup.log)" = "$expected" ] || fail "background_wakeup: not the launch flow"
[ "$(stat -c %s wakeup/downloaded.bin)" = 200000 ] || fail "background_wakeup saved the wrong size"

echo "== background_upload"
head -c 300000 /dev/urandom > upload.bin
"$build/samples/background_upload" "$url/echo" upload.bin | tee out.txt
grep -q "status 200, no error" out.txt || fail "background_upload did not complete"

echo "== background_tasks"
"$build/samples/background_tasks" add "$url/bytes?n=1000" first
"$build/samples/background_tasks" add "$url/bytes?n=2000" second
"$build/samples/background_tasks" list | tee out.txt
[ "$(grep -c ": suspended" out.txt)" = 2 ] || fail "background_tasks: two suspended tasks expected"
"$build/samples/background_tasks" resume | tee out.txt
[ "$(grep -c "didCompleteWithError: .*, no error" out.txt)" = 2 ] || fail "background_tasks: both should complete"
"$build/samples/background_tasks" add "$url/bytes?n=1000" third
"$build/samples/background_tasks" cancel | tee out.txt
grep -q "didCompleteWithError: third, cancelled" out.txt || fail "background_tasks: third should be cancelled"
"$build/samples/background_tasks" list | tee out.txt
grep -q "getAllTasks: 0 task(s)" out.txt || fail "background_tasks: nothing should be left"
echo "== resumable_upload"
mkdir saved
"$build/samples/resumable_upload_server" saved --drop-after 300000 > server.txt &
upload_server=$!
for _ in $(seq 100); do [ -s server.txt ] && break; sleep 0.05; done
head -c 1000000 /dev/urandom > resumable.bin
"$build/samples/resumable_upload" "$(head -n1 server.txt)/uploads" resumable.bin | tee out.txt
kill "$upload_server"
upload_server=
cat server.txt
grep -q "didReceiveInformationalResponse: 104, Location /uploads/1" out.txt || fail "resumable_upload: no 104"
grep -q "resuming from the resume data" out.txt || fail "resumable_upload: not resumed"
grep -q "status 200, no error; 1000000 bytes sent in all" out.txt || fail "resumable_upload did not complete"
grep -q "PATCH /uploads/1: 700000 bytes from offset 300000" server.txt || fail "resumable_upload: not only the missing bytes"
cmp -s resumable.bin saved/1 || fail "resumable_upload: the server's copy differs"

echo "samples: all ran"
