/* ph_stages.c: the CPU references of the GPU stages of persistent homology
 * (include/nerve/ph_stages.h): edges in filtration order, H0 from them, and the
 * columns of a dimension after clearing and the apparent-pair search. (The first
 * stage, the distances, is the metric module's: analysis/metric/metric.c.)
 *
 * Plain loops, one thread: these define what the CUDA stages (cuda/ph_stages.cu) must
 * return, and the staged engine can run on them (nv_ph_params.stages_reference) so
 * that every piece of the GPU path except the kernels themselves is tested on a
 * machine without a GPU. The per-simplex decisions are shared with the CUDA code
 * through analysis/ph/ph_stage_common.h; what differs is only how simplices are
 * enumerated (here a clique search over present edges; on the GPU every colex
 * index in chunks) and how the survivors are sorted.
 */
#include "nerve/ph_stages.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ph_stage_common.h"

_Static_assert(PHS_MAX_VERTS == NV_PH_GPU_MAX_DIM + 2, "ph_stage_common.h: vertex arrays");

/* --- 2. edges and dimension 0 ------------------------------------------------------------ */

/* Filtration order: shorter first, ties by the larger index first. */
static int filtration_cmp(const void *a, const void *b) {
    const nv_ph_simplex *x = a, *y = b;
    if (x->diam != y->diam) return x->diam < y->diam ? -1 : 1;
    return (x->idx < y->idx) - (x->idx > y->idx);
}

/* Reduction order: the reverse. */
static int reduction_cmp(const void *a, const void *b) { return filtration_cmp(b, a); }

nv_status nv_ph_edges_cpu(const float *lower, int64_t n, float threshold, nv_ph_simplex **edges,
                          int64_t *count, nv_error *err) {
    *edges = NULL;
    *count = 0;
    const int64_t m = n > 1 ? n * (n - 1) / 2 : 0;
    int64_t k = 0;
    for (int64_t e = 0; e < m; e++) k += phs_present(lower[e], threshold);
    nv_ph_simplex *a = nv_malloc((size_t)(k ? k : 1) * sizeof *a, err);
    if (!a) return NV_ENOMEM;
    k = 0;
    for (int64_t e = 0; e < m; e++)
        if (phs_present(lower[e], threshold)) a[k++] = (nv_ph_simplex){e, lower[e]};
    qsort(a, (size_t)k, sizeof *a, filtration_cmp);
    *edges = a;
    *count = k;
    return NV_OK;
}

static int64_t uf_find(int64_t *parent, int64_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

nv_status nv_ph_h0_from_edges(const nv_ph_simplex *edges, int64_t count, int64_t n,
                              nv_ph_pair **pairs, int64_t *npairs, int64_t **tree,
                              int64_t *ntree, nv_error *err) {
    nv_status st = NV_OK;
    *tree = NULL;
    *ntree = 0;
    int64_t *parent = nv_malloc((size_t)n * sizeof *parent, err);
    int64_t *eldest = nv_malloc((size_t)n * sizeof *eldest, err);
    int64_t *tr = nv_malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *tr, err);
    /* at most n - 1 finite bars and n essential ones */
    nv_ph_pair *pa = realloc(*pairs, (size_t)(*npairs + 2 * n) * sizeof *pa);
    if (!pa) st = nv_fail(err, NV_ENOMEM, "out of memory for the bars of dimension 0");
    else *pairs = pa;
    if (!parent || !eldest || !tr || st) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) parent[i] = eldest[i] = i;
    int64_t nt = 0, np = *npairs;
    for (int64_t q = 0; q < count; q++) {
        int64_t a = (int64_t)((1.0 + sqrt(1.0 + 8.0 * (double)edges[q].idx)) / 2.0);
        while (a * (a - 1) / 2 > edges[q].idx) a--;
        while ((a + 1) * a / 2 <= edges[q].idx) a++;
        int64_t b = edges[q].idx - a * (a - 1) / 2;
        int64_t ra = uf_find(parent, a), rb = uf_find(parent, b);
        if (ra == rb) continue;
        /* vertices enter in decreasing order, so the component whose largest vertex
         * is smaller is the younger one and dies */
        int64_t young = eldest[ra] < eldest[rb] ? ra : rb, old = young == ra ? rb : ra;
        if (edges[q].diam != 0.0f)
            pa[np++] = (nv_ph_pair){0, 0.0f, edges[q].diam, eldest[young], edges[q].idx};
        parent[young] = old;
        tr[nt++] = edges[q].idx;
    }
    for (int64_t i = 0; i < n; i++)
        if (uf_find(parent, i) == i) pa[np++] = (nv_ph_pair){0, 0.0f, INFINITY, eldest[i], -1};
    *npairs = np;
    qsort(tr, (size_t)nt, sizeof *tr, cmp_i64);
    *tree = tr;
    *ntree = nt;
    tr = NULL;
