/* fuzz_ph_point_cloud.c: `nerve ph --format point-cloud` (nv_ph_read), then the engine on small
 * inputs. The body is fuzz_ph.h. */
#define NV_FUZZ_PH_FORMAT NV_PH_FMT_POINT_CLOUD
#include "fuzz_ph.h"
