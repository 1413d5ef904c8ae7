/* cmd_ph.c: `nerve ph`, Vietoris-Rips barcodes of a file: a drop-in for Ripser
 * 1.2.1 (same formats, same options, the same output lines, so scripts that parse
 * ripser's output keep working), plus nerve's own options: --modulus, --threads,
 * --memory-limit, --output pairs [--simplices], and for point clouds the metrics
 * and landmarks of include/nerve/metric.h.
 *
 * Everything is read and computed before the first line is printed: bad input
 * leaves no partial output. `nerve ph RUN_DIR` (a run directory) is handed to the
 * run pipeline, nv_cmd_ph_run (cmd_ph_run.c).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/metric.h"
#include "nerve/ph.h"
#include "nerve/ph_stages.h"

static const char *const ph_usage =
    "usage: nerve ph [options] [FILE]       (FILE absent or '-': standard input)\n"
    "\n"
    "Vietoris-Rips persistent homology, the same barcodes and output as Ripser 1.2.1.\n"
    "\n"
    "Ripser's options:\n"
    "  --format F          distance (default, as in Ripser's code), lower-distance,\n"
    "                      upper-distance, point-cloud, dipha, sparse, binary\n"
    "  --dim K             compute homology up to dimension K (default 1)\n"
    "  --threshold T       only simplices of diameter <= T (default: the enclosing radius)\n"
    "  --ratio R           only print pairs with death/birth ratio > R (default 1)\n"
    "  --modulus P         coefficients in Z/P, P prime (default 2)\n"
    "nerve's options:\n"
    "  --threads N         worker threads (default NERVE_THREADS or all cores)\n"
    "  --memory-limit M    refuse work estimated above M bytes (suffix K, M, G; 0 = none;\n"
    "                      default 75% of physical memory)\n"
    "  --output O          ripser (default) or pairs: 'dim birth death' lines\n"
    "  --simplices         with --output pairs: the birth and death simplices of each\n"
    "                      pair, as comma-separated vertex lists\n"
    "  --device D          auto (default), cpu or cuda: where distances (euclidean,\n"
    "                      cosine) and the column assembly run; same barcodes\n"
    "  --gpu-min-points N  with --device auto: use the GPU from N points (default: never;\n"
    "                      the size rule waits for measurements on a GPU)\n"
    "point clouds (--format point-cloud):\n"
    "  --metric M          euclidean (default; Ripser's distances to the bit), cosine,\n"
    "                      knn-hops, knn-weighted\n"
    "  --k K               neighbours of the kNN graph (default 14)\n"
    "  --normalize         divide by the median k-th neighbour distance\n"
    "  --landmarks N       use N landmark points instead of all\n"
    "  --landmark-method M maxmin (default) or random\n"
    "  --seed S            seed of random landmarks (default 0)\n"
    "\n"
    "For the snapshots of a training run: nerve ph RUN [options], a run directory in\n"
    "place of FILE; its options: nerve ph RUN --help (RUN literally, or the directory).\n";

typedef struct {
    nv_ph_format format;
    nv_ph_params params;
    int have_threshold;
    int output_pairs;
    int simplices;
    nv_metric_spec metric;
    int metric_set, k_set, normalize_set;
    int64_t landmarks;
    int landmark_method;
    uint64_t seed;
    const char *file;
    int format_set;
} ph_opts;

static size_t ph_default_memory_limit(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return 0;
    return (size_t)((double)pages * (double)size * 0.75);
}

static int ph_parse_size(const char *val, size_t *out) {
    char *end;
    double v = strtod(val, &end);
    if (end == val || !(v >= 0)) return nv_cli_usage("ph", "option --memory-limit: expected a size like 8G, found '%s'", val);
    double mult = 1;
    if (*end == 'K' || *end == 'k') mult = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mult = 1048576.0, end++;
    else if (*end == 'G' || *end == 'g') mult = 1073741824.0, end++;
    else if (*end == 'T' || *end == 't') mult = 1099511627776.0, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return nv_cli_usage("ph", "option --memory-limit: expected a size like 8G, found '%s'", val);
    *out = (size_t)(v * mult);
    return 0;
}

static int ph_is_prime(long long p) {
    if (p < 2) return 0;
    for (long long q = 2; q * q <= p; q++)
        if (p % q == 0) return 0;
    return 1;
}

static int ph_parse(int argc, char **argv, ph_opts *o) {
    memset(o, 0, sizeof *o);
    nv_ph_params_defaults(&o->params);
    o->params.memory_limit = ph_default_memory_limit();
    o->format = NV_PH_FMT_DISTANCE;
    o->metric.kind = NV_METRIC_EUCLIDEAN;
    o->metric.k = 14;
    o->landmark_method = NV_LANDMARK_MAXMIN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(ph_usage, stdout);
            return -1;
        }
        if (strncmp(a, "--", 2) != 0 || strcmp(a, "-") == 0) {
            if (o->file) return nv_cli_usage("ph", "found a second input file '%s': expected one", a);
            o->file = a;
            continue;
        }
        /* --opt value or --opt=value */
        char name[64];
        const char *val = NULL, *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        int flag = strcmp(name, "--simplices") == 0 || strcmp(name, "--normalize") == 0;
        if (!flag && !val) {
            if (i + 1 >= argc) return nv_cli_usage("ph", "option %s needs a value", name);
            val = argv[++i];
        }
        long long iv;
        double dv;
        if (strcmp(name, "--format") == 0) {
            int f = nv_ph_format_parse(val);
            if (f < 0)
                return nv_cli_usage("ph", "option --format: found '%s': expected distance, lower-distance, "
                                    "upper-distance, point-cloud, dipha, sparse or binary", val);
            o->format = (nv_ph_format)f;
            o->format_set = 1;
        } else if (strcmp(name, "--dim") == 0) {
            if (nv_cli_int("ph", name, val, 0, 30, &iv)) return 2;
            o->params.max_dim = (int)iv;
        } else if (strcmp(name, "--threshold") == 0) {
            /* the value itself from strtof, as Ripser's std::stof: (float)strtod
             * can round differently, and a threshold equal to a distance matters */
            if (nv_cli_double("ph", name, val, 0, INFINITY, &dv)) return 2;
            o->params.threshold = strtof(val, NULL);
            o->have_threshold = 1;
        } else if (strcmp(name, "--ratio") == 0) {
            if (nv_cli_double("ph", name, val, 1, INFINITY, &dv)) return 2;
            o->params.ratio = strtof(val, NULL);
        } else if (strcmp(name, "--modulus") == 0) {
            if (nv_cli_int("ph", name, val, 2, 65521, &iv)) return 2;
            if (!ph_is_prime(iv)) return nv_cli_usage("ph", "option --modulus: found %lld: expected a prime", iv);
            o->params.modulus = (uint32_t)iv;
        } else if (strcmp(name, "--threads") == 0) {
            if (nv_cli_int("ph", name, val, 1, 256, &iv)) return 2;
            o->params.threads = (int)iv;
        } else if (strcmp(name, "--memory-limit") == 0) {
            if (ph_parse_size(val, &o->params.memory_limit)) return 2;
        } else if (strcmp(name, "--output") == 0) {
            if (strcmp(val, "ripser") == 0) o->output_pairs = 0;
            else if (strcmp(val, "pairs") == 0) o->output_pairs = 1;
            else return nv_cli_usage("ph", "option --output: found '%s': expected ripser or pairs", val);
        } else if (strcmp(name, "--simplices") == 0) {
            o->simplices = 1;
        } else if (strcmp(name, "--metric") == 0) {
            int m = nv_metric_parse(val);
            if (m < 0)
                return nv_cli_usage("ph", "option --metric: found '%s': expected euclidean, cosine, knn-hops or knn-weighted", val);
            o->metric.kind = (nv_metric_kind)m;
            o->metric_set = 1;
        } else if (strcmp(name, "--k") == 0) {
            if (nv_cli_int("ph", name, val, 1, 1 << 20, &iv)) return 2;
            o->metric.k = (int)iv;
            o->k_set = 1;
        } else if (strcmp(name, "--normalize") == 0) {
            o->metric.normalize = 1;
            o->normalize_set = 1;
        } else if (strcmp(name, "--landmarks") == 0) {
            if (nv_cli_int("ph", name, val, 2, INT64_MAX, &iv)) return 2;
            o->landmarks = iv;
        } else if (strcmp(name, "--landmark-method") == 0) {
            if (strcmp(val, "maxmin") == 0) o->landmark_method = NV_LANDMARK_MAXMIN;
            else if (strcmp(val, "random") == 0) o->landmark_method = NV_LANDMARK_RANDOM;
            else return nv_cli_usage("ph", "option --landmark-method: found '%s': expected maxmin or random", val);
        } else if (strcmp(name, "--device") == 0) {
            if (strcmp(val, "auto") == 0) o->params.device = NV_DEVICE_AUTO;
            else if (strcmp(val, "cpu") == 0) o->params.device = NV_DEVICE_CPU;
            else if (strcmp(val, "cuda") == 0) o->params.device = NV_DEVICE_CUDA;
            else return nv_cli_usage("ph", "option --device: found '%s': expected auto, cpu or cuda", val);
        } else if (strcmp(name, "--gpu-min-points") == 0) {
            if (nv_cli_int("ph", name, val, 2, INT64_MAX, &iv)) return 2;
            o->params.gpu_min_points = iv;
        } else if (strcmp(name, "--seed") == 0) {
            if (nv_cli_int("ph", name, val, 0, INT64_MAX, &iv)) return 2;
            o->seed = (uint64_t)iv;
        } else {
            return nv_cli_unknown("ph", a, ph_usage);
        }
    }
    if (o->simplices && !o->output_pairs)
        return nv_cli_usage("ph", "option --simplices needs --output pairs");
    int cloud_only = o->metric_set || o->k_set || o->normalize_set || o->landmarks;
    if (cloud_only && o->format != NV_PH_FMT_POINT_CLOUD)
        return nv_cli_usage("ph", "options --metric, --k, --normalize and --landmarks need --format point-cloud");
    return 0;
}

