# openblas-env.sh (sourced): exports OPENBLAS_CORETYPE for this CPU when unset, the
# same choice src/cli/main.c makes, for programs other than the nerve binary (test
# drivers, benchmarks, PyTorch baselines) so every side uses the same kernels.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  _f=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
  if [[ $_f == *avx512f* && $_f == *avx512bw* && $_f == *avx512vl* && $_f == *avx512dq* && $_f == *avx512cd* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $_f == *avx2* && $_f == *fma* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
  unset _f
fi
