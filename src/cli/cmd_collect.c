/* cmd_collect.c: `nerve collect DIR`: merges the finished tasks of a sweep into
 * DIR/collect/ (results.csv, analysis.csv, results.md, results.png; the work is
 * nv_sweep_collect in include/nerve/sweep.h) and prints the Markdown table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nerve/plot.h"
#include "nerve/sweep.h"

static const char *const USAGE = "usage: nerve collect DIR [--no-figure] [--quiet]\n";

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve collect DIR [--no-figure] [--quiet]\n\n"
            "Merges the finished tasks of the sweep directory DIR (written by `nerve sweep`) into\n"
            "one table per configuration (the sweep axes except the seed): mean and standard\n"
            "deviation over seeds of each model's final test accuracy, and where the analysis\n"
            "outputs exist, Betti numbers, intrinsic dimension and probe accuracy per layer at\n"
            "the last snapshot epoch. Writes DIR/collect/results.csv, analysis.csv, results.md\n"
            "and results.png (with results.svg): mean test accuracy per configuration with error\n"
            "bars of one standard deviation. Unfinished tasks are listed, not dropped silently.\n\n"
            "options:\n"
            "  --no-figure   skip results.png and results.svg\n"
            "  --quiet       do not print the table\n"
            "  -h, --help    this help\n");
}

int nv_cmd_collect(int argc, char **argv) {
    static const struct option opts[] = {{"no-figure", no_argument, 0, 'F'}, {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int figure = 1, quiet = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (c) {
        case 'F': figure = 0; break;
        case 'q': quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_getopt_fail("collect", c, optind, argv, USAGE);
        }
    }
    if (optind != argc - 1) return nv_cli_usage("collect", "expected one sweep directory, found %d arguments", argc - optind);
    const char *dir = argv[optind];
    nv_error err = {0};
    nv_collect_result r;
    nv_status st = nv_sweep_collect(dir, figure, &r, &err);
    nv_plot_release_caches(); /* once, at the end: keeps AddressSanitizer runs clean */
    if (st) return nv_cli_report("collect", &err);
    if (!quiet) {
        char path[4096];
        snprintf(path, sizeof path, "%s/collect/results.md", dir);
        FILE *f = fopen(path, "r");
        char line[4096];
        while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
        if (f) fclose(f);
    }
    printf("collected %lld of %lld tasks (%lld configurations) into %s/collect/ (results.csv, analysis.csv, "
           "results.md%s)\n", (long long)r.finished, (long long)r.tasks, (long long)r.configs, dir,
           r.figure ? ", results.png, results.svg" : "");
    if (r.unfinished[0])
        fprintf(stderr, "nerve collect: unfinished tasks (left out of the table): %s\n", r.unfinished);
    if (!r.analysis_ph || !r.analysis_id || !r.analysis_probes)
        fprintf(stderr, "nerve collect: note: analysis outputs missing in every task were skipped:%s%s%s\n",
                r.analysis_ph ? "" : " analysis/ph/summary.csv", r.analysis_id ? "" : " analysis/stats/intrinsic_dimension.csv",
                r.analysis_probes ? "" : " analysis/stats/probes.csv");
    return 0;
}
