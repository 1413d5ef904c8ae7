/* cmd_data.c: `nerve data`, the first pipeline stage: generate the intersecting
 * spheres or import a data set (IDX / Fashion-MNIST, CSV, HDF5), split it into
 * train and test, and write the dataset file (format "nerve-dataset") that
 * `nerve train` reads.
 *
 * This file only parses options, calls the library (datasets/, include/nerve/
 * dataset.h) and reports; all checking of the data itself happens there, so the
 * config-driven path (`nerve train`, `nerve data --config`) gets the same checks.
 * Exit codes: 0 success, 2 bad input (flags, data files, output directory), 1
 * anything else. No partial output file is ever left: the library writes to a
 * temporary name and renames.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nerve/dataset.h"
#include "nerve/run.h"

enum {
    OPT_OUT = 256, OPT_DIM, OPT_SPHERE_DIM, OPT_POINTS, OPT_RADIUS, OPT_OFFSET, OPT_NOISE,
    OPT_OVERSAMPLE, OPT_OVERSAMPLE_WIDTH, OPT_TEST_FRACTION, OPT_SEED, OPT_IMAGES, OPT_LABELS,
    OPT_TEST_IMAGES, OPT_TEST_LABELS, OPT_LIMIT, OPT_TEST_LIMIT, OPT_DIR, OPT_LABEL_COL, OPT_X,
    OPT_Y, OPT_GAP, OPT_HELP
};

static const struct option LONG_OPTS[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"dim", required_argument, NULL, OPT_DIM},
    {"sphere-dim", required_argument, NULL, OPT_SPHERE_DIM},
    {"points", required_argument, NULL, OPT_POINTS},
    {"radius", required_argument, NULL, OPT_RADIUS},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"noise", required_argument, NULL, OPT_NOISE},
    {"oversample", required_argument, NULL, OPT_OVERSAMPLE},
    {"oversample-width", required_argument, NULL, OPT_OVERSAMPLE_WIDTH},
    {"test-fraction", required_argument, NULL, OPT_TEST_FRACTION},
    {"seed", required_argument, NULL, OPT_SEED},
    {"images", required_argument, NULL, OPT_IMAGES},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"test-images", required_argument, NULL, OPT_TEST_IMAGES},
    {"test-labels", required_argument, NULL, OPT_TEST_LABELS},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"test-limit", required_argument, NULL, OPT_TEST_LIMIT},
    {"dir", required_argument, NULL, OPT_DIR},
    {"label-col", required_argument, NULL, OPT_LABEL_COL},
    {"x", required_argument, NULL, OPT_X},
    {"y", required_argument, NULL, OPT_Y},
    {"gap", required_argument, NULL, OPT_GAP},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The sub-commands, with the options each accepts (by LONG_OPTS name) and its
 * number of positional arguments. */
typedef struct {
    const char *name;
    const char *options; /* space-separated option names */
    int npos;
    const char *help;
} subcommand;

