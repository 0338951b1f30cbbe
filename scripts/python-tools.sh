#!/usr/bin/env bash
# Installs the project's Python tools into virtualenvs of its own (never the system's Python):
#   .venv      moto server (the local AWS) and cfn-lint: needed by `make test` and `make demo`
#   .venv-sam  aws-sam-cli, cargo-lambda and zig: needed by `make lint`, `sam build`, `make bench`
#   .venv-scan checkov: needed by `make check` (it pins boto3 and packaging older than moto's and
#              cfn-lint's, so it has a virtualenv of its own)
# and, with `iam`, the strict local AWS's IAM evaluator (@cloud-copilot/iam-simulate, AGPL: a
# test-time tool, never shipped) into tests/iam/node_modules, exactly as package-lock.json pins it.
# Usage: scripts/python-tools.sh test|sam|scan|iam
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-test}
if [ "$kind" = iam ]; then
  stamp="tests/iam/node_modules/.installed-$(sha256sum tests/iam/package-lock.json | cut -c1-12)"
  if [ -f "$stamp" ]; then exit 0; fi
  command -v npm >/dev/null || { echo "npm (Node.js 20+) is needed for the strict layer's IAM evaluator" >&2; exit 1; }
  echo "installing the IAM evaluator into tests/iam/node_modules"
  (cd tests/iam && npm ci --no-audit --no-fund --loglevel=error)
  touch "$stamp"
  exit 0
fi
case "$kind" in
  test) venv=.venv;     pkgs=("moto[server]==5.2.1" "cfn-lint==1.51.0") ;;
  sam)  venv=.venv-sam; pkgs=("aws-sam-cli==1.170.0" "cargo-lambda==1.9.2" "ziglang==0.17.1") ;;
  scan) venv=.venv-scan; pkgs=("checkov==3.3.30") ;;
  *) echo "usage: $0 test|sam|scan|iam" >&2; exit 2 ;;
esac
stamp="$venv/.installed-$(printf '%s ' "${pkgs[@]}" | sha256sum | cut -c1-12)"
if [ -f "$stamp" ]; then exit 0; fi
echo "installing ${pkgs[*]} into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "${pkgs[@]}"
touch "$stamp"