/* Ripser's order: dimension 0 by death then the later edge first, essential last;
 * higher dimensions by decreasing birth, then increasing birth simplex (the order
 * in which its columns are reduced). */
static int ph_ripser_cmp(const void *a, const void *b) {
    const nv_ph_pair *x = a, *y = b;
    if (x->dim != y->dim) return x->dim < y->dim ? -1 : 1;
    if (x->dim == 0) {
        if (x->death != y->death) return x->death < y->death ? -1 : 1;
        return (x->death_simplex < y->death_simplex) - (x->death_simplex > y->death_simplex);
    }
    if (x->birth != y->birth) return x->birth > y->birth ? -1 : 1;
    return (x->birth_simplex > y->birth_simplex) - (x->birth_simplex < y->birth_simplex);
}

static void ph_print_simplex(FILE *f, int64_t idx, int dim, int64_t n, const int64_t *landmark) {
    int64_t v[64];
    if (idx < 0) {
        fputs(" -", f);
        return;
    }
    nv_ph_simplex_vertices(idx, dim, n, v);
    fputc(' ', f);
    for (int i = dim; i >= 0; i--) /* increasing, as vertex lists are usually written */
        fprintf(f, "%lld%s", (long long)(landmark ? landmark[v[i]] : v[i]), i ? "," : "");
}

