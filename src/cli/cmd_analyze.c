/* cmd_analyze.c: `nerve analyze RUN`: every analysis stage over a run, in order
 * (ph, pca, stats, features), then the report. Each stage is its own verb and is
 * idempotent, so analyze simply runs them one after the other with the shared
 * options; a second call does only what is missing. This keeps one code path per
 * stage: analyze adds sequencing, nothing else. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    int slices;    /* takes --task/--tasks */
    int device;    /* takes --device */
} stage;

static const stage STAGES[] = {
    {"ph", nv_cmd_ph, 1, 0},
    {"pca", nv_cmd_pca, 1, 1},
    {"stats", nv_cmd_stats, 0, 0},
    {"features", nv_cmd_features, 1, 1},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve analyze RUN [options]\n\n"
            "Runs every analysis stage over a run -- nerve ph, nerve pca, nerve stats,\n"
            "nerve features -- and then nerve report. Every stage skips work that is\n"
            "already done, so analyze resumes after a kill and a second call is cheap.\n\n"
            "options:\n"
            "  --skip S,..        leave out stages (ph, pca, stats, features, report)\n"
            "  --only S,..        run only these stages\n"
            "  --threads T        worker threads for every stage (default: cores)\n"
            "  --device D         auto | cpu | cuda, for the stages with a GPU path\n"
            "  --task i --tasks N job-array slice for the sliceable stages (ph, pca,\n"
            "                     features); stats and the report need every snapshot,\n"
            "                     so they run only without --tasks: finish a job array\n"
            "                     with one plain `nerve analyze RUN` (a dependent job)\n"
            "  -h, --help         this help\n");
}

static int listed(const char *list, const char *name) {
    if (!list) return 0;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return 1;
        p = e ? e + 1 : p + l;
    }
    return 0;
}

static int known_stages(const char *verb, const char *list) {
    if (!list) return 0;
    char *copy = strdup(list), *save = NULL;
    int bad = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
        int ok = !strcmp(t, "report");
        for (size_t i = 0; i < NV_ARRAY_LEN(STAGES); i++) ok |= !strcmp(t, STAGES[i].name);
        if (!ok) bad = nv_cli_usage(verb, "unknown stage '%s' (stages: ph, pca, stats, features, report)", t);
    }
    free(copy);
    return bad;
}

int nv_cmd_analyze(int argc, char **argv) {
    static const struct option opts[] = {
        {"skip", required_argument, 0, 's'},   {"only", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'}, {"device", required_argument, 0, 'd'},
        {"task", required_argument, 0, 'i'},   {"tasks", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *skip = NULL, *only = NULL, *threads = NULL, *device = NULL, *task = NULL, *tasks = NULL;
    long long v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "s:o:t:d:i:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': skip = optarg; break;
        case 'o': only = optarg; break;
        case 't':
            if (nv_cli_int("analyze", "--threads", optarg, 1, 4096, &v)) return 2;
            threads = optarg;
            break;
        case 'd':
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
                return nv_cli_usage("analyze", "--device: expected auto, cpu or cuda, found '%s'", optarg);
            device = optarg;
            break;
        case 'i':
            if (nv_cli_int("analyze", "--task", optarg, 0, 1000000, &v)) return 2;
            task = optarg;
            break;
        case 'n':
            if (nv_cli_int("analyze", "--tasks", optarg, 1, 1000000, &v)) return 2;
            tasks = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("analyze", "unknown option");
        }
    }
    if (optind != argc - 1) return nv_cli_usage("analyze", "expected one run directory");
    if (known_stages("analyze", skip) || known_stages("analyze", only)) return 2;
    if (!task != !tasks) return nv_cli_usage("analyze", "give --task and --tasks together");
    if (task && atoll(task) >= atoll(tasks)) return nv_cli_usage("analyze", "--task must be below --tasks");
    const char *run = argv[optind];
    int sliced = tasks && atoll(tasks) > 1;

    for (size_t i = 0; i < NV_ARRAY_LEN(STAGES); i++) {
        const stage *s = &STAGES[i];
        if ((only && !listed(only, s->name)) || listed(skip, s->name)) continue;
        if (sliced && !s->slices) {
            printf("analyze: %s needs every snapshot; it runs in the final `nerve analyze %s` without --tasks\n",
                   s->name, run);
            continue;
        }
        char *av[16];
        int ac = 0;
        av[ac++] = (char *)s->name;
        av[ac++] = (char *)run;
        if (threads) av[ac++] = "--threads", av[ac++] = (char *)threads;
        if (device && s->device) av[ac++] = "--device", av[ac++] = (char *)device;
        if (sliced && s->slices) av[ac++] = "--task", av[ac++] = (char *)task, av[ac++] = "--tasks", av[ac++] = (char *)tasks;
        av[ac] = NULL;
        printf("== nerve %s %s\n", s->name, run);
        fflush(stdout);
        int rc = s->run(ac, av);
        if (rc) {
            fprintf(stderr, "nerve analyze: stage %s failed (exit %d); earlier stages' results are kept, "
                            "and a new `nerve analyze %s` continues from here\n", s->name, rc, run);
            return rc;
        }
    }
    if (!sliced && !listed(skip, "report") && (!only || listed(only, "report"))) {
        char *av[] = {"report", (char *)run, NULL};
        printf("== nerve report %s\n", run);
        fflush(stdout);
        return nv_cmd_report(2, av);
    }
    return 0;
}
