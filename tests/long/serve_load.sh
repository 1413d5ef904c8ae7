#!/usr/bin/env bash
# serve_load (long): 50 clients for 30 s while a training runs, 3 alternating pairs;
# the training time under load must be within 5% of the time without the viewer.
cd "$(dirname "$0")/../.."
NERVE_SERVE_LOAD_SECONDS=30 NERVE_SERVE_LOAD_PAIRS=3 exec /usr/bin/python3 tests/integration/serve_load.py
