#!/usr/bin/env bash
# The `tiny` reduction on a real SLURM scheduler: brings up a single-node cluster on localhost
# (Debian's slurmctld, slurmd and munge), runs tests/slurm/test_on_slurm.py, stops the cluster.
#
#   tests/slurm/run.sh            # from a checkout where ./bootstrap.sh has made .venv
#
# Needs root (apt and the daemons).  About 25 minutes on 2 cores: the reduction runs twice,
# locally (10 min) and through SLURM (14 min: each job waits for the executor's next status check).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=$(mktemp -d /tmp/factor-slurm.XXXXXX)
trap '"$here/localhost_cluster.sh" stop "$state"' EXIT
"$here/localhost_cluster.sh" start "$state"
cd "$repo"
FACTOR_TEST_SLURM=1 "${FACTOR_VENV:-.venv}/bin/python" -m pytest -v tests/slurm/test_on_slurm.py -p no:cacheprovider
