/* fuzz_ph_lower_distance.c: `nerve ph --format lower-distance` (nv_ph_read), then the engine on small
 * inputs. The body is fuzz_ph.h. */
#define NV_FUZZ_PH_FORMAT NV_PH_FMT_LOWER
#include "fuzz_ph.h"
