/* cmd_report.c: `nerve report RUN`: the run's self-contained HTML page
 * (include/nerve/report.h). */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "nerve/plot.h"
#include "nerve/query.h"
#include "nerve/report.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve report RUN [options]\n\n"
            "Writes RUN/analysis/report.html: one self-contained page (figures embedded)\n"
            "with the summary, training curves, the Betti-number chart, persistence\n"
            "diagrams, PCA projections, intrinsic dimension, probes, CKA maps and feature\n"
            "images -- whatever stages have run (the page names the missing ones).\n\n"
            "options:\n"
            "  --max-diagrams N   persistence-diagram figures to embed (default 60)\n"
            "  --compare RUN2     also answer nerve query's compare-runs against RUN2 (a run that\n"
            "                     differs in train.order_seed) in the Queries section\n"
            "  -h, --help         this help\n");
}

int nv_cmd_report(int argc, char **argv) {
    static const struct option opts[] = {{"max-diagrams", required_argument, 0, 'm'},
                                         {"compare", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    nv_report_options o = {0};
    const char *compare = NULL;
    long long v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "m:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (nv_cli_int("report", "--max-diagrams", optarg, 1, 100000, &v)) return 2;
            o.max_diagram_figures = (int)v;
            break;
        case 'c': compare = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("report", "unknown option");
        }
    }
    if (optind != argc - 1) return nv_cli_usage("report", "expected one run directory");
    nv_error err = {0};
    char out[4096];
    /* the presets' answers (docs/queries.md, "In the report") go under
     * analysis/queries/ first, when the run has a dynamics record; a failure there is
     * a note, the rest of the page is still written */
    {
        char dyn[4096];
        struct stat sb;
        snprintf(dyn, sizeof dyn, "%s/dynamics", argv[optind]);
        int written = 0;
        if (stat(dyn, &sb) == 0 && nv_query_report_tables(argv[optind], compare, &written, &err) != NV_OK) {
            fprintf(stderr, "nerve report: note: the Queries section is left out: %s\n", err.msg);
            nv_error_clear(&err);
        }
    }
    nv_status st = nv_report_write(argv[optind], &o, out, sizeof out, &err);
    nv_plot_release_caches();
    if (st) return nv_cli_report("report", &err);
    printf("report: %s\n", out);
    return 0;
}
