#!/usr/bin/env bash
# The `tiny` reduction on a real SLURM scheduler: brings up a single-node cluster on localhost
# (Debian's slurmctld, slurmd and munge), runs tests/slurm/test_on_slurm.py, stops the cluster.
#
#   tests/slurm/run.sh            # from a checkout where ./bootstrap.sh has made .venv
#
# Needs root (apt and the daemons).  The reduction runs twice at the same time (measured: 14.5 min
# with the whole suite running beside it), locally and through SLURM (whose jobs mostly wait for status checks).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=$(mktemp -d /tmp/factor-slurm.XXXXXX)
trap '"$here/localhost_cluster.sh" stop "$state"' EXIT
"$here/localhost_cluster.sh" start "$state"
cd "$repo"
FACTOR_TEST_SLURM=1 "${FACTOR_VENV:-.venv}/bin/python" -m pytest -v tests/slurm/test_on_slurm.py -p no:cacheprovider
