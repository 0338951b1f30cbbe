#!/usr/bin/env bash
# Installs the project's Python tools into virtualenvs of its own (never the system's Python):
#   .venv      moto server (the local AWS) and cfn-lint: needed by `make test` and `make demo`
#   .venv-sam  aws-sam-cli, cargo-lambda and zig: needed by `make lint`, `sam build`, `make bench`
# Usage: scripts/python-tools.sh test|sam
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-test}
case "$kind" in
  test) venv=.venv;     pkgs=("moto[server]==5.2.1" "cfn-lint==1.51.0") ;;
  sam)  venv=.venv-sam; pkgs=("aws-sam-cli==1.170.0" "cargo-lambda==1.9.2" "ziglang==0.17.1") ;;
  *) echo "usage: $0 test|sam" >&2; exit 2 ;;
esac
stamp="$venv/.installed-$(printf '%s ' "${pkgs[@]}" | sha256sum | cut -c1-12)"
if [ -f "$stamp" ]; then exit 0; fi
echo "installing ${pkgs[*]} into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${pkgs[@]}"
touch "$stamp"
