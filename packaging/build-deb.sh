#!/usr/bin/env bash
# Builds the Debian package (target/debian/confab_*.deb) with cargo-deb:
# the release binary, its man page and shell completions, the systemd unit,
# a default config in /etc/confab and the docs.
# CONFAB_DEB_PROFILE=dev packages the debug binary instead (CI: the tests
# built it already; the package's files and behaviour are the same).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
profile=${CONFAB_DEB_PROFILE:-release}
cargo build --profile "$profile" -p confab
case $profile in dev) dir=debug ;; *) dir=$profile ;; esac
bin=target/$dir/confab
out=target/package
mkdir -p "$out"
"$bin" man > "$out/confab.1"
gzip -9nf "$out/confab.1"
"$bin" completions bash > "$out/confab.bash"
"$bin" completions zsh > "$out/_confab"
"$bin" completions fish > "$out/confab.fish"
cargo deb -p confab --no-build --profile "$profile"
ls -l target/debian/*.deb
