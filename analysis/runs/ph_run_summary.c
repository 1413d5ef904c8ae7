/* ph_run_summary.c: the summary step of `nerve ph RUN` (include/nerve/phrun.h):
 * from the diagram files that exist (a job array may have finished only some),
 *   analysis/ph/summary.csv     one row per diagram and dimension: Betti number at
 *                               the file's scale, total persistence, entropy
 *   analysis/ph/distances.csv   bottleneck and Wasserstein-1 between consecutive
 *                               epochs (same layer) and consecutive layers (same epoch)
 *   analysis/figures/betti_chart.png, .svg   the study's chart (nv_plot_betti_figure)
 *   analysis/figures/diagrams/<model>_e<EEEE>_<layer>.png   diagram, barcode and Betti
 *                               curve of the combined class set of one split
 * Every number comes from include/nerve/diagram.h (checked against gudhi there);
 * every file is written atomically. Nothing here is needed by the compute step, so
 * `--summarize-only` reruns it alone at the end of a job array.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "store/h5util.h"
#include "nerve/diagram.h"
#include "nerve/parallel.h"
#include "nerve/plot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"
#include "ph_run_internal.h"

/* One diagram group of a file, all its dimensions. */
typedef struct {
    int item;                 /* plan index */
    int layer_index;          /* position in the file's layer list (network order) */
    char layer[64];
    char split[8];
    char cls[32];             /* "0", "1", ... or "all" */
    int64_t cls_num;          /* class number; INT64_MAX for "all" (sorts last) */
    double scale;
    double threshold;         /* Rips threshold of the file (INFINITY: none) */
    int64_t n_points;         /* points of the complex (landmarks) */
    int ndims;
    nv_diagram dg[NV_PHRUN_MAX_DIMS];   /* as stored: Betti numbers, figures */
    nv_diagram dc[NV_PHRUN_MAX_DIMS];   /* cut at the threshold: persistence, distances */
} phr_entry;

typedef struct {
    phr_entry *e;
    int64_t n, cap;
} phr_entries;

static void entries_free(phr_entries *es) {
    for (int64_t i = 0; i < es->n; i++)
        for (int d = 0; d < es->e[i].ndims; d++) {
            nv_diagram_free(&es->e[i].dg[d]);
            nv_diagram_free(&es->e[i].dc[d]);
        }
    free(es->e);
    memset(es, 0, sizeof *es);
}

static phr_entry *entries_add(phr_entries *es, nv_error *err) {
    if (es->n == es->cap) {
        int64_t cap = es->cap ? 2 * es->cap : 64;
        phr_entry *e = realloc(es->e, (size_t)cap * sizeof *e);
        if (!e) {
            nv_fail(err, NV_ENOMEM, "out of memory reading diagram files");
            return NULL;
        }
        es->e = e;
        es->cap = cap;
    }
    phr_entry *e = &es->e[es->n++];
    memset(e, 0, sizeof *e);
    return e;
}

typedef struct {
    char names[64][32];
    int n;
} name_list;

static herr_t collect_name(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
    (void)loc;
    (void)info;
    name_list *l = data;
    if (l->n < 64) snprintf(l->names[l->n++], 32, "%s", name);
    return 0;
}

