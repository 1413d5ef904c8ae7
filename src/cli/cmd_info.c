/* cmd_info.c: `nerve info PATH`, a look inside what the pipeline wrote.
 *
 *  - a run directory (config.cfg, snapshots/manifest.json, checkpoints/): the
 *    experiment and its status, each model (widths, epochs trained, final
 *    accuracy and loss from summary.json or the checkpoint), the snapshot epochs
 *    and layer shapes per model, and sizes on disk;
 *  - a snapshots directory (one holding manifest.json): the same, snapshots only;
 *  - an HDF5 file: its format and version, then the tree of groups and datasets
 *    with shapes, types, storage (chunks, filters, virtual sources) and attributes.
 *
 * The library builds one JSON description (nv_info_describe, include/nerve/info.h,
 * does all the reading); --json prints it as is and the text form here renders it,
 * so the two outputs cannot drift apart. Only reads; bad input (not HDF5, not a run
 * directory, a malformed manifest) is exit 2.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nerve/info.h"

static const char *VERB = "info";

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve info [--json] [--full] PATH\n"
            "  Describes a run directory (runs/<experiment>/), a snapshots directory, or any\n"
            "  HDF5 file nerve wrote (snapshots, checkpoints, datasets, diagrams).\n"
            "  --json    machine-readable output (one JSON object) instead of text\n"
            "  --full    do not shorten long attribute values in the text output\n"
            "  --help    this text\n"
            "Exit status: 0 described, 2 not a run directory or not a readable HDF5 file.\n");
}

/* ============================================================================ */
/* Text rendering                                                               */

typedef struct {
    FILE *f;
    int full;
} out_ctx;

static void human_bytes(long long b, char *buf, size_t len) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    if (i == 0) snprintf(buf, len, "%lld B", b);
    else snprintf(buf, len, "%.1f %s", v, u[i]);
}

static void print_shape(FILE *f, json_t *shape) {
    size_t i;
    json_t *v;
    fputc('(', f);
    json_array_foreach(shape, i, v) fprintf(f, "%s%lld", i ? ", " : "", (long long)json_integer_value(v));
    if (json_array_size(shape) == 1) fputc(',', f);
    fputc(')', f);
}

/* A string on one line: escapes for newlines and quotes, shortened to about 60
 * characters unless --full, with the length said. */
static void print_str(const out_ctx *o, const char *s) {
    size_t len = strlen(s), shown = 0, lim = o->full ? (size_t)-1 : 60;
    fputc('"', o->f);
    for (const char *p = s; *p && shown < lim; p++, shown++) {
        if (*p == '\n') fputs("\\n", o->f);
        else if (*p == '\t') fputs("\\t", o->f);
        else if (*p == '"') fputs("\\\"", o->f);
        else fputc(*p, o->f);
    }
    fputc('"', o->f);
    if (shown < len) fprintf(o->f, "... (%zu chars)", len);
}

static void print_value(const out_ctx *o, json_t *v) {
    if (json_is_string(v)) print_str(o, json_string_value(v));
    else if (json_is_integer(v)) fprintf(o->f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) fprintf(o->f, "%.9g", json_real_value(v));
    else if (json_is_array(v)) {
        size_t i, n = json_array_size(v), lim = o->full ? n : 8;
        json_t *e;
        fputc('[', o->f);
        json_array_foreach(v, i, e) {
            if (i >= lim) {
                fprintf(o->f, ", ... (%zu values)", n);
                break;
            }
            if (i) fputs(", ", o->f);
            print_value(o, e);
        }
        fputc(']', o->f);
    } else if (json_is_boolean(v)) fputs(json_is_true(v) ? "true" : "false", o->f);
    else fputs("null", o->f);
}

static void print_attrs(const out_ctx *o, json_t *attrs, int indent) {
    const char *k;
    json_t *v;
    json_object_foreach(attrs, k, v) {
        fprintf(o->f, "%*s@%s = ", indent, "", k);
        print_value(o, v);
        fputc('\n', o->f);
    }
}

