/* fuzz_ph_dipha.c: `nerve ph --format dipha` (nv_ph_read), then the engine on small
 * inputs. The body is fuzz_ph.h. */
#define NV_FUZZ_PH_FORMAT NV_PH_FMT_DIPHA
#include "fuzz_ph.h"