/* `nerve ph RUN`: a directory among the positional arguments means a run
 * directory, whose options (cmd_ph_run.c) differ from the file mode's, so the
 * decision comes before parsing. Values of options are never taken for it:
 * a directory is never a valid value of a file-mode option. */
static int ph_is_run_mode(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (argv[i][0] == '-' && argv[i][1] != '\0') continue;
        /* "--device cuda" run next to the source tree's cuda/ folder */
        if (i > 1 && strcmp(argv[i - 1], "--device") == 0) continue;
        if (stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode)) return 1;
    }
    return 0;
}

static void error_suffix(nv_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error_suffix(nv_error *err, const char *fmt, ...) {
    size_t used = strlen(err->msg);
    va_list ap;
    va_start(ap, fmt);
    if (used < sizeof err->msg) vsnprintf(err->msg + used, sizeof err->msg - used, fmt, ap);
    va_end(ap);
}

/* 1 when every non-empty line of the file holds the same number (>= 2) of fields and
 * there are at least 3 lines: the shape of a point cloud, one point per line. */
static int looks_like_cloud(const char *file, int *fields) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[65536];
    int lines = 0, width = -1, same = 1;
    while (same && lines < 2000 && fgets(line, sizeof line, f)) {
        int n = 0, in = 0;
        for (char *p = line; *p; p++) {
            int sep = *p == ' ' || *p == '\t' || *p == ',' || *p == '\n' || *p == '\r';
            if (!sep && !in) n++;
            in = !sep;
        }
        if (n == 0) continue;
        if (width < 0) width = n;
        same = n == width;
        lines++;
    }
    fclose(f);
    *fields = width;
    return same && width >= 2 && lines >= 3;
}

