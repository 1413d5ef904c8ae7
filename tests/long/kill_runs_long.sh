#!/usr/bin/env bash
# kill_runs_long.sh (make test-long): tests/integration/kill_runs.sh with 100 kill
# points per command instead of 20 (issue 21).
KILL_POINTS=${KILL_POINTS:-100} exec bash "${NERVE_ROOT:-.}/tests/integration/kill_runs.sh"