static const subcommand SUBS[] = {
    {"spheres",
     "out dim sphere-dim points radius offset noise oversample oversample-width test-fraction seed help",
     0,
     "usage: nerve data spheres --out FILE [options]\n"
     "  Two intersecting spheres (classes 0 and 1), centres -offset/2 and +offset/2 on e_0.\n"
     "  --dim D                ambient dimension d (default 12)\n"
     "  --sphere-dim M         the spheres' own dimension m, 1 .. d-1 (default d-1: full spheres;\n"
     "                         smaller m: an m-sphere placed by a random rotation per class)\n"
     "  --points N             points per class before the split (default 2000)\n"
     "  --radius R0,R1         radii of class 0 and 1 (default 1.0,1.3; one value: both)\n"
     "  --offset X             distance between the centres (default 0.4)\n"
     "  --noise S              std of Gaussian noise added in R^d (default 0)\n"
     "  --oversample F         extra fraction of points near the other sphere (default 0)\n"
     "  --oversample-width W   band half-width for those points (default 0.1)\n"
     "  --test-fraction F      stratified test share, in [0, 1) (default 0.2)\n"
     "  --seed S               random seed; same seed, same bytes (default 1)\n"},
    {"disks", "out points radius gap test-fraction seed help", 0,
     "usage: nerve data disks --out FILE [options]\n"
     "  Nine disks in the unit square (class 0) against the rest of the square (class 1),\n"
     "  Naitzat et al.'s experiment D-I (docs/naitzat-di.md); the config's data.disks.\n"
     "  --points N             points per class before the split (default 2000)\n"
     "  --radius R             the disks' radius (default 0.2)\n"
     "  --gap G                band between the classes (default 0.05; radius + gap < 1/3)\n"
     "  --test-fraction F      stratified test share, in [0, 1) (default 0.2)\n"
     "  --seed S               random seed; same seed, same bytes (default 1)\n"},
    {"idx", "out images labels test-images test-labels limit test-limit test-fraction seed help", 0,
     "usage: nerve data idx --images F --labels F [--test-images F --test-labels F] --out FILE\n"
     "  MNIST-format IDX files, gzip-compressed or raw.\n"
     "  --limit N              keep the first N training samples (default all)\n"
     "  --test-limit N         keep the first N test samples (with test files)\n"
     "  --test-fraction F      without test files: stratified test share (default 0.2)\n"
     "  --seed S               without test files: split seed (default 1)\n"},
    {"fashion-mnist", "out limit test-limit dir help", 0,
     "usage: nerve data fashion-mnist --out FILE [--limit N --test-limit N --dir DIR]\n"
     "  Fashion-MNIST from Debian's dataset-fashion-mnist package (60000 train and 10000\n"
     "  test images of 28 x 28, 10 classes), pixels scaled to [0, 1].\n"
     "  --limit N              keep the first N training images (default all)\n"
     "  --test-limit N         keep the first N test images (default all)\n"
     "  --dir DIR              where the four IDX .gz files are\n"
     "                         (default " NV_FASHION_MNIST_DIR ")\n"},
    {"csv", "out label-col test-fraction seed help", 1,
     "usage: nerve data csv FILE --out FILE [--label-col K --test-fraction F --seed S]\n"
     "  One sample per line, comma-separated numbers; a first line without numbers is a header.\n"
     "  --label-col K          0-based label column; -1 = last (default -1)\n"
     "  --test-fraction F      stratified test share (default 0.2)\n"
     "  --seed S               split seed (default 1)\n"},
    {"config", "out seed help", 1,
     "usage: nerve data config EXPERIMENT.cfg --out FILE [--seed S]\n"
     "  The data of an experiment config (its data section and seed), exactly as\n"
     "  nerve train builds it.\n"
     "  --seed S               override the experiment's seed\n"},
    {"file", "out help", 1,
     "usage: nerve data file DATASET.h5 --out FILE\n"
     "  A dataset file written by nerve data (format nerve-dataset), checked and written\n"
     "  again, as a config's data.file reads it.\n"},
    {"hdf5", "out x y test-fraction seed help", 1,
     "usage: nerve data hdf5 FILE --x PATH --y PATH --out FILE [--test-fraction F --seed S]\n"
     "  --x PATH               2-D dataset (samples x features), any numeric type\n"
     "  --y PATH               1-D integer labels, one per sample\n"
     "  --test-fraction F      stratified test share (default 0.2)\n"
     "  --seed S               split seed (default 1)\n"},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve data SOURCE [options] --out FILE\n\n"
            "Makes the dataset file (HDF5, format nerve-dataset: /train and /test with x, y, ids)\n"
            "that nerve train reads. SOURCE is one of:\n"
            "  spheres         the intersecting-spheres generator\n"
            "  disks           nine disks in a square (Naitzat et al.'s D-I)\n"
            "  idx             MNIST-format IDX files (gzip or raw)\n"
            "  fashion-mnist   Fashion-MNIST from Debian's dataset-fashion-mnist\n"
            "  csv FILE        a CSV file of numbers with a label column\n"
            "  hdf5 FILE       arrays in any HDF5 file\n"
            "  file FILE       a dataset file nerve data wrote\n"
            "  config EXP.cfg  the data section of an experiment config\n"
            "(every data.source a config accepts)\n\n"
            "nerve data SOURCE --help lists each source's options. Bad input (malformed files,\n"
            "non-finite values, an unwritable output directory) exits 2 with a message naming\n"
            "the place; no partial output file is left.\n");
}

