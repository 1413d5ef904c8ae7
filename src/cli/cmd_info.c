/* cmd_info.c: placeholder until the verb lands. */
#include "cli.h"
int nv_cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "nerve info: not built yet\n");
    return 1;
}
