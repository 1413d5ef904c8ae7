/* fuzz_ph_binary.c: `nerve ph --format binary` (nv_ph_read), then the engine on small
 * inputs. The body is fuzz_ph.h. */
#define NV_FUZZ_PH_FORMAT NV_PH_FMT_BINARY
#include "fuzz_ph.h"