/* Reads one group /<layer>/<split>/<cls> into e. */
static nv_status read_group(hid_t fid, const char *file, const char *obj, phr_entry *e, int max_dim,
                            nv_error *err) {
    hid_t g = H5Gopen2(fid, obj, H5P_DEFAULT);
    if (g < 0) return nv_h5_fail(err, NV_EINPUT, file, obj, "missing group");
    int32_t *dim = NULL;
    float *b = NULL, *d = NULL;
    double *bb = NULL, *dd = NULL;
    int64_t n1 = 0, n2 = 0, n3 = 0;
    nv_status st = nv_h5_read_dataset(g, "dim", H5T_NATIVE_INT32, sizeof(int32_t), 1, (void **)&dim, &n1,
                                      file, err);
    if (!st) st = nv_h5_read_dataset(g, "birth", H5T_NATIVE_FLOAT, sizeof(float), 1, (void **)&b, &n2, file, err);
    if (!st) st = nv_h5_read_dataset(g, "death", H5T_NATIVE_FLOAT, sizeof(float), 1, (void **)&d, &n3, file, err);
    if (!st) st = nv_h5_read_attr_f64(g, "scale", &e->scale, file, obj, err);
    if (!st) st = nv_h5_read_attr_i64(g, "landmarks", &e->n_points, file, obj, err);
    if (!st) st = nv_h5_read_attr_f64(g, "threshold", &e->threshold, file, obj, err);
    if (!st && (n1 != n2 || n1 != n3))
        st = nv_fail(err, NV_EINPUT, "%s: %s: dim, birth and death differ in length (%lld, %lld, %lld)", file,
                     obj, (long long)n1, (long long)n2, (long long)n3);
    if (st) goto done;
    bb = malloc((size_t)(n1 ? n1 : 1) * sizeof *bb);
    dd = malloc((size_t)(n1 ? n1 : 1) * sizeof *dd);
    if (!bb || !dd) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    e->ndims = max_dim + 1;
    for (int k = 0; k <= max_dim && !st; k++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n1; i++)
            if (dim[i] == k) {
                bb[m] = b[i];
                dd[m] = d[i];
                m++;
            }
        st = nv_diagram_from_arrays(k, bb, dd, m, &e->dg[k], err);
        /* A filtration cut at a finite threshold reports the classes of dimension
         * >= 1 still alive there as essential, as Ripser does; a Rips complex is a
         * cone at large scales, so they do die, somewhere above the threshold. For
         * persistence and distances they are cut at the threshold (the file keeps
         * the engine's output, and Betti numbers at the scale <= threshold come from
         * it unchanged). H0 bars stay: an infinite one is a component of the kNN
         * graph. */
        for (int64_t i = 0; i < m; i++)
            if (k >= 1 && isinf(dd[i]) && isfinite(e->threshold)) dd[i] = e->threshold;
        if (!st) st = nv_diagram_from_arrays(k, bb, dd, m, &e->dc[k], err);
        if (st) nv_error_prefix(err, "%s: %s: ", file, obj);
    }
done:
    free(dim);
    free(b);
    free(d);
    free(bb);
    free(dd);
    H5Gclose(g);
    return st;
}

static int cmp_cls(const void *a, const void *b) {
    const char *x = a, *y = b;
    int ax = strcmp(x, PHR_ALL_CLASSES) == 0, ay = strcmp(y, PHR_ALL_CLASSES) == 0;
    if (ax != ay) return ax - ay;
    long long u = strtoll(x + 6, NULL, 10), v = strtoll(y + 6, NULL, 10);
    return (u > v) - (u < v);
}

/* Reads one diagram file (already known to exist) into entries of plan item `item`. */
static nv_status read_file(const char *file, int item, phr_entries *es, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(file, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    char **layers = NULL, **splits = NULL;
    int64_t nl = 0, ns = 0, max_dim = 0;
    nv_status st = nv_h5_check_format(fid, file, NV_DIAGRAMS_FORMAT, NV_DIAGRAMS_VERSION, NULL, err);
    if (!st) st = nv_h5_read_attr_strs(fid, "layers", &layers, &nl, file, "/", err);
    if (!st) st = nv_h5_read_attr_strs(fid, "splits", &splits, &ns, file, "/", err);
    if (!st) st = nv_h5_read_attr_i64(fid, "max_dim", &max_dim, file, "/", err);
    if (!st && (max_dim < 0 || max_dim >= NV_PHRUN_MAX_DIMS))
        st = nv_fail(err, NV_EINPUT, "%s: max_dim %lld out of range", file, (long long)max_dim);
    for (int64_t l = 0; l < nl && !st; l++)
        for (int64_t s = 0; s < ns && !st; s++) {
            char obj[256];
            snprintf(obj, sizeof obj, "/%s/%s", layers[l], splits[s]);
            hid_t g = H5Gopen2(fid, obj, H5P_DEFAULT);
            if (g < 0) {
                st = nv_h5_fail(err, NV_EINPUT, file, obj, "missing group");
                break;
            }
            name_list names = {.n = 0};
            H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &names);
            H5Gclose(g);
            qsort(names.names, (size_t)names.n, sizeof names.names[0], cmp_cls);
            for (int c = 0; c < names.n && !st; c++) {
                phr_entry *e = entries_add(es, err);
                if (!e) {
                    st = NV_ENOMEM;
                    break;
                }
                e->item = item;
                e->layer_index = (int)l;
                snprintf(e->layer, sizeof e->layer, "%s", layers[l]);
                snprintf(e->split, sizeof e->split, "%s", splits[s]);
                int all = strcmp(names.names[c], PHR_ALL_CLASSES) == 0;
                snprintf(e->cls, sizeof e->cls, "%s", all ? PHR_ALL_CLASSES : names.names[c] + 6);
                e->cls_num = all ? INT64_MAX : strtoll(names.names[c] + 6, NULL, 10);
                char gobj[300];
                snprintf(gobj, sizeof gobj, "%s/%s", obj, names.names[c]);
                st = read_group(fid, file, gobj, e, (int)max_dim, err);
                /* on failure the entry stays, freed with the others */
            }
        }
    nv_h5_free_strs(layers, nl);
    nv_h5_free_strs(splits, ns);
    H5Fclose(fid);
    return st;
}