int nv_cmd_ph(int argc, char **argv) {
    if (ph_is_run_mode(argc, argv)) return nv_cmd_ph_run(argc, argv);
    /* `nerve ph RUN --help`, with RUN written as such: the run mode's help */
    int help = 0, run_word = 0;
    for (int i = 1; i < argc; i++) {
        help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
        run_word |= !strcmp(argv[i], "RUN");
    }
    if (help && run_word) return nv_cmd_ph_run(argc, argv);
    ph_opts o;
    int rc = ph_parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    nv_error err = {0};
    nv_ph_data data = {0};
    nv_ph_result res = {0};
    float *dist = NULL;
    int64_t *landmark = NULL, npts = 0;
    nv_status st;
    const char *name = (o.file && strcmp(o.file, "-") != 0) ? o.file : "<stdin>";
    FILE *f = stdin;
    if (o.file && strcmp(o.file, "-") != 0) {
        f = fopen(o.file, "rb");
        if (!f) {
            nv_fail(&err, NV_EINPUT, "%s: cannot open: %s", o.file, strerror(errno));
            return nv_cli_report("ph", &err);
        }
    }
    st = nv_ph_read(f, name, o.format, &data, &err);
    if (f != stdin) fclose(f);
    if (st) {
        /* The default format is a distance matrix (as Ripser's); a point cloud read as
         * one fails, and the message should say which format it looks like. */
        int fields = 0;
        if (st == NV_EINPUT && !o.format_set && o.format != NV_PH_FMT_POINT_CLOUD) {
            if (f != stdin && looks_like_cloud(o.file, &fields))
                error_suffix(&err, "; every line holds %d numbers, as a point cloud does: for points "
                                "(one per line) give --format point-cloud", fields);
            else if (f == stdin)
                error_suffix(&err, "; the default format is a distance matrix: for points (one per "
                                "line) give --format point-cloud");
        }
        return nv_cli_report("ph", &err);
    }

    /* the distances the engine sees */
    nv_ph_input in = {0};
    npts = data.n;
    if (o.format == NV_PH_FMT_POINT_CLOUD) {
        const float *x = data.points;
        float *sub = NULL;
        if (o.landmarks && o.landmarks < data.n) {
            landmark = malloc((size_t)o.landmarks * sizeof *landmark);
            if (!landmark) { nv_fail(&err, NV_ENOMEM, "out of memory"); goto fail; }
            st = nv_landmarks_select(data.points, data.n, data.dim, o.landmarks,
                                     (nv_landmark_kind)o.landmark_method, o.seed, 0, landmark, NULL, &err);
            if (st) goto fail;
            npts = o.landmarks;
        }
        int knn = o.metric.kind == NV_METRIC_KNN_HOPS || o.metric.kind == NV_METRIC_KNN_WEIGHTED;
        if (landmark && !knn) { /* euclidean and cosine need only the landmarks' rows */
            sub = malloc((size_t)npts * (size_t)data.dim * sizeof *sub);
            if (!sub) { nv_fail(&err, NV_ENOMEM, "out of memory"); goto fail; }
            for (int64_t i = 0; i < npts; i++)
                memcpy(sub + i * data.dim, data.points + landmark[i] * data.dim, (size_t)data.dim * sizeof *sub);
            x = sub;
        }
        int64_t nx = (landmark && !knn) ? npts : data.n;
        if ((o.metric.kind == NV_METRIC_EUCLIDEAN || o.metric.kind == NV_METRIC_COSINE) &&
            !o.metric.normalize) {
            /* the same floats on either device (ph_stages.h); the GPU from the size rule */
            nv_device_kind want = o.params.device;
            int64_t rule = o.params.gpu_min_points > 0 ? o.params.gpu_min_points : NV_PH_GPU_MIN_POINTS;
            if (want == NV_DEVICE_AUTO && nx < rule)
                want = NV_DEVICE_CPU;
            st = nv_metric_distances(x, nx, data.dim, o.metric.kind, want, &dist, NULL, &err);
        } else {
            o.metric.device = o.params.device; /* the kNN-graph distances: see nv_metric_geodesic */
            st = nv_distance_matrix(x, nx, data.dim, &o.metric, &dist, &err);
        }
        free(sub);
        if (st) goto fail;
        if (landmark && knn) { /* graph distances through all points, then restricted */
            float *r = NULL;
            st = nv_distance_restrict(dist, data.n, landmark, npts, &r, &err);
            free(dist);
            dist = r;
            if (st) goto fail;
        }
        in.kind = NV_PH_DENSE;
        in.lower = dist;
    } else if (o.format == NV_PH_FMT_SPARSE) {
        in.kind = NV_PH_SPARSE;
        in.row_ptr = data.row_ptr;
        in.col = data.col;
        in.val = data.val;
    } else {
        in.kind = NV_PH_DENSE;
        in.lower = data.lower;
    }
    in.n = npts;

    nv_ph_params p = o.params;
    p.want_simplices = 1; /* the printed order of Ripser needs them */
    /* Ripser 1.2.1 applies --threshold to a sparse file's triangles and up, not to
     * its edges: same barcodes means the same complex */
    p.keep_long_edges = o.format == NV_PH_FMT_SPARSE;
    st = nv_ph_compute(&in, &p, &res, &err);
    if (st) goto fail;

    /* --- output: nothing was printed before this point --- */
    if (o.output_pairs) {
        printf("# nerve ph: %lld points, dim %d, modulus %u\n", (long long)npts, p.max_dim, p.modulus);
        if (landmark) {
            printf("# landmarks:");
            for (int64_t i = 0; i < npts; i++) printf(" %lld", (long long)landmark[i]);
            printf("\n");
        }
        printf(o.simplices ? "# dim birth death birth_simplex death_simplex\n" : "# dim birth death\n");
        for (int64_t i = 0; i < res.count; i++) {
            const nv_ph_pair *q = &res.pairs[i];
            if (isinf(q->death)) printf("%d %.9g inf", q->dim, q->birth);
            else printf("%d %.9g %.9g", q->dim, q->birth, q->death);
            if (o.simplices) {
                ph_print_simplex(stdout, q->birth_simplex, q->dim, npts, landmark);
                ph_print_simplex(stdout, q->death_simplex, q->dim + 1, npts, landmark);
            }
            printf("\n");
        }
    } else {
        /* Ripser's header lines, path by path */
        if (o.format == NV_PH_FMT_POINT_CLOUD)
            printf("point cloud with %lld points in dimension %lld\n", (long long)data.n, (long long)data.dim);
        if (o.format == NV_PH_FMT_SPARSE) {
            printf("sparse distance matrix with %lld points and %lld/%lld entries\n", (long long)npts,
                   (long long)data.entries, (long long)(npts * (npts - 1) / 2));
        } else if (!(o.format == NV_PH_FMT_POINT_CLOUD && o.have_threshold)) {
            float mn = INFINITY, mx = -INFINITY;
            int64_t m = npts * (npts - 1) / 2, below = 0;
            for (int64_t i = 0; i < m; i++) {
                float x = in.lower[i];
                if (x < mn) mn = x;
                if (x != INFINITY && x > mx) mx = x;
                if (x <= p.threshold) below++;
            }
            printf("value range: [%g,%g]\n", mn, mx);
            if (!o.have_threshold)
                printf("distance matrix with %lld points, using threshold at enclosing radius %g\n",
                       (long long)npts, nv_ph_enclosing_radius(in.lower, npts));
            else
                /* Ripser 1.2.1 prints (n*n - 1)/2 here, not n(n-1)/2: kept for parsers */
                printf("sparse distance matrix with %lld points and %lld/%lld entries\n", (long long)npts,
                       (long long)below, (long long)((npts * npts - 1) / 2));
        }
        qsort(res.pairs, (size_t)res.count, sizeof *res.pairs, ph_ripser_cmp);
        int64_t k = 0;
        for (int d = 0; d <= p.max_dim; d++) {
            printf("persistence intervals in dim %d:\n", d);
            for (; k < res.count && res.pairs[k].dim == d; k++) {
                const nv_ph_pair *q = &res.pairs[k];
                if (isinf(q->death)) printf(" [%g, )\n", q->birth);
                else printf(" [%g,%g)\n", q->birth, q->death);
            }
        }
    }
    fflush(stdout);
    nv_ph_result_free(&res);
    nv_ph_data_free(&data);
    free(dist);
    free(landmark);
    return 0;
fail:
    nv_ph_result_free(&res);
    nv_ph_data_free(&data);
    free(dist);
    free(landmark);
    return nv_cli_report("ph", &err);
}