static void print_node(const out_ctx *o, const char *name, json_t *n, int indent) {
    const char *kind = json_string_value(json_object_get(n, "kind"));
    FILE *f = o->f;
    if (!kind) return;
    if (!strcmp(kind, "group")) {
        fprintf(f, "%*s%s%s\n", indent, "", name, strcmp(name, "/") ? "/" : "");
        print_attrs(o, json_object_get(n, "attrs"), indent + 2);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(n, "members"), k, v) print_node(o, k, v, indent + 2);
    } else if (!strcmp(kind, "dataset")) {
        fprintf(f, "%*s%s  ", indent, "", name);
        print_shape(f, json_object_get(n, "shape"));
        fprintf(f, " %s", json_string_value(json_object_get(n, "dtype")));
        const char *lay = json_string_value(json_object_get(n, "layout"));
        if (lay && !strcmp(lay, "virtual")) {
            fputs("  virtual:", f);
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(n, "sources"), i, s) {
                const char *file = json_string_value(json_object_get(s, "file"));
                fprintf(f, "%s %s%s%s", i ? " +" : "", strcmp(file, ".") ? file : "",
                        strcmp(file, ".") ? ":" : "", json_string_value(json_object_get(s, "dataset")));
            }
        } else {
            fprintf(f, "  %s", lay ? lay : "?");
            json_t *c = json_object_get(n, "chunks");
            if (c) {
                fputc(' ', f);
                print_shape(f, c);
            }
            size_t i;
            json_t *fl;
            json_array_foreach(json_object_get(n, "filters"), i, fl) fprintf(f, "%s%s", i ? "+" : ", ", json_string_value(fl));
            char hb[32];
            human_bytes(json_integer_value(json_object_get(n, "storage_bytes")), hb, sizeof hb);
            fprintf(f, ", %s stored", hb);
        }
        fputc('\n', f);
        print_attrs(o, json_object_get(n, "attrs"), indent + 4);
    } else if (!strcmp(kind, "soft link") || !strcmp(kind, "external link")) {
        json_t *file = json_object_get(n, "file");
        fprintf(f, "%*s%s -> %s%s%s  (%s)\n", indent, "", name, file ? json_string_value(file) : "",
                file ? ":" : "", json_string_value(json_object_get(n, "target")), kind);
    } else {
        fprintf(f, "%*s%s  (%s)\n", indent, "", name, kind);
    }
}

static void print_h5(const out_ctx *o, json_t *j) {
    char hb[32];
    human_bytes(json_integer_value(json_object_get(j, "bytes")), hb, sizeof hb);
    json_t *fmt = json_object_get(j, "format"), *ver = json_object_get(j, "format_version");
    fprintf(o->f, "%s: ", json_string_value(json_object_get(j, "path")));
    if (json_is_string(fmt)) {
        fprintf(o->f, "%s", json_string_value(fmt));
        if (json_is_integer(ver)) fprintf(o->f, " version %lld", (long long)json_integer_value(ver));
        json_t *sup = json_object_get(j, "supported");
        if (sup && !json_is_true(sup)) fputs(" (NOT supported by this nerve)", o->f);
    } else {
        fputs("HDF5 without a 'format' attribute (not written by nerve)", o->f);
    }
    fprintf(o->f, ", %s\n", hb);
    print_node(o, "/", json_object_get(j, "root"), 0);
}

/* "0, 1, 2, 3, 5, 10" -> "0-3, 5, 10" */
static void print_epochs(FILE *f, json_t *epochs) {
    size_t n = json_array_size(epochs);
    for (size_t i = 0; i < n;) {
        long long a = json_integer_value(json_array_get(epochs, i));
        size_t k = i;
        while (k + 1 < n && json_integer_value(json_array_get(epochs, k + 1)) == json_integer_value(json_array_get(epochs, k)) + 1) k++;
        long long b = json_integer_value(json_array_get(epochs, k));
        fprintf(f, "%s%lld", i ? ", " : "", a);
        if (k > i + 1) fprintf(f, "-%lld", b);
        else if (k == i + 1) fprintf(f, ", %lld", b);
        i = k + 1;
    }
}

