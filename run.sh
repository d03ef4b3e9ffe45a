#!/usr/bin/env bash
# corrquant set-up and entry points.  Usage:
#   bash run.sh report [report options]   # set up .venv, then write the study report (out/report by default)
#   bash run.sh test   [pytest options]   # set up .venv, then run the whole test suite
# Set-up is idempotent: it creates/reuses .venv in the repo, installs torch 2.13.0
# (the CPU build on local disk) first so that no CUDA build is ever pulled, then
# the project with its dev and classroom (nbgrader) extras, and Debian's Fashion-MNIST package where apt works.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  local stamp=.venv/.corrquant-installed
  local want
  want=$(cat pyproject.toml run.sh | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/pip install -q --disable-pip-version-check "torch==2.13.0"
    .venv/bin/pip install -q --disable-pip-version-check -e ".[dev,classroom]"  # classroom: nbgrader, for tests/test_course.py
    echo "$want" > "$stamp"
  fi
  if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
      || echo "note: could not install Debian's dataset-fashion-mnist; deepnets falls back to scikit-learn's digits" >&2
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  report) setup; exec .venv/bin/python -m report "$@" ;;
  test)   setup; exec .venv/bin/python -m pytest "$@" ;;
  setup)  setup ;;
  *) echo "usage: bash run.sh report|test|setup [args]" >&2; exit 2 ;;
esac
