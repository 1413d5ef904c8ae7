#!/usr/bin/env bash
# train_torch_parity_cuda.sh: the PyTorch training comparison
# (tests/integration/train_torch_parity.py) with nerve's side on the CUDA backend:
# same initial weights and sample order, per-step loss within rtol 1e-4 over 200
# steps, step-0 gradient within 1e-5. Skips (77) where no CUDA device is usable.
set -u
cd "$(dirname "$0")/../.."
NERVE_TRACE_DEVICE=cuda exec /usr/bin/python3 tests/integration/train_torch_parity.py
