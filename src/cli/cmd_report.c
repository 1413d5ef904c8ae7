/* cmd_report.c: placeholder until the verb lands. */
#include "cli.h"
int nv_cmd_report(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "nerve: this verb is not built yet\n");
    return 1;
}
