#!/usr/bin/env bash
# Builds the Debian package (target/debian/confab_*.deb) with cargo-deb:
# the release binary, its man page and shell completions, the systemd unit,
# a default config in /etc/confab and the docs.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
cargo build --release -p confab
out=target/package
mkdir -p "$out"
target/release/confab man > "$out/confab.1"
gzip -9nf "$out/confab.1"
target/release/confab completions bash > "$out/confab.bash"
target/release/confab completions zsh > "$out/_confab"
target/release/confab completions fish > "$out/confab.fish"
cargo deb -p confab --no-build
ls -l target/debian/*.deb