nv_status phr_read_diagram_file(const char *file, int64_t *ndiagrams, nv_error *err) {
    phr_entries es = {0};
    nv_status st = read_file(file, 0, &es, err);
    /* What the summary computes of each diagram, and the distances between the
     * diagrams of consecutive layers (here: consecutive entries). */
    for (int64_t i = 0; i < es.n && !st; i++) {
        const phr_entry *e = &es.e[i];
        for (int d = 0; d < e->ndims && !st; d++) {
            double tp, ent, bn, w1;
            st = nv_diagram_total_persistence(&e->dc[d], 1.0, INFINITY, &tp, err);
            if (!st) st = nv_diagram_entropy(&e->dc[d], INFINITY, 0, &ent, err);
            (void)nv_diagram_betti_at(&e->dg[d], e->scale);
            if (!st && i > 0 && d < es.e[i - 1].ndims) {
                st = nv_diagram_bottleneck(&es.e[i - 1].dc[d], &e->dc[d], &bn, err);
                if (!st) st = nv_diagram_wasserstein(&es.e[i - 1].dc[d], &e->dc[d], 1.0, &w1, err);
            }
        }
    }
    if (ndiagrams) *ndiagrams = es.n;
    entries_free(&es);
    return st;
}

/* ------------------------------------------------------------------ tables */

/* Doubles in CSVs: shortest round-trip form, "inf" for an infinite distance. */
static void fmt_num(char *out, size_t len, double v) { nv_fmt_shortest(out, len, v, 6, 0); }

static nv_status write_summary(const phr_plan *plan, const phr_entries *es, const char *path,
                               nv_error *err) {
    nv_strbuf b = {0};
    nv_sb_printf(&b, "model,epoch,layer,split,class,dim,betti_at_scale,total_persistence,entropy,n_points,scale\n");
    for (int64_t i = 0; i < es->n; i++) {
        const phr_entry *e = &es->e[i];
        const phr_item *it = &plan->items[e->item];
        for (int d = 0; d < e->ndims; d++) {
            double tp = 0, ent = 0;
            nv_status st = nv_diagram_total_persistence(&e->dc[d], 1.0, INFINITY, &tp, err);
            if (!st) st = nv_diagram_entropy(&e->dc[d], INFINITY, 0, &ent, err);
            if (st) {
                nv_sb_free(&b);
                return st;
            }
            char t1[64], t2[64], t3[64];
            fmt_num(t1, sizeof t1, tp);
            fmt_num(t2, sizeof t2, ent);
            fmt_num(t3, sizeof t3, e->scale);
            nv_sb_printf(&b, "%s,%lld,%s,%s,%s,%d,%lld,%s,%s,%lld,%s\n", it->model, (long long)it->epoch, e->layer,
                         e->split, e->cls, d, (long long)nv_diagram_betti_at(&e->dg[d], e->scale), t1, t2,
                         (long long)e->n_points, t3);
        }
    }
    if (b.oom) {
        nv_sb_free(&b);
        return nv_fail(err, NV_ENOMEM, "%s: out of memory", path);
    }
    nv_status st = nv_atomic_write_text(path, nv_sb_str(&b), err);
    nv_sb_free(&b);
    return st;
}

/* A pair of diagrams to compare: consecutive epochs or consecutive layers. */
typedef struct {
    int64_t a, b;       /* entries */
    int layer_kind;     /* 0: epoch to next epoch (same layer); 1: layer to next layer */
    double bottleneck[NV_PHRUN_MAX_DIMS], w1[NV_PHRUN_MAX_DIMS];
} phr_cmp;

typedef struct {
    const phr_entries *es;
    phr_cmp *cmp;
} cmp_ctx;

