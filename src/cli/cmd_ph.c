/* cmd_ph.c: placeholder until the verb lands. */
#include "cli.h"
int nv_cmd_ph(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "nerve ph: not built yet\n");
    return 1;
}
