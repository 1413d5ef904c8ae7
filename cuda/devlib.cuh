/* devlib.cuh: what the two implementations of the device library (include/nerve/devlib.h)
 * share: the argument rules, checked the same way before either implementation runs,
 * so that a bad call fails with the same message whichever library is linked.
 */
#ifndef NERVE_CUDA_DEVLIB_CUH
#define NERVE_CUDA_DEVLIB_CUH

#include <limits.h>

#include "check.cuh"
#include "nerve/devlib.h"

/* Every dimension and leading dimension fits the int the vendor calls take. */
static inline nv_status nv_devlib_check_int(const char *call, const char *what, int64_t v,
                                            nv_error *err) {
    if (v < 0 || v > INT_MAX)
        return nv_fail(err, NV_EINPUT, "%s: %s = %lld: expected 0..%d (the device library's int sizes)",
                       call, what, (long long)v, INT_MAX);
    return NV_OK;
}

/* cuBLAS's rules for C = alpha op(A) op(B) + beta C: sizes >= 0, each leading
 * dimension at least the rows of the matrix it describes (and at least 1). */
static inline nv_status nv_devlib_check_gemm(const char *call, nv_devlib_op ta, nv_devlib_op tb,
                                             int64_t m, int64_t n, int64_t k, int64_t lda,
                                             int64_t ldb, int64_t ldc, nv_error *err) {
    NV_TRY(nv_devlib_check_int(call, "m", m, err));
    NV_TRY(nv_devlib_check_int(call, "n", n, err));
    NV_TRY(nv_devlib_check_int(call, "k", k, err));
    NV_TRY(nv_devlib_check_int(call, "lda", lda, err));
    NV_TRY(nv_devlib_check_int(call, "ldb", ldb, err));
    NV_TRY(nv_devlib_check_int(call, "ldc", ldc, err));
    int64_t arows = ta == NV_DEVLIB_N ? m : k, brows = tb == NV_DEVLIB_N ? k : n;
    if (lda < (arows > 1 ? arows : 1) || ldb < (brows > 1 ? brows : 1) || ldc < (m > 1 ? m : 1))
        return nv_fail(err, NV_EINTERNAL,
                       "%s: leading dimensions %lld, %lld, %lld too small for A (%lld rows), B (%lld "
                       "rows), C (%lld rows)",
                       call, (long long)lda, (long long)ldb, (long long)ldc, (long long)arows,
                       (long long)brows, (long long)m);
    return NV_OK;
}

#endif