static nv_status compare_one(int64_t i, void *vctx, nv_error *err) {
    cmp_ctx *ctx = vctx;
    phr_cmp *c = &ctx->cmp[i];
    const phr_entry *a = &ctx->es->e[c->a], *b = &ctx->es->e[c->b];
    int nd = NV_MIN(a->ndims, b->ndims);
    for (int d = 0; d < nd; d++) {
        nv_status st = nv_diagram_bottleneck(&a->dc[d], &b->dc[d], &c->bottleneck[d], err);
        if (!st) st = nv_diagram_wasserstein(&a->dc[d], &b->dc[d], 1.0, &c->w1[d], err);
        if (st) return st;
    }
    return NV_OK;
}

static int same_slot(const phr_entry *x, const phr_entry *y) {
    return strcmp(x->split, y->split) == 0 && strcmp(x->cls, y->cls) == 0;
}

static nv_status write_distances(const phr_plan *plan, const phr_entries *es, int threads, const char *path,
                                 nv_error *err) {
    /* Entries come file by file (model, then epoch), within a file by layer, split,
     * class, so the pairs are found by a scan: the same slot in the next file of the
     * same model, and the same split/class at the next layer of the same file. */
    int64_t cap = 2 * es->n + 1, nc = 0;
    phr_cmp *cmp = calloc((size_t)cap, sizeof *cmp);
    if (!cmp) return nv_fail(err, NV_ENOMEM, "out of memory");
    for (int64_t i = 0; i < es->n; i++) {
        const phr_entry *x = &es->e[i];
        const phr_item *xi = &plan->items[x->item];
        /* next epoch: the first later file of the same model that has this slot */
        int next_item = -1;
        for (int64_t j = i + 1; j < es->n; j++) {
            const phr_entry *y = &es->e[j];
            if (y->item == x->item) continue;
            if (strcmp(plan->items[y->item].model, xi->model) != 0) break;
            if (next_item >= 0 && y->item != next_item) break;
            next_item = y->item;
            if (strcmp(y->layer, x->layer) == 0 && same_slot(x, y)) {
                cmp[nc++] = (phr_cmp){.a = i, .b = j, .layer_kind = 0};
                break;
            }
        }
        /* next layer in the same file */
        for (int64_t j = i + 1; j < es->n && es->e[j].item == x->item; j++) {
            const phr_entry *y = &es->e[j];
            if (y->layer_index == x->layer_index + 1 && same_slot(x, y)) {
                cmp[nc++] = (phr_cmp){.a = i, .b = j, .layer_kind = 1};
                break;
            }
        }
    }
    cmp_ctx ctx = {.es = es, .cmp = cmp};
    nv_status st = nc ? nv_parallel_for(nc, threads, compare_one, &ctx, err) : NV_OK;
    if (st) {
        free(cmp);
        return st;
    }
    nv_strbuf b = {0};
    nv_sb_printf(&b, "model,split,class,dim,kind,layer_a,epoch_a,layer_b,epoch_b,bottleneck,wasserstein1\n");
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < nc; i++) {
            if (cmp[i].layer_kind != pass) continue;
            const phr_entry *x = &es->e[cmp[i].a], *y = &es->e[cmp[i].b];
            const phr_item *xi = &plan->items[x->item], *yi = &plan->items[y->item];
            for (int d = 0; d < NV_MIN(x->ndims, y->ndims); d++) {
                char t1[64], t2[64];
                fmt_num(t1, sizeof t1, cmp[i].bottleneck[d]);
                fmt_num(t2, sizeof t2, cmp[i].w1[d]);
                nv_sb_printf(&b, "%s,%s,%s,%d,%s,%s,%lld,%s,%lld,%s,%s\n", xi->model, x->split, x->cls, d,
                             pass ? "layer" : "epoch", x->layer, (long long)xi->epoch, y->layer,
                             (long long)yi->epoch, t1, t2);
            }
        }
    free(cmp);
    if (b.oom) {
        nv_sb_free(&b);
        return nv_fail(err, NV_ENOMEM, "%s: out of memory", path);
    }
    st = nv_atomic_write_text(path, nv_sb_str(&b), err);
    nv_sb_free(&b);
    return st;
}

/* ------------------------------------------------------------------ figures */

