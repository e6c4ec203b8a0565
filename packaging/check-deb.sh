#!/usr/bin/env bash
# Installs the package built by build-deb.sh and checks that it starts and
# answers: the service's user and data dir exist with the right modes, and
# the server, run as systemd would run it (the unit's user, command and
# environment), answers /healthz and /readyz and takes a login. Run as
# root on a Debian machine (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(ls target/debian/confab_*.deb | head -1)
apt-get install -y --no-install-recommends "./$deb"
confab --version
getent passwd confab
test "$(stat -c %a /var/lib/confab)" = 700
test "$(stat -c %U /var/lib/confab)" = confab
test "$(stat -c %a:%G /etc/confab/confab.toml)" = 640:confab
test -f /lib/systemd/system/confab.service || test -f /usr/lib/systemd/system/confab.service
man -w confab >/dev/null 2>&1 || test -f /usr/share/man/man1/confab.1.gz

# As the unit runs it.
unit=$(cat /lib/systemd/system/confab.service 2>/dev/null || cat /usr/lib/systemd/system/confab.service)
exec_start=$(sed -n 's/^ExecStart=//p' <<<"$unit")
log=$(mktemp)
runuser -u confab -- env CONFAB_CONFIG=/etc/confab/confab.toml $exec_start >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "confab listening" "$log" && break; sleep 0.2; done
grep "confab listening" "$log"
curl -fsS http://127.0.0.1:8080/healthz | grep -qx ok
curl -fsS http://127.0.0.1:8080/readyz | grep -qx ready
test "$(stat -c %a /var/lib/confab/confab.db)" = 600
# The admin tool finds the same data through the packaged config. (A name
# of its own each run: on a machine that ran this before, the data is kept.)
admin="ci-admin-$(date +%s)"
CONFAB_CONFIG=/etc/confab/confab.toml CONFAB_PASSWORD=first-admin-password \
    runuser -u confab --preserve-environment -- confab admin create-user "$admin" --admin
CONFAB_CONFIG=/etc/confab/confab.toml runuser -u confab --preserve-environment -- confab admin users | grep "^$admin" >/dev/null
kill $pid
wait $pid || true
echo "the package installs, starts and answers"
