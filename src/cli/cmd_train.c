/* cmd_train.c: placeholder until the verb lands. */
#include "cli.h"
int nv_cmd_train(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "nerve train: not built yet\n");
    return 1;
}
