/* fuzz_ph_sparse.c: `nerve ph --format sparse` (nv_ph_read), then the engine on small
 * inputs. The body is fuzz_ph.h. */
#define NV_FUZZ_PH_FORMAT NV_PH_FMT_SPARSE
#include "fuzz_ph.h"