done:
    free(parent);
    free(eldest);
    free(tr);
    return st;
}

/* --- 3. columns ------------------------------------------------------------------------ */

typedef struct {
    phs_view v;
    int d;
    const int64_t *cleared;
    int64_t ncleared;
    nv_ph_simplex *out;
    int64_t len, cap;
    nv_ph_column_stats st;
    int oom;
} ref_cols;

/* Every present simplex {u_0 < ... < u_d} extending u[0..l] (l < d), by depth-first
 * search over the vertices adjacent to all of them. */
static void ref_search(ref_cols *R, int64_t *u, int l) {
    const phs_view *v = &R->v;
    for (int64_t x = u[l] + 1; x < v->n && !R->oom; x++) {
        int k = 0;
        for (; k <= l; k++)
            if (!phs_present(phs_dist(v, x, u[k]), v->thr)) break;
        if (k <= l) continue;
        u[l + 1] = x;
        if (l + 1 < R->d) {
            ref_search(R, u, l + 1);
            continue;
        }
        int64_t w[PHS_MAX_VERTS], idx = 0;
        for (int i = 0; i <= R->d; i++) {
            w[R->d - i] = u[i];
            idx += phs_C(v, u[i], i + 1);
        }
        float diam = 0.0f;
        R->st.candidates++;
        int fate = phs_classify(v, w, R->d, idx, R->cleared, R->ncleared, &diam);
        R->st.present += fate != PHS_ABSENT;
        R->st.cleared += fate == PHS_CLEARED;
        R->st.apparent += fate == PHS_APPARENT;
        if (fate != PHS_COLUMN) continue;
        if (R->len == R->cap) {
            int64_t cap = R->cap ? 2 * R->cap : 1024;
            nv_ph_simplex *a = realloc(R->out, (size_t)cap * sizeof *a);
            if (!a) { R->oom = 1; return; }
            R->out = a;
            R->cap = cap;
        }
        R->out[R->len++] = (nv_ph_simplex){idx, diam};
    }
}

nv_status nv_ph_columns_cpu(const float *lower, int64_t n, float threshold, int d,
                            const int64_t *cleared, int64_t ncleared, nv_ph_simplex **cols,
                            int64_t *ncols, nv_ph_column_stats *stats, nv_error *err) {
    *cols = NULL;
    *ncols = 0;
    if (d < 1 || d > NV_PH_GPU_MAX_DIM || n < 1)
        return nv_fail(err, NV_EINPUT, "ph columns: dimension %d of %lld points: expected 1..%d",
                       d, (long long)n, NV_PH_GPU_MAX_DIM);
    int64_t *binom = NULL;
    nv_status st = phs_binomials(n, d + 2, &binom, err);
    if (st) return st;
    ref_cols R = {{lower, n, threshold, binom, n + 1}, d, cleared, ncleared, NULL, 0, 0, {0}, 0};
    int64_t u[PHS_MAX_VERTS];
    for (int64_t r = 0; r < n && !R.oom; r++) {
        u[0] = r;
        ref_search(&R, u, 0);
    }
    free(binom);
    if (R.oom) {
        free(R.out);
        return nv_fail(err, NV_ENOMEM, "out of memory for the columns of dimension %d", d);
    }
    if (R.len) qsort(R.out, (size_t)R.len, sizeof *R.out, reduction_cmp);
    R.st.columns = R.len;
    if (stats) *stats = R.st;
    *cols = R.out ? R.out : nv_malloc(sizeof *R.out, err);
    if (!*cols) return NV_ENOMEM;
    *ncols = R.len;
    return NV_OK;
}