/* "hidden2" -> "h2": the chart's x ticks stay short. */
static void short_layer(const char *name, char *out, size_t len) {
    if (strncmp(name, "hidden", 6) == 0)
        snprintf(out, len, "h%s", name + 6);
    else
        snprintf(out, len, "%s", name);
}

static const char *chart_split(const phr_entries *es) {
    for (int64_t i = 0; i < es->n; i++)
        if (strcmp(es->e[i].split, "all") == 0) return "all";
    return es->n ? es->e[0].split : "all";
}

static nv_status write_chart(const phr_plan *plan, const phr_entries *es, const char *fig_dir, nv_error *err) {
    const char *split = chart_split(es);
    /* models: expressive, bottleneck, then any other with hidden layers (the linear
     * baseline has none and is left to summary.csv) */
    const char *models[8];
    int nm = 0;
    const char *pref[2] = {"expressive", "bottleneck"};
    for (int p = 0; p < 2; p++)
        for (int64_t i = 0; i < es->n; i++)
            if (strcmp(plan->items[es->e[i].item].model, pref[p]) == 0) {
                models[nm++] = pref[p];
                break;
            }
    for (int64_t i = 0; i < es->n && nm < 8; i++) {
        const char *m = plan->items[es->e[i].item].model;
        int seen = strcmp(m, "linear") == 0;
        for (int a = 0; a < nm; a++) seen |= strcmp(models[a], m) == 0;
        if (!seen) models[nm++] = m;
    }
    if (nm == 0) return NV_OK;
    /* layers: the longest layer list among the chart's files; groups, epochs, dims */
    const phr_item *lay = NULL;
    int ndims = 0;
    char groups[64][32];
    int ng = 0;
    int epochs[1024];
    int ne = 0;
    for (int64_t i = 0; i < es->n; i++) {
        const phr_entry *e = &es->e[i];
        const phr_item *it = &plan->items[e->item];
        int in = 0;
        for (int a = 0; a < nm; a++) in |= strcmp(models[a], it->model) == 0;
        if (!in || strcmp(e->split, split) != 0) continue;
        if (!lay || it->nlayers > lay->nlayers) lay = it;
        ndims = NV_MAX(ndims, NV_MIN(e->ndims, 2));
        int seen = 0;
        for (int g = 0; g < ng; g++) seen |= strcmp(groups[g], e->cls) == 0;
        if (!seen && ng < 64) {
            /* classes ascending, "all" last (entries of a file come in that order) */
            int pos = ng;
            if (strcmp(e->cls, PHR_ALL_CLASSES) != 0)
                while (pos > 0 && (strcmp(groups[pos - 1], PHR_ALL_CLASSES) == 0 ||
                                   strtoll(groups[pos - 1], NULL, 10) > e->cls_num))
                    pos--;
            memmove(groups[pos + 1], groups[pos], (size_t)(ng - pos) * sizeof groups[0]);
            snprintf(groups[pos], 32, "%s", e->cls);
            ng++;
        }
        seen = 0;
        for (int a = 0; a < ne; a++) seen |= epochs[a] == (int)it->epoch;
        if (!seen && ne < 1024) {
            int pos = ne;
            while (pos > 0 && epochs[pos - 1] > (int)it->epoch) pos--;
            memmove(epochs + pos + 1, epochs + pos, (size_t)(ne - pos) * sizeof epochs[0]);
            epochs[pos] = (int)it->epoch;
            ne++;
        }
    }
    if (!lay || ng == 0 || ne == 0) return NV_OK;
    int nl = lay->nlayers;
    size_t total = (size_t)nm * ng * ndims * ne * nl;
    double *betti = malloc(total * sizeof *betti);
    if (!betti) return nv_fail(err, NV_ENOMEM, "out of memory");
    for (size_t i = 0; i < total; i++) betti[i] = NAN;
    double scale = NAN;
    for (int64_t i = 0; i < es->n; i++) {
        const phr_entry *e = &es->e[i];
        const phr_item *it = &plan->items[e->item];
        if (strcmp(e->split, split) != 0) continue;
        int m = -1, g = -1, ep = -1, l = -1;
        for (int a = 0; a < nm; a++)
            if (strcmp(models[a], it->model) == 0) m = a;
        for (int a = 0; a < ng; a++)
            if (strcmp(groups[a], e->cls) == 0) g = a;
        for (int a = 0; a < ne; a++)
            if (epochs[a] == (int)it->epoch) ep = a;
        for (int a = 0; a < nl; a++)
            if (strcmp(lay->layers[a], e->layer) == 0) l = a;
        if (m < 0 || g < 0 || ep < 0 || l < 0) continue;
        scale = e->scale;
        for (int d = 0; d < ndims && d < e->ndims; d++)
            betti[(((size_t)m * ng + g) * ndims + d) * ne * nl + (size_t)ep * nl + l] =
                (double)nv_diagram_betti_at(&e->dg[d], e->scale);
    }
    char gnames[64][40], lnames[PHR_MAX_LAYERS][64], title[256];
    const char *gp[64], *lp[PHR_MAX_LAYERS];
    for (int g = 0; g < ng; g++) {
        if (strcmp(groups[g], PHR_ALL_CLASSES) == 0)
            snprintf(gnames[g], sizeof gnames[g], "all classes");
        else
            snprintf(gnames[g], sizeof gnames[g], "class %s", groups[g]);
        gp[g] = gnames[g];
    }
    for (int l = 0; l < nl; l++) {
        short_layer(lay->layers[l], lnames[l], sizeof lnames[l]);
        lp[l] = lnames[l];
    }
    snprintf(title, sizeof title, "Betti numbers at scale %g by layer and epoch (split %s)", scale, split);
    nv_plot_betti_grid grid = {.n_models = nm, .model_names = models, .n_groups = ng, .group_names = gp,
                               .n_dims = ndims, .n_epochs = ne, .epochs = epochs, .n_layers = nl,
                               .layer_names = lp, .betti = betti, .title = title};
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_betti_figure(&grid, &f, err);
    char path[PHR_PATH + 32];
    if (!st) {
        snprintf(path, sizeof path, "%s/betti_chart.png", fig_dir);
        st = nv_plot_save(f, path, err);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/betti_chart.svg", fig_dir);
        st = nv_plot_save(f, path, err);
    }
    nv_plot_figure_free(f);
    free(betti);
    return st;
}

