/* cmd_analyze.c: `nerve analyze RUN`: every analysis stage over a run, in order
 * (ph, pca, stats, features), then the report. Each stage is its own verb and is
 * idempotent, so analyze simply runs them one after the other with the shared
 * options; a second call does only what is missing. This keeps one code path per
 * stage: analyze adds sequencing, nothing else. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run_opts.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} stage;

static const stage STAGES[] = {
    {"ph", nv_cmd_ph},
    {"pca", nv_cmd_pca},
    {"stats", nv_cmd_stats},
    {"features", nv_cmd_features},
};

static const char *const USAGE = "usage: nerve analyze RUN [options]\n";

static void usage(FILE *f) {
    fputs(USAGE, f);
    fprintf(f,
            "\n"
            "Runs every analysis stage over a run -- nerve ph, nerve pca, nerve stats,\n"
            "nerve features -- and then nerve report. Every stage skips work that is\n"
            "already done, so analyze resumes after a kill and a second call is cheap.\n\n"
            "options:\n"
            "  --skip S,..        leave out stages (ph, pca, stats, features, report)\n"
            "  --only S,..        run only these stages\n"
            "  -h, --help         this help\n"
            "Each shared option below goes to every stage that takes it (--split only to\n"
            "ph). With --tasks N > 1, stats runs in task 0 and the\n"
            "report needs every stage's output, so it is left to one final plain\n"
            "`nerve analyze RUN` (a dependent job).\n");
    nv_run_opts_help(f, "analyze");
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
    const char *skip = NULL, *only = NULL, *run = NULL;
    nv_run_opts ro;
    nv_run_opts_init(&ro, "analyze");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if (nv_run_opts_take(&ro, argc, argv, &i, &rc)) {
            if (rc) goto out;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            goto out;
        }
        if (nv_cli_opt("analyze", argc, argv, &i, "--skip", &val, &rc)) {
            if (rc) goto out;
            skip = val;
        } else if (nv_cli_opt("analyze", argc, argv, &i, "--only", &val, &rc)) {
            if (rc) goto out;
            only = val;
        } else if (a[0] == '-' && a[1]) {
            rc = nv_cli_unknown("analyze", a, USAGE);
            goto out;
        } else if (run) {
            rc = nv_cli_usage("analyze", "found a second run directory '%s': expected one", a);
            goto out;
        } else {
            run = a;
        }
    }
    if (!run) {
        rc = nv_cli_usage("analyze", "expected one run directory");
        goto out;
    }
    if ((rc = known_stages("analyze", skip)) || (rc = known_stages("analyze", only))) goto out;
    /* Every value checked once, before the first stage starts. */
    if ((rc = nv_run_opts_check(&ro, run))) goto out;
    int sliced = ro.tasks > 1;

    for (size_t i = 0; i < NV_ARRAY_LEN(STAGES); i++) {
        const stage *s = &STAGES[i];
        if ((only && !listed(only, s->name)) || listed(skip, s->name)) continue;
        char *av[NV_RO_MAX_PASS * 2 + 4];
        int ac = 0;
        av[ac++] = (char *)s->name;
        av[ac++] = (char *)run;
        ac = nv_run_opts_argv(&ro, nv_run_opts_honoured(s->name), av, ac, (int)NV_ARRAY_LEN(av) - 1);
        av[ac] = NULL;
        /* The input layer has no feature images: the features stage gets the other
         * layers asked for, and none at all when only the input was. */
        char kept[1024] = "";
        if (!strcmp(s->name, "features") && (ro.given & NV_RO_LAYERS)) {
            for (int l = 0; l < ro.n_layers; l++)
                if (strcmp(ro.layers[l], "input"))
                    snprintf(kept + strlen(kept), sizeof kept - strlen(kept), "%s%s", kept[0] ? "," : "", ro.layers[l]);
            if (!kept[0]) {
                printf("== nerve features %s: skipped, the input layer has no feature images\n", run);
                continue;
            }
            for (int k = 2; k + 1 < ac; k++)
                if (!strcmp(av[k], "--layers") || !strcmp(av[k], "--layer")) av[k + 1] = kept;
        }
        printf("== nerve %s %s\n", s->name, run);
        fflush(stdout);
        rc = s->run(ac, av);
        if (rc) {
            fprintf(stderr, "nerve analyze: stage %s failed (exit %d); earlier stages' results are kept, "
                            "and a new `nerve analyze %s` continues from here\n", s->name, rc, run);
            goto out;
        }
    }
    if (sliced && (!only || listed(only, "report")) && !listed(skip, "report")) {
        printf("analyze: the report needs every stage's output; it is written by the final "
               "`nerve analyze %s` without --tasks\n", run);
    } else if (!listed(skip, "report") && (!only || listed(only, "report"))) {
        char *av[] = {"report", (char *)run, NULL};
        printf("== nerve report %s\n", run);
        fflush(stdout);
        rc = nv_cmd_report(2, av);
    }
out:
    nv_run_opts_free(&ro);
    return rc;
}