static int allowed(const subcommand *s, const char *opt) {
    size_t n = strlen(opt);
    for (const char *p = s->options; (p = strstr(p, opt)) != NULL; p += n)
        if ((p == s->options || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return 1;
    return 0;
}

/* All option values, parsed; unset ones keep their defaults. */
typedef struct {
    const char *out, *images, *labels, *test_images, *test_labels, *dir, *x, *y;
    nv_spheres_params sp;
    long long limit, test_limit, label_col, seed;
    double test_fraction;
    int seed_set, test_fraction_set, test_limit_set, gap_set, radius_set, points_set;
    double gap;
} options;

static int parse_radius(const char *verb, const char *val, double r[2]) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", val);
    char *comma = strchr(buf, ',');
    if (comma) *comma = '\0';
    if (nv_cli_double(verb, "--radius", buf, 1e-300, 1e300, &r[0])) return 2;
    if (!comma) {
        r[1] = r[0];
        return 0;
    }
    return nv_cli_double(verb, "--radius", comma + 1, 1e-300, 1e300, &r[1]);
}

/* Parses argv (argv[0] = the source name) into o; returns 0, 2 on a usage error,
 * or -1 after printing help. */
static int parse(const subcommand *s, const char *verb, int argc, char **argv, options *o,
                 const char **pos) {
    long long v;
    double f;
    opterr = 0;
    optind = 0; /* GNU: full re-initialisation, also of the argument permutation */
    int c;
    while ((c = getopt_long(argc, argv, ":h", LONG_OPTS, NULL)) != -1) {
        if (c == 'h') c = OPT_HELP;
        if (c == '?' || c == ':') return nv_cli_getopt_fail(verb, c, optind, argv, s->help);
        const char *name = NULL;
        for (const struct option *lo = LONG_OPTS; lo->name; lo++)
            if (lo->val == c) name = lo->name;
        if (!name || !allowed(s, name))
            return nv_cli_usage(verb, "option --%s does not apply to 'nerve data %s'", name ? name : "?",
                                s->name);
        int rc = 0;
        switch (c) {
        case OPT_HELP: fputs(s->help, stdout); return -1;
        case OPT_OUT: o->out = optarg; break;
        case OPT_DIM: rc = nv_cli_int(verb, "--dim", optarg, 2, 100000, &v); o->sp.dim = v; break;
        case OPT_SPHERE_DIM:
            rc = nv_cli_int(verb, "--sphere-dim", optarg, 1, 99999, &v);
            o->sp.sphere_dim = v;
            break;
        case OPT_POINTS:
            rc = nv_cli_int(verb, "--points", optarg, 1, 100000000, &v);
            o->sp.points_per_class = v;
            o->points_set = 1;
            break;
        case OPT_RADIUS:
            rc = parse_radius(verb, optarg, o->sp.radius);
            o->radius_set = 1;
            if (!rc && !strcmp(s->name, "disks") && strchr(optarg, ','))
                rc = nv_cli_usage(verb, "option --radius: the nine disks share one radius, found '%s'", optarg);
            break;
        case OPT_GAP: rc = nv_cli_double(verb, "--gap", optarg, 0, 1, &o->gap); o->gap_set = 1; break;
        case OPT_OFFSET: rc = nv_cli_double(verb, "--offset", optarg, 0, 1e300, &o->sp.offset); break;
        case OPT_NOISE: rc = nv_cli_double(verb, "--noise", optarg, 0, 1e300, &o->sp.noise); break;
        case OPT_OVERSAMPLE:
            rc = nv_cli_double(verb, "--oversample", optarg, 0, 100, &o->sp.oversample);
            break;
        case OPT_OVERSAMPLE_WIDTH:
            rc = nv_cli_double(verb, "--oversample-width", optarg, 1e-300, 1e300, &o->sp.oversample_width);
            break;
        case OPT_TEST_FRACTION:
            rc = nv_cli_double(verb, "--test-fraction", optarg, 0, 0.999999, &f);
            o->test_fraction = f;
            o->test_fraction_set = 1;
            break;
        case OPT_SEED: rc = nv_cli_int(verb, "--seed", optarg, 0, INT64_MAX, &o->seed); o->seed_set = 1; break;
        case OPT_IMAGES: o->images = optarg; break;
        case OPT_LABELS: o->labels = optarg; break;
        case OPT_TEST_IMAGES: o->test_images = optarg; break;
        case OPT_TEST_LABELS: o->test_labels = optarg; break;
        case OPT_LIMIT: rc = nv_cli_int(verb, "--limit", optarg, 1, INT64_MAX, &o->limit); break;
        case OPT_TEST_LIMIT:
            rc = nv_cli_int(verb, "--test-limit", optarg, 1, INT64_MAX, &o->test_limit);
            o->test_limit_set = 1;
            break;
        case OPT_DIR: o->dir = optarg; break;
        case OPT_LABEL_COL:
            rc = nv_cli_int(verb, "--label-col", optarg, -1, 1000000000, &o->label_col);
            break;
        case OPT_X: o->x = optarg; break;
        case OPT_Y: o->y = optarg; break;
        default: return nv_cli_usage(verb, "unhandled option");
        }
        if (rc) return rc;
    }
    int npos = argc - optind;
    if (npos != s->npos)
        return nv_cli_usage(verb, "expected %d file argument%s, found %d%s%s", s->npos,
                            s->npos == 1 ? "" : "s", npos, npos > s->npos ? ": " : "",
                            npos > s->npos ? argv[optind + s->npos] : "");
    if (s->npos) *pos = argv[optind];
    if (!o->out || !o->out[0]) return nv_cli_usage(verb, "--out FILE is required");
    return 0;
}

/* The summary table: what was written, sizes and per-class counts. */
static void report(const char *out, const char *source, const nv_dataset *train,
                   const nv_dataset *test) {
    const int32_t nc = NV_MAX(train->nclasses, test->nclasses);
    char shape[64], classes[32], rows[2][64];
    char *counts[2] = {NULL, NULL};
    const nv_dataset *sets[2] = {train, test};
    snprintf(shape, sizeof shape, "%lld features", (long long)train->d);
    snprintf(classes, sizeof classes, "%d", (int)nc);
    int64_t *cnt = calloc((size_t)nc, sizeof *cnt);
    for (int s = 0; s < 2; s++) {
        snprintf(rows[s], sizeof rows[s], "%lld rows", (long long)sets[s]->n);
        size_t cap = 64 + 24 * (size_t)NV_MIN(nc, 20);
        counts[s] = calloc(cap, 1);
        if (!cnt || !counts[s]) continue;
        nv_dataset tmp = *sets[s];
        tmp.nclasses = nc;
        nv_dataset_class_counts(&tmp, cnt);
        size_t k = 0;
        for (int32_t c = 0; c < nc && c < 20; c++)
            k += (size_t)snprintf(counts[s] + k, cap - k, "%s%lld", c ? " " : "", (long long)cnt[c]);
        if (nc > 20) snprintf(counts[s] + k, cap - k, " ... (%d classes)", (int)nc);
    }
    const char *keys[] = {"file", "source", "shape", "classes", "train", "  per class",
                          "test", "  per class"};
    const char *vals[] = {out, source, shape, classes, rows[0], counts[0] ? counts[0] : "?",
                          rows[1], counts[1] ? counts[1] : "?"};
    nv_cli_table(stdout, "nerve data: wrote the dataset file", keys, vals, (int)NV_ARRAY_LEN(keys));
    free(cnt);
    free(counts[0]);
    free(counts[1]);
}

int nv_cmd_data(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    const subcommand *s = NULL;
    for (size_t i = 0; i < NV_ARRAY_LEN(SUBS); i++)
        if (!strcmp(argv[1], SUBS[i].name)) s = &SUBS[i];
    if (!s) {
        if (argv[1][0] == '-')
            return nv_cli_usage("data", "expected a source (spheres, disks, idx, fashion-mnist, csv, hdf5, "
                                        "file, config) before the options, found '%s'", argv[1]);
        return nv_cli_usage("data", "unknown source '%s': expected spheres, disks, idx, fashion-mnist, csv, "
                                    "hdf5, file or config", argv[1]);
    }
    char verb[64];
    snprintf(verb, sizeof verb, "data %s", s->name);

    options o;
    memset(&o, 0, sizeof o);
    nv_spheres_defaults(&o.sp);
    o.sp.sphere_dim = -1; /* "not given": follows --dim */
    o.label_col = -1;
    o.test_fraction = 0.2;
    o.seed = 1;
    const char *pos = NULL;
    int rc = parse(s, verb, argc - 1, argv + 1, &o, &pos);
    if (rc == -1) return 0;
    if (rc) return rc;

    nv_error err = {0};
    nv_dataset train = {0}, test = {0}, all = {0};
    char source[2048];
    nv_status st = NV_OK;
    if (!strcmp(s->name, "config")) {
        nv_experiment ex;
        char ov[64];
        const char *ovp[1] = {ov};
        snprintf(ov, sizeof ov, "seed = %lld;", o.seed);
        st = nv_config_load(pos, ovp, o.seed_set ? 1 : 0, &ex, &err);
        if (!st) st = nv_data_build(&ex.data, ex.seed, &train, &test, source, sizeof source, &err);
    } else if (!strcmp(s->name, "disks") || !strcmp(s->name, "file")) {
        /* the config's own path (nv_data_build), so both give the same bytes */
        nv_data_spec spec;
        memset(&spec, 0, sizeof spec);
        spec.test_fraction = o.test_fraction;
        if (!strcmp(s->name, "disks")) {
            spec.source = NV_DATA_DISKS;
            nv_disks_defaults(&spec.disks);
            if (o.points_set) spec.disks.points_per_class = o.sp.points_per_class;
            if (o.radius_set) spec.disks.radius = o.sp.radius[0];
            if (o.gap_set) spec.disks.gap = o.gap;
        } else {
            spec.source = NV_DATA_FILE;
            snprintf(spec.path, sizeof spec.path, "%s", pos);
        }
        st = nv_data_build(&spec, (uint64_t)o.seed, &train, &test, source, sizeof source, &err);
    } else if (!strcmp(s->name, "spheres")) {
        if (o.sp.sphere_dim < 0) o.sp.sphere_dim = o.sp.dim - 1;
        o.sp.test_fraction = o.test_fraction;
        o.sp.seed = (uint64_t)o.seed;
        st = nv_spheres_generate(&o.sp, &train, &test, &err);
        nv_spheres_describe(&o.sp, source, sizeof source);
    } else if (!strcmp(s->name, "idx") || !strcmp(s->name, "fashion-mnist")) {
        nv_idx_params p;
        static char store[4 * 1024];
        if (!strcmp(s->name, "idx")) {
            memset(&p, 0, sizeof p);
            if (!o.images || !o.labels) return nv_cli_usage(verb, "--images and --labels are required");
            if (!o.test_images != !o.test_labels)
                return nv_cli_usage(verb, "give both --test-images and --test-labels, or neither");
            if (o.test_images && (o.test_fraction_set || o.seed_set))
                return nv_cli_usage(verb, "--test-fraction and --seed split the training files; they "
                                          "do not apply with --test-images");
            if (!o.test_images && o.test_limit_set)
                return nv_cli_usage(verb, "--test-limit applies only with --test-images");
            p.images = o.images;
            p.labels = o.labels;
            p.test_images = o.test_images;
            p.test_labels = o.test_labels;
        } else {
            nv_idx_fashion_mnist(&p, o.dir, store, sizeof store);
        }
        p.limit = o.limit;
        p.test_limit = o.test_limit;
        p.test_fraction = o.test_fraction;
        p.seed = (uint64_t)o.seed;
        st = nv_idx_build(&p, &train, &test, &err);
        if (st && !strcmp(s->name, "fashion-mnist"))
            nv_error_prefix(&err, "Fashion-MNIST (install Debian's dataset-fashion-mnist, or give --dir): ");
        nv_idx_describe(&p, source, sizeof source);
    } else {
        if (!strcmp(s->name, "csv")) {
            st = nv_csv_load(pos, (int)o.label_col, &all, &err);
            snprintf(source, sizeof source, "csv: %s, label column %lld, test_fraction %g, seed %lld", pos,
                     o.label_col, o.test_fraction, o.seed);
        } else {
            if (!o.x || !o.y) return nv_cli_usage(verb, "--x PATH and --y PATH are required");
            st = nv_h5_import(pos, o.x, o.y, &all, &err);
            snprintf(source, sizeof source, "hdf5: %s, x %s, y %s, test_fraction %g, seed %lld", pos,
                     o.x, o.y, o.test_fraction, o.seed);
        }
        if (!st) st = nv_dataset_split(&all, o.test_fraction, (uint64_t)o.seed, &train, &test, &err);
        nv_dataset_free(&all);
    }
    if (!st) st = nv_dataset_save(o.out, &train, &test, source, &err);
    if (!st) report(o.out, source, &train, &test);
    nv_dataset_free(&train);
    nv_dataset_free(&test);
    return st ? nv_cli_report(verb, &err) : 0;
}