/* Diagram, barcode and Betti curve of one entry. */
static nv_status write_snapshot_figure(const phr_plan *plan, const phr_entry *e, const char *path,
                                       nv_error *err) {
    const phr_item *it = &plan->items[e->item];
    nv_plot_figure *f = NULL;
    nv_status st = nv_plot_figure_new(1, 3, 720, 240, &f, err);
    if (st) return st;
    char title[256];
    snprintf(title, sizeof title, "%s, epoch %lld, layer %s (split %s, all classes, %lld landmarks)", it->model,
             (long long)it->epoch, e->layer, e->split, (long long)e->n_points);
    nv_plot_figure_set_title(f, title);
    nv_plot_panel *p0 = nv_plot_figure_panel(f, 0, 0), *p1 = nv_plot_figure_panel(f, 0, 1),
                  *p2 = nv_plot_figure_panel(f, 0, 2);
    nv_plot_panel_set_title(p0, "persistence diagram");
    nv_plot_panel_set_xlabel(p0, "birth");
    nv_plot_panel_set_ylabel(p0, "death");
    nv_plot_panel_set_title(p1, "barcode");
    nv_plot_panel_set_xlabel(p1, "scale");
    nv_plot_panel_set_title(p2, "Betti curves");
    nv_plot_panel_set_xlabel(p2, "scale");
    st = nv_plot_diagram(p0, e->dg, e->ndims, err);
    if (!st) st = nv_plot_barcode(p1, e->dg, e->ndims, err);
    if (!st) st = nv_plot_betti_curve(p2, e->dg, e->ndims, 0.0, isfinite(e->threshold) ? e->threshold * 1.1 : NAN, err);
    nv_plot_style ref = {0};
    if (!st) st = nv_plot_refline(p2, "scale", 1, e->scale, &ref, err);
    if (!st) st = nv_plot_save(f, path, err);
    nv_plot_figure_free(f);
    return st;
}

