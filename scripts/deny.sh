#!/usr/bin/env bash
# `cargo deny check` with deny.toml: licenses, bans (duplicate versions, wildcards), sources, and
# advisories when RustSec's database (a Git repository on GitHub) can be fetched. cargo-deny is
# installed, pinned, into .tools/ (ignored by git) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.20.2
deny=.tools/bin/cargo-deny
if ! { [ -x "$deny" ] && [ "$("$deny" --version)" = "cargo-deny $version" ]; }; then
  echo "installing cargo-deny $version into .tools"
  cargo install --quiet --locked --root .tools "cargo-deny@$version"
fi
if timeout 60 "$deny" fetch db >/dev/null 2>&1; then
  "$deny" --locked check --show-stats
else
  echo "cargo deny: the advisory database (github.com/RustSec/advisory-db) cannot be fetched here:" \
    "advisories NOT checked; licenses, bans and sources are" >&2
  "$deny" --locked check --show-stats licenses bans sources
fi
