/* cmd_data.c: placeholder until the verb lands. */
#include "cli.h"
int nv_cmd_data(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "nerve data: not built yet\n");
    return 1;
}