static nv_status write_snapshot_figures(const phr_plan *plan, const phr_entries *es, const char *fig_dir,
                                        int force, int64_t *written, nv_error *err) {
    const char *split = chart_split(es);
    char dir[PHR_PATH + 16];
    snprintf(dir, sizeof dir, "%s/diagrams", fig_dir);
    nv_status st = nv_mkdirs(dir, err);
    for (int64_t i = 0; i < es->n && !st; i++) {
        const phr_entry *e = &es->e[i];
        if (strcmp(e->cls, PHR_ALL_CLASSES) != 0 || strcmp(e->split, split) != 0) continue;
        const phr_item *it = &plan->items[e->item];
        char path[PHR_PATH + 200];
        snprintf(path, sizeof path, "%s/%s_e%04lld_%s.png", dir, it->model, (long long)it->epoch, e->layer);
        /* a figure newer than its diagram file shows that file already */
        if (!force && nv_file_mtime_ns(path) > nv_file_mtime_ns(it->out_path)) continue;
        st = write_snapshot_figure(plan, e, path, err);
        if (!st) (*written)++;
    }
    return st;
}

/* ------------------------------------------------------------------ the step */

nv_status phr_summarize(const phr_plan *plan, const nv_phrun_options *o, int force, nv_phrun_report *rep,
                        nv_error *err) {
    char summary[PHR_PATH + 32], distances[PHR_PATH + 32], chart[PHR_PATH + 32], calib[PHR_PATH + 32];
    snprintf(summary, sizeof summary, "%s/summary.csv", plan->ph_dir);
    snprintf(distances, sizeof distances, "%s/distances.csv", plan->ph_dir);
    snprintf(chart, sizeof chart, "%s/betti_chart.png", plan->fig_dir);
    snprintf(calib, sizeof calib, "%s/calibration.json", plan->ph_dir);
    /* Up to date when every output is newer than every diagram file (summary.csv is
     * written last, after the figures). */
    int64_t newest = 0, n_exist = 0;
    for (int64_t i = 0; i < plan->n; i++) {
        int64_t t = nv_file_mtime_ns(plan->items[i].out_path);
        if (t) n_exist++;
        newest = NV_MAX(newest, t);
    }
    rep->summary_files = n_exist;
    if (!force && !o->force) {
        int64_t oldest = nv_file_mtime_ns(summary);
        if (o->distances) oldest = NV_MIN(oldest, nv_file_mtime_ns(distances));
        if (o->label_k > 0) {
            char lab[PHR_PATH + 32];
            snprintf(lab, sizeof lab, "%s/labelled.csv", plan->ph_dir);
            oldest = NV_MIN(oldest, nv_file_mtime_ns(lab));
        }
        if (o->figures) oldest = NV_MIN(oldest, nv_file_mtime_ns(chart));
        if (oldest > newest) return NV_OK;
    }
    if (o->on_event) {
        nv_phrun_event ev = {.kind = NV_PHRUN_EV_SUMMARY, .done = n_exist, .total = plan->n,
                             .text = "reading diagram files"};
        o->on_event(o->ctx, &ev);
    }
    phr_entries es = {0};
    nv_status st = NV_OK;
    for (int64_t i = 0; i < plan->n && !st; i++) {
        if (!nv_file_mtime_ns(plan->items[i].out_path)) continue; /* another task's, not done yet */
        st = read_file(plan->items[i].out_path, (int)i, &es, err);
    }
    if (!st) st = nv_mkdirs(plan->ph_dir, err);
    if (!st && o->on_event && o->distances) {
        nv_phrun_event ev = {.kind = NV_PHRUN_EV_SUMMARY, .text = "bottleneck and Wasserstein distances"};
        o->on_event(o->ctx, &ev);
    }
    int threads = o->threads > 0 ? o->threads : nv_default_threads();
    if (!st && o->distances) st = write_distances(plan, &es, threads, distances, err);
    if (!st && o->figures) {
        if (o->on_event) {
            nv_phrun_event ev = {.kind = NV_PHRUN_EV_SUMMARY, .text = "figures"};
            o->on_event(o->ctx, &ev);
        }
        st = nv_mkdirs(plan->fig_dir, err);
        if (!st) st = write_chart(plan, &es, plan->fig_dir, err);
        if (!st) {
            rep->figures_written += 2;
            st = write_snapshot_figures(plan, &es, plan->fig_dir, force && o->force, &rep->figures_written,
                                        err);
        }
    }
    if (!st) st = phr_labelled_summarize(plan, o, &rep->figures_written, err);
    /* summary.csv last: it marks the step done (the up-to-date test above reads its
     * time), so a step stopped part-way through the figures (a full disk, a kill)
     * is redone by the next call instead of leaving them missing. */
    if (!st) st = write_summary(plan, &es, summary, err);
    if (!st) rep->summary_written = 1;
    entries_free(&es);
    return st;
}