static void print_dir(const out_ctx *o, json_t *j) {
    FILE *f = o->f;
    const char *kind = json_string_value(json_object_get(j, "kind"));
    fprintf(f, "%s: %s directory\n", json_string_value(json_object_get(j, "path")),
            !strcmp(kind, "run") ? "run" : "snapshots");
    if (!strcmp(kind, "run")) {
        json_t *e = json_object_get(j, "experiment"), *s = json_object_get(j, "status");
        fprintf(f, "  experiment  %s\n", json_is_string(e) ? json_string_value(e) : "(unknown)");
        if (json_is_string(s)) {
            fprintf(f, "  status      %s", json_string_value(s));
            json_t *sec = json_object_get(j, "seconds"), *dev = json_object_get(j, "device");
            if (json_is_number(sec) && json_number_value(sec) > 0) fprintf(f, ", %.1f s", json_number_value(sec));
            if (json_is_string(dev)) fprintf(f, " on %s", json_string_value(dev));
            fputc('\n', f);
        }
        json_t *nt = json_object_get(j, "n_train"), *ns = json_object_get(j, "n_test");
        if (json_is_integer(nt))
            fprintf(f, "  data        %lld train, %lld test\n", (long long)json_integer_value(nt),
                    (long long)json_integer_value(ns));
        fprintf(f, "models\n");
        const char *k;
        json_t *m;
        json_t *models = json_object_get(j, "models");
        if (json_object_size(models) == 0) fprintf(f, "  (none yet)\n");
        json_object_foreach(models, k, m) {
            fprintf(f, "  %-12s", k);
            json_t *w = json_object_get(m, "widths");
            if (w) {
                size_t i;
                json_t *v;
                fputs(" ", f);
                json_array_foreach(w, i, v) fprintf(f, "%s%lld", i ? "-" : "", (long long)json_integer_value(v));
            }
            json_t *act = json_object_get(m, "activation");
            /* a net without hidden layers (the linear baseline) has no activation */
            if (act && (!w || json_array_size(w) > 2)) fprintf(f, " %s", json_string_value(act));
            json_t *ep = json_object_get(m, "epochs_completed");
            if (ep) fprintf(f, ", %lld epochs", (long long)json_integer_value(ep));
            const char *metrics[] = {"train_acc", "test_acc", "train_loss", "test_loss"};
            for (int i = 0; i < 4; i++) {
                json_t *v = json_object_get(m, metrics[i]);
                if (json_is_number(v)) fprintf(f, ", %s %.4f", metrics[i], json_number_value(v));
            }
            json_t *ce = json_object_get(m, "checkpoint_error");
            if (ce) fprintf(f, "\n    checkpoint unreadable: %s", json_string_value(ce));
            fputc('\n', f);
        }
    }
    fprintf(f, "snapshots\n");
    json_t *snaps = json_object_get(j, "snapshots");
    if (json_object_size(snaps) == 0) fprintf(f, "  (none yet)\n");
    const char *k;
    json_t *m;
    json_object_foreach(snaps, k, m) {
        char hb[32];
        human_bytes(json_integer_value(json_object_get(m, "bytes")), hb, sizeof hb);
        json_t *ep = json_object_get(m, "epochs");
        fprintf(f, "  %-12s %zu file%s, %s; epochs ", k, json_array_size(ep),
                json_array_size(ep) == 1 ? "" : "s", hb);
        print_epochs(f, ep);
        fputc('\n', f);
        json_t *missing = json_object_get(m, "missing");
        if (missing) {
            fprintf(f, "    listed but missing: ");
            print_value(o, missing);
            fputc('\n', f);
        }
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(m, "layers"), i, l) {
            fprintf(f, "    %-10s %-7s", json_string_value(json_object_get(l, "name")),
                    json_string_value(json_object_get(l, "kind")));
            const char *splits[] = {"train", "test", "all"};
            for (int s = 0; s < 3; s++) {
                json_t *sh = json_object_get(l, splits[s]);
                if (!sh) continue;
                fprintf(f, "  %s ", splits[s]);
                print_shape(f, sh);
            }
            if (json_is_true(json_object_get(l, "pre"))) fputs("  + pre-activations", f);
            fputc('\n', f);
        }
    }
    json_t *dyn = json_object_get(j, "dynamics");
    if (dyn) {
        fprintf(f, "dynamics (docs/dynamics.md; nerve dynamics RUN)\n");
        json_object_foreach(dyn, k, m) {
            char hb[32];
            human_bytes(json_integer_value(json_object_get(m, "bytes")), hb, sizeof hb);
            fprintf(f, "  %-12s %lld chunks, steps 1..%lld, %s\n", k,
                    (long long)json_integer_value(json_object_get(m, "chunks")),
                    (long long)json_integer_value(json_object_get(m, "last_step")), hb);
            const char *t;
            json_t *v;
            json_object_foreach(json_object_get(m, "tiers"), t, v) {
                human_bytes(json_integer_value(json_object_get(v, "bytes")), hb, sizeof hb);
                fprintf(f, "    %-8s %8lld steps %10lld rows %10s\n", t,
                        (long long)json_integer_value(json_object_get(v, "steps")),
                        (long long)json_integer_value(json_object_get(v, "rows")), hb);
            }
        }
    }
    json_t *sizes = json_object_get(j, "sizes");
    fprintf(f, "on disk\n");
    json_object_foreach(sizes, k, m) {
        char hb[32];
        human_bytes(json_integer_value(m), hb, sizeof hb);
        fprintf(f, "  %-12s %s\n", k, hb);
    }
}

/* ============================================================================ */

int nv_cmd_info(int argc, char **argv) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"full", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0, full = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'f': full = 1; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage(VERB, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        return nv_cli_usage(VERB, "expected one PATH (a run directory or an HDF5 file), found %d",
                            argc - optind);
    nv_error err = {0};
    json_t *j = NULL;
    if (nv_info_describe(argv[optind], &j, &err) != NV_OK) return nv_cli_report(VERB, &err);
    if (as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
        fputc('\n', stdout);
    } else {
        out_ctx o = {stdout, full};
        /* "run" and "snapshots" come from directories, "hdf5" from a file */
        if (strcmp(json_string_value(json_object_get(j, "kind")), "hdf5")) print_dir(&o, j);
        else print_h5(&o, j);
    }
    json_decref(j);
    return fflush(stdout) == 0 ? 0 : 1;
}
