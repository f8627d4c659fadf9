#!/usr/bin/env bash
# Install what is missing on a Debian (bookworm) machine, then run the demo or the tests.
#   ./bootstrap.sh demo   simulate a tiny LOFAR observation and reduce it with runfactor
#   ./bootstrap.sh test   run the test suite (extra arguments go to pytest)
# Idempotent: apt is only called for missing commands, the virtualenv (.venv, or $FACTOR_VENV)
# is only (re)installed when pyproject.toml changed, the demo data are only simulated once.
set -euo pipefail
cd "$(dirname "$0")"
what=${1:-}
case "$what" in demo|test) shift ;; *) echo "usage: $0 demo|test [pytest args]" >&2; exit 2 ;; esac

missing=()
command -v wsclean >/dev/null 2>&1 || missing+=(wsclean)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bootstrap: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=${FACTOR_VENV:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.factor-install-stamp"
want=$(cat pyproject.toml | sha1sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing the Python package into $venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi
export PATH="$PWD/$venv/bin:$PATH"

if [ "$what" = test ]; then
  exec "$venv/bin/python" -m pytest "$@"
fi

demo=demo/tiny
if [ ! -f "$demo/truth/truth.json" ]; then
  factor-simulate "$demo" --preset tiny --overwrite
fi
runfactor "$demo/factor.parset"
