/* diagram.c: persistence diagrams to numbers (see include/nerve/diagram.h).
 *
 * Downstream of the PH engine: the study reads barcodes per layer and epoch and
 * reduces them to Betti numbers at the calibrated scale, Betti curves, summary
 * statistics, and distances that say how far apart two barcodes are. The
 * distances are exact (no epsilon): the bottleneck distance is one of finitely
 * many candidate values and we search them; the Wasserstein distance is a
 * min-cost assignment. gudhi (tests/integration/diagram_gudhi.py) is the oracle.
 */
#include "nerve/diagram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- construction and validation ------------------------------------------ */

/* One rule for every entry point, so a diagram that passed a constructor is
 * accepted by every computation and one filled by hand is checked the same way. */
static nv_status check_bar(double b, double d, int64_t i, nv_error *err) {
    if (isnan(b) || isnan(d))
        return nv_fail(err, NV_EINPUT, "diagram bar %lld: expected numbers, found NaN "
                       "(birth %g, death %g)", (long long)i, b, d);
    if (b == INFINITY || d == -INFINITY)
        return nv_fail(err, NV_EINPUT, "diagram bar %lld: birth must be < +inf and death > -inf, "
                       "found (%g, %g)", (long long)i, b, d);
    if (b > d)
        return nv_fail(err, NV_EINPUT, "diagram bar %lld: expected birth <= death, found "
                       "(%.17g, %.17g)", (long long)i, b, d);
    return NV_OK;
}

static nv_status check_diagram(const nv_diagram *d, const char *which, nv_error *err) {
    if (!d || d->count < 0 || (d->count > 0 && !d->bars))
        return nv_fail(err, NV_EINPUT, "%s diagram: expected count >= 0 and bars for count > 0",
                       which);
    for (int64_t i = 0; i < d->count; i++) {
        nv_status st = check_bar(d->bars[i].birth, d->bars[i].death, i, err);
        if (st != NV_OK) {
            nv_error_prefix(err, "%s diagram: ", which);
            return st;
        }
    }
    return NV_OK;
}

static nv_status diagram_alloc(int dim, int64_t n, nv_diagram *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    out->dim = dim;
    if (n < 0) return nv_fail(err, NV_EINPUT, "diagram: expected n >= 0, found %lld", (long long)n);
    out->bars = nv_malloc((size_t)n * sizeof *out->bars, err);
    if (!out->bars) return NV_ENOMEM;
    out->count = n;
    return NV_OK;
}

nv_status nv_diagram_from_ph(const nv_ph_result *r, int dim, nv_diagram *out, nv_error *err) {
    if (!out) return nv_fail(err, NV_EINPUT, "nv_diagram_from_ph: NULL output");
    memset(out, 0, sizeof *out);
    if (!r) return nv_fail(err, NV_EINPUT, "nv_diagram_from_ph: NULL result");
    if (dim < 0 || dim > r->max_dim)
        return nv_fail(err, NV_EINPUT, "nv_diagram_from_ph: dimension %d outside 0..%d of the result",
                       dim, r->max_dim);
    int64_t n = 0;
    for (int64_t i = 0; i < r->count; i++) n += r->pairs[i].dim == dim;
    nv_status st = diagram_alloc(dim, n, out, err);
    if (st != NV_OK) return st;
    int64_t k = 0;
    for (int64_t i = 0; i < r->count; i++) {
        if (r->pairs[i].dim != dim) continue;
        /* float -> double is exact, so the values stay Ripser's to the bit. */
        out->bars[k].birth = (double)r->pairs[i].birth;
        out->bars[k].death = (double)r->pairs[i].death;
        st = check_bar(out->bars[k].birth, out->bars[k].death, i, err);
        if (st != NV_OK) {
            nv_error_prefix(err, "nv_diagram_from_ph: ");
            nv_diagram_free(out);
            return st;
        }
        k++;
    }
    return NV_OK;
}

nv_status nv_diagram_from_arrays(int dim, const double *births, const double *deaths, int64_t n,
                                 nv_diagram *out, nv_error *err) {
    if (!out) return nv_fail(err, NV_EINPUT, "nv_diagram_from_arrays: NULL output");
    memset(out, 0, sizeof *out);
    if (n > 0 && (!births || !deaths))
        return nv_fail(err, NV_EINPUT, "nv_diagram_from_arrays: NULL arrays for n = %lld",
                       (long long)n);
    nv_status st = diagram_alloc(dim, n, out, err);
    if (st != NV_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        st = check_bar(births[i], deaths[i], i, err);
        if (st != NV_OK) {
            nv_diagram_free(out);
            return st;
        }
        out->bars[i].birth = births[i];
        out->bars[i].death = deaths[i];
    }
    return NV_OK;
}

nv_status nv_diagram_from_pairs(int dim, const double *bd, int64_t n, nv_diagram *out,
                                nv_error *err) {
    if (!out) return nv_fail(err, NV_EINPUT, "nv_diagram_from_pairs: NULL output");
    memset(out, 0, sizeof *out);
    if (n > 0 && !bd)
        return nv_fail(err, NV_EINPUT, "nv_diagram_from_pairs: NULL array for n = %lld", (long long)n);
    nv_status st = diagram_alloc(dim, n, out, err);
    if (st != NV_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        st = check_bar(bd[2 * i], bd[2 * i + 1], i, err);
        if (st != NV_OK) {
            nv_diagram_free(out);
            return st;
        }
        out->bars[i].birth = bd[2 * i];
        out->bars[i].death = bd[2 * i + 1];
    }
    return NV_OK;
}

void nv_diagram_free(nv_diagram *d) {
    if (!d) return;
    free(d->bars);
    d->bars = NULL;
    d->count = 0;
}

int64_t nv_diagram_essential_count(const nv_diagram *d) {
    int64_t k = 0;
    for (int64_t i = 0; d && i < d->count; i++) k += d->bars[i].death == INFINITY;
    return k;
}

/* ---- Betti numbers ---------------------------------------------------------- */

int64_t nv_diagram_betti_at(const nv_diagram *d, double scale) {
    int64_t k = 0;
    for (int64_t i = 0; d && i < d->count; i++)
        k += d->bars[i].birth <= scale && scale < d->bars[i].death;
    return k;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Number of entries <= x in the sorted array v[0..n). */
static int64_t count_le(const double *v, int64_t n, double x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v[mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

nv_status nv_diagram_betti_curve(const nv_diagram *d, const double *grid, int64_t n_grid,
                                 int64_t *out, nv_error *err) {
    nv_status st = check_diagram(d, "nv_diagram_betti_curve:", err);
    if (st != NV_OK) return st;
    if (n_grid < 0 || (n_grid > 0 && (!grid || !out)))
        return nv_fail(err, NV_EINPUT, "nv_diagram_betti_curve: expected a grid and an output of "
                       "%lld entries", (long long)n_grid);
    for (int64_t k = 0; k < n_grid; k++)
        if (isnan(grid[k]))
            return nv_fail(err, NV_EINPUT, "nv_diagram_betti_curve: grid[%lld] is NaN", (long long)k);
    int64_t n = d->count;
    double *births = nv_malloc((size_t)(2 * n) * sizeof *births, err);
    if (!births) return NV_ENOMEM;
    double *deaths = births + n;
    for (int64_t i = 0; i < n; i++) {
        births[i] = d->bars[i].birth;
        deaths[i] = d->bars[i].death;
    }
    qsort(births, (size_t)n, sizeof *births, cmp_double);
    qsort(deaths, (size_t)n, sizeof *deaths, cmp_double);
    /* birth <= death for every bar, so the bars with death <= s are a subset of
     * those with birth <= s, and the alive ones are the difference. */
    for (int64_t k = 0; k < n_grid; k++)
        out[k] = count_le(births, n, grid[k]) - count_le(deaths, n, grid[k]);
    free(births);
    return NV_OK;
}

nv_status nv_diagram_linspace(double lo, double hi, int64_t n, double *grid, nv_error *err) {
    if (n < 2 || !grid || !isfinite(lo) || !isfinite(hi))
        return nv_fail(err, NV_EINPUT, "nv_diagram_linspace: expected n >= 2 and finite ends, "
                       "found n = %lld, [%g, %g]", (long long)n, lo, hi);
    /* lo + k*step drifts past hi; interpolating from both ends hits them exactly. */
    for (int64_t k = 0; k < n; k++) {
        double t = (double)k / (double)(n - 1);
        grid[k] = (1.0 - t) * lo + t * hi;
    }
    grid[n - 1] = hi;
    return NV_OK;
}

/* ---- summaries -------------------------------------------------------------- */

/* The length a bar contributes to the summaries, or -1 when it is left out. */
static double summary_length(const nv_bar *bar, double essential_death) {
    if (bar->birth == -INFINITY) return -1.0;
    if (bar->death == INFINITY) {
        if (!isfinite(essential_death)) return -1.0;
        return essential_death > bar->birth ? essential_death - bar->birth : 0.0;
    }
    return bar->death - bar->birth;
}

nv_status nv_diagram_total_persistence(const nv_diagram *d, double p, double essential_death,
                                       double *out, nv_error *err) {
    nv_status st = check_diagram(d, "nv_diagram_total_persistence:", err);
    if (st != NV_OK) return st;
    if (!(p > 0) || !isfinite(p) || !out || isnan(essential_death))
        return nv_fail(err, NV_EINPUT, "nv_diagram_total_persistence: expected a finite p > 0 and "
                       "essential_death a number or INFINITY, found p = %g, essential_death = %g",
                       p, essential_death);
    double sum = 0.0;
    for (int64_t i = 0; i < d->count; i++) {
        double l = summary_length(&d->bars[i], essential_death);
        if (l > 0) sum += p == 1.0 ? l : pow(l, p);
    }
    *out = sum;
    return NV_OK;
}

nv_status nv_diagram_entropy(const nv_diagram *d, double essential_death, int normalise,
                             double *out, nv_error *err) {
    nv_status st = check_diagram(d, "nv_diagram_entropy:", err);
    if (st != NV_OK) return st;
    if (!out || isnan(essential_death))
        return nv_fail(err, NV_EINPUT, "nv_diagram_entropy: expected an output and essential_death "
                       "a number or INFINITY");
    double total = 0.0;
    int64_t k = 0;
    for (int64_t i = 0; i < d->count; i++) {
        double l = summary_length(&d->bars[i], essential_death);
        if (l > 0) {
            total += l;
            k++;
        }
    }
    if (k <= 1) {
        *out = 0.0;
        return NV_OK;
    }
    /* -sum q ln q with q = l/L, written as ln L - (sum l ln l)/L: one division,
     * and no q underflowing to 0 for a tiny bar beside a huge one. */
    double sum_llogl = 0.0;
    for (int64_t i = 0; i < d->count; i++) {
        double l = summary_length(&d->bars[i], essential_death);
        if (l > 0) sum_llogl += l * log(l);
    }
    double e = log(total) - sum_llogl / total;
    if (e < 0) e = 0; /* round-off when all bars are equal and k is small */
    if (normalise) e /= log((double)k);
    *out = e;
    return NV_OK;
}

/* ---- splitting a diagram by kind -------------------------------------------- */

/* Finite bars keep (birth, death); each infinite kind keeps its one finite
 * coordinate, sorted, which is all a matching within the kind looks at. */
typedef struct {
    int64_t n_fin;
    nv_bar *fin;        /* (n_fin) */
    int64_t n_up;       /* (b, +inf): births, sorted */
    double *up;
    int64_t n_down;     /* (-inf, d): deaths, sorted */
    double *down;
    int64_t n_both;     /* (-inf, +inf) */
} split_diagram;

static void split_free(split_diagram *s) {
    free(s->fin);
    free(s->up);
    free(s->down);
    memset(s, 0, sizeof *s);
}

static nv_status split(const nv_diagram *d, split_diagram *s, nv_error *err) {
    memset(s, 0, sizeof *s);
    size_t n = (size_t)d->count;
    s->fin = nv_malloc(n * sizeof *s->fin, err);
    s->up = nv_malloc(n * sizeof *s->up, err);
    s->down = nv_malloc(n * sizeof *s->down, err);
    if (!s->fin || !s->up || !s->down) {
        split_free(s);
        return NV_ENOMEM;
    }
    for (int64_t i = 0; i < d->count; i++) {
        nv_bar bar = d->bars[i];
        int lo_inf = bar.birth == -INFINITY, hi_inf = bar.death == INFINITY;
        if (lo_inf && hi_inf) s->n_both++;
        else if (hi_inf) s->up[s->n_up++] = bar.birth;
        else if (lo_inf) s->down[s->n_down++] = bar.death;
        else s->fin[s->n_fin++] = bar;
    }
    qsort(s->up, (size_t)s->n_up, sizeof *s->up, cmp_double);
    qsort(s->down, (size_t)s->n_down, sizeof *s->down, cmp_double);
    return NV_OK;
}

/* On a line, pairing sorted with sorted minimises both the largest |x - y| and
 * the sum of |x - y|^p for p >= 1, so the essential part needs no matching.
 * Returns INFINITY when the kinds' counts differ. `p` = 0 asks for the maximum
 * (bottleneck), otherwise the sum of p-th powers. */
static double essential_cost(const split_diagram *a, const split_diagram *b, double p) {
    if (a->n_up != b->n_up || a->n_down != b->n_down || a->n_both != b->n_both) return INFINITY;
    double acc = 0.0;
    const double *xs[2] = {a->up, a->down}, *ys[2] = {b->up, b->down};
    int64_t ns[2] = {a->n_up, a->n_down};
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < ns[k]; i++) {
            double c = fabs(xs[k][i] - ys[k][i]);
            if (p == 0) acc = c > acc ? c : acc;
            else acc += p == 1.0 ? c : pow(c, p);
        }
    return acc;
}

/* The L-infinity distance between two finite points and to the diagonal; one
 * expression each, so a candidate value and the test against it agree to the bit. */
static inline double point_cost(nv_bar u, nv_bar v) {
    double db = fabs(u.birth - v.birth), dd = fabs(u.death - v.death);
    return db > dd ? db : dd;
}

/* fabs: the bottleneck search may store a point with its coordinates swapped
 * (see bottleneck_finite); for a valid bar this is the same double either way. */
static inline double diag_cost(nv_bar u) { return 0.5 * fabs(u.death - u.birth); }

/* ---- bottleneck: Hopcroft-Karp on the graph of pairs within a threshold ----- */

/* The augmented diagrams (each side plus the other side's diagonal projections,
 * the projections all joined to each other at cost 0) have a perfect matching with
 * every edge <= t iff some matching of A-B pairs closer than t covers every point
 * whose own diagonal distance exceeds t: the uncovered points go to their
 * projections and the leftover projections pair among themselves. By the
 * Mendelsohn-Dulmage theorem a matching covering those points of A and one
 * covering those of B give one covering both, so we run two one-sided maximum
 * matchings, each on at most n*m edges and without the dense diagonal block. */
typedef struct {
    /* left: the points that must be matched; right: all points of the other side,
     * sorted by birth so a point's neighbours lie in one window of births. */
    int64_t n_left, n_right;
    const nv_bar *left;    /* (n_left) */
    const nv_bar *right;   /* (n_right), sorted by birth */
    double t;
    int64_t *match_l;      /* (n_left): right index or -1 */
    int64_t *match_r;      /* (n_right): left index or -1 */
    int64_t *dist;         /* (n_left): BFS layer */
    int64_t *queue;        /* (n_left) */
    int64_t *next;         /* (n_left): DFS resume position in the window */
    int64_t *win_lo;       /* (n_left): first right index with birth >= left birth - t */
} hk_graph;

static inline int hk_edge(const hk_graph *g, int64_t u, int64_t v) {
    return point_cost(g->left[u], g->right[v]) <= g->t;
}

/* A window [b - t, b + t] computed in floating point can miss a point at cost
 * exactly t (fl(b + t) may round below a b' with fl(b' - b) == t), and the
 * answer is always such a tight cost. The windows only prune, so they are
 * widened by far more than any rounding; the exact test is point_cost <= t. */
static inline double window_slack(double b, double t) { return 1e-9 * (fabs(b) + fabs(t)); }

static int64_t first_birth_ge(const nv_bar *v, int64_t n, double x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v[mid].birth < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Layers free left vertices at 0 and alternates; returns whether a free right
 * vertex is reachable (an augmenting path exists). */
static int hk_bfs(hk_graph *g) {
    const int64_t INF = INT64_MAX;
    int64_t head = 0, tail = 0;
    int found = 0;
    for (int64_t u = 0; u < g->n_left; u++) {
        if (g->match_l[u] < 0) {
            g->dist[u] = 0;
            g->queue[tail++] = u;
        } else {
            g->dist[u] = INF;
        }
    }
    while (head < tail) {
        int64_t u = g->queue[head++];
        double hi = g->left[u].birth + g->t + window_slack(g->left[u].birth, g->t);
        for (int64_t v = g->win_lo[u]; v < g->n_right && g->right[v].birth <= hi; v++) {
            if (!hk_edge(g, u, v)) continue;
            int64_t w = g->match_r[v];
            if (w < 0) found = 1;
            else if (g->dist[w] == INF) {
                g->dist[w] = g->dist[u] + 1;
                g->queue[tail++] = w;
            }
        }
    }
    return found;
}

/* Depth-first along the BFS layers; `next` keeps each vertex's place so a phase
 * scans every edge at most once. Recursion depth is bounded by the layer count. */
static int hk_dfs(hk_graph *g, int64_t u) {
    double hi = g->left[u].birth + g->t + window_slack(g->left[u].birth, g->t);
    for (; g->next[u] < g->n_right && g->right[g->next[u]].birth <= hi; g->next[u]++) {
        int64_t v = g->next[u];
        if (!hk_edge(g, u, v)) continue;
        int64_t w = g->match_r[v];
        if (w < 0 || (g->dist[w] == g->dist[u] + 1 && hk_dfs(g, w))) {
            g->match_l[u] = v;
            g->match_r[v] = u;
            return 1;
        }
    }
    g->dist[u] = INT64_MAX; /* dead end for the rest of this phase */
    return 0;
}

/* Whether every left vertex can be matched at threshold g->t. */
static int hk_saturates(hk_graph *g) {
    for (int64_t u = 0; u < g->n_left; u++) g->match_l[u] = -1;
    for (int64_t v = 0; v < g->n_right; v++) g->match_r[v] = -1;
    if (g->n_left > g->n_right) return 0;
    int64_t matched = 0;
    for (int64_t u = 0; u < g->n_left; u++) {
        double b = g->left[u].birth;
        g->win_lo[u] = first_birth_ge(g->right, g->n_right, b - g->t - window_slack(b, g->t));
    }
    /* A greedy start leaves Hopcroft-Karp only the hard part. */
    for (int64_t u = 0; u < g->n_left; u++) {
        double hi = g->left[u].birth + g->t + window_slack(g->left[u].birth, g->t);
        for (int64_t v = g->win_lo[u]; v < g->n_right && g->right[v].birth <= hi; v++)
            if (g->match_r[v] < 0 && hk_edge(g, u, v)) {
                g->match_l[u] = v;
                g->match_r[v] = u;
                matched++;
                break;
            }
    }
    while (matched < g->n_left && hk_bfs(g)) {
        for (int64_t u = 0; u < g->n_left; u++) g->next[u] = g->win_lo[u];
        for (int64_t u = 0; u < g->n_left; u++)
            if (g->match_l[u] < 0 && hk_dfs(g, u)) matched++;
    }
    return matched == g->n_left;
}

static int cmp_bar_birth(const void *a, const void *b) {
    const nv_bar *x = a, *y = b;
    if (x->birth != y->birth) return (x->birth > y->birth) - (x->birth < y->birth);
    return (x->death > y->death) - (x->death < y->death);
}

typedef struct {
    const nv_bar *a, *b; /* both sorted by birth */
    int64_t na, nb;
    nv_bar *left;        /* (max(na, nb)) scratch for the must-match points */
    hk_graph g;
} bottleneck_work;

/* Whether the finite parts can be matched with every cost <= t. */
static int feasible(bottleneck_work *w, double t) {
    for (int side = 0; side < 2; side++) {
        const nv_bar *own = side ? w->b : w->a, *other = side ? w->a : w->b;
        int64_t n_own = side ? w->nb : w->na, n_other = side ? w->na : w->nb;
        int64_t k = 0;
        for (int64_t i = 0; i < n_own; i++)
            if (diag_cost(own[i]) > t) w->left[k++] = own[i];
        w->g.n_left = k;
        w->g.left = w->left;
        w->g.n_right = n_other;
        w->g.right = other;
        w->g.t = t;
        if (k > 0 && !hk_saturates(&w->g)) return 0;
    }
    return 1;
}

static inline void swap_d(double *v, int64_t i, int64_t j) {
    double t = v[i];
    v[i] = v[j];
    v[j] = t;
}

/* Quickselect with a three-way partition: rearranges v[lo..hi) so that the k-th
 * smallest value p sits in a block v[*eq_lo..*eq_hi) of values equal to p, with
 * everything before it smaller and everything after it larger; returns p. */
static double select_kth(double *v, int64_t lo, int64_t hi, int64_t k, int64_t *eq_lo,
                         int64_t *eq_hi) {
    for (;;) {
        double x = v[lo], y = v[lo + (hi - lo) / 2], z = v[hi - 1];
        double p = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < p) swap_d(v, lt++, i++);
            else if (v[i] > p) swap_d(v, i, --gt);
            else i++;
        }
        if (k < lt) hi = lt;
        else if (k >= gt) lo = gt;
        else {
            *eq_lo = lt;
            *eq_hi = gt;
            return p;
        }
    }
}

/* The smallest candidate for which the finite parts can be matched, given that
 * the largest one can. A bisection over the candidates' order without sorting
 * them: each step selects the median of the values still in play, tests it, and
 * keeps the half that holds the answer, so the work is linear in the number of
 * candidates plus log2 of it matchings (a full sort cost more than the
 * matchings). */
static double smallest_feasible(double *cand, int64_t n, bottleneck_work *w) {
    int64_t lo = 0, hi = n;
    double best = INFINITY;
    while (lo < hi) {
        int64_t eq_lo, eq_hi;
        double p = select_kth(cand, lo, hi, lo + (hi - lo) / 2, &eq_lo, &eq_hi);
        if (feasible(w, p)) {
            best = p;
            hi = eq_lo;
        } else {
            lo = eq_hi;
        }
    }
    return best;
}

static nv_status bottleneck_finite(const nv_bar *a0, int64_t na, const nv_bar *b0, int64_t nb,
                                   double *out, nv_error *err) {
    nv_status st = NV_OK;
    int64_t nmax = na > nb ? na : nb;
    nv_bar *a = nv_malloc((size_t)(na + nb) * sizeof *a, err);
    nv_bar *left = nv_malloc((size_t)nmax * sizeof *left, err);
    int64_t *ints = nv_malloc((size_t)(6 * nmax) * sizeof *ints, err);
    double *cand = NULL;
    if (!a || !left || !ints) {
        st = NV_ENOMEM;
        goto done;
    }
    nv_bar *b = a + na;
    memcpy(a, a0, (size_t)na * sizeof *a);
    memcpy(b, b0, (size_t)nb * sizeof *b);
    /* Neighbours are looked up in a window of the first coordinate, which prunes
     * nothing when every birth is the same (H0 of a Rips filtration: all 0). The
     * costs are symmetric in the two coordinates, so when deaths are more spread
     * out than births, store (death, birth) and let the window run over deaths. */
    double blo = INFINITY, bhi = -INFINITY, dlo = INFINITY, dhi = -INFINITY;
    for (int64_t i = 0; i < na + nb; i++) {
        blo = NV_MIN(blo, a[i].birth);
        bhi = NV_MAX(bhi, a[i].birth);
        dlo = NV_MIN(dlo, a[i].death);
        dhi = NV_MAX(dhi, a[i].death);
    }
    if (na + nb > 0 && dhi - dlo > bhi - blo)
        for (int64_t i = 0; i < na + nb; i++) {
            double t = a[i].birth;
            a[i].birth = a[i].death;
            a[i].death = t;
        }
    qsort(a, (size_t)na, sizeof *a, cmp_bar_birth);
    qsort(b, (size_t)nb, sizeof *b, cmp_bar_birth);

    /* Matching everything to the diagonal costs `upper`, so no larger candidate
     * can be the answer: pair costs above it are never listed. */
    double upper = 0.0;
    for (int64_t i = 0; i < na; i++) upper = NV_MAX(upper, diag_cost(a[i]));
    for (int64_t j = 0; j < nb; j++) upper = NV_MAX(upper, diag_cost(b[j]));
    int64_t n_cand = 1 + na + nb;
    for (int64_t i = 0; i < na; i++) {
        double slack = window_slack(a[i].birth, upper);
        int64_t j0 = first_birth_ge(b, nb, a[i].birth - upper - slack);
        for (int64_t j = j0; j < nb && b[j].birth <= a[i].birth + upper + slack; j++)
            n_cand += point_cost(a[i], b[j]) <= upper;
    }
    cand = nv_malloc((size_t)n_cand * sizeof *cand, err);
    if (!cand) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t k = 0;
    cand[k++] = 0.0;
    for (int64_t i = 0; i < na; i++) cand[k++] = diag_cost(a[i]);
    for (int64_t j = 0; j < nb; j++) cand[k++] = diag_cost(b[j]);
    for (int64_t i = 0; i < na; i++) {
        double slack = window_slack(a[i].birth, upper);
        int64_t j0 = first_birth_ge(b, nb, a[i].birth - upper - slack);
        for (int64_t j = j0; j < nb && b[j].birth <= a[i].birth + upper + slack; j++) {
            double c = point_cost(a[i], b[j]);
            if (c <= upper) cand[k++] = c;
        }
    }
    bottleneck_work w = {.a = a, .b = b, .na = na, .nb = nb, .left = left};
    w.g.match_l = ints;
    w.g.match_r = ints + nmax;
    w.g.dist = ints + 2 * nmax;
    w.g.queue = ints + 3 * nmax;
    w.g.next = ints + 4 * nmax;
    w.g.win_lo = ints + 5 * nmax;
    *out = smallest_feasible(cand, n_cand, &w);
done:
    free(a);
    free(left);
    free(ints);
    free(cand);
    return st;
}

nv_status nv_diagram_bottleneck(const nv_diagram *a, const nv_diagram *b, double *out,
                                nv_error *err) {
    nv_status st = check_diagram(a, "nv_diagram_bottleneck: first", err);
    if (st == NV_OK) st = check_diagram(b, "nv_diagram_bottleneck: second", err);
    if (st != NV_OK) return st;
    if (!out) return nv_fail(err, NV_EINPUT, "nv_diagram_bottleneck: NULL output");
    split_diagram sa, sb;
    if ((st = split(a, &sa, err)) != NV_OK) return st;
    if ((st = split(b, &sb, err)) != NV_OK) {
        split_free(&sa);
        return st;
    }
    double ess = essential_cost(&sa, &sb, 0);
    double fin = 0.0;
    if (ess == INFINITY) *out = INFINITY;
    else if ((st = bottleneck_finite(sa.fin, sa.n_fin, sb.fin, sb.n_fin, &fin, err)) == NV_OK)
        *out = NV_MAX(ess, fin);
    split_free(&sa);
    split_free(&sb);
    return st;
}

/* ---- Wasserstein: min-cost assignment --------------------------------------- */

/* The augmented (n+m) x (n+m) problem (a point goes to a point of the other side
 * at cost c_ij, or to the diagonal at cost a_i resp. b_j) is a partial matching
 * problem: minimise sum_a + sum_b + sum over matched pairs of (c_ij - a_i - b_j).
 * With rows the smaller side, assigning every row to some column with cost
 * min(c_ij - a_i - b_j, 0) solves it (a zero is "both go to the diagonal"), so the
 * Hungarian method runs on n x m instead of (n+m)^2 entries. The reported cost is
 * re-summed from the matching's own terms, all >= 0, so a small distance between
 * diagrams with long bars keeps its relative precision. */
static nv_status wasserstein_finite(const nv_bar *r, int64_t n, const nv_bar *c, int64_t m,
                                    double p, double *out, nv_error *err) {
    /* n <= m: rows r, columns c */
    nv_status st = NV_OK;
    double *cost = NULL, *ra = NULL, *u = NULL, *v = NULL, *minv = NULL;
    int64_t *match = NULL, *way = NULL;
    char *used = NULL, *row_used = NULL;
    #define POWP(x) (p == 1.0 ? (x) : p == 2.0 ? (x) * (x) : pow((x), p))
    size_t nm = (size_t)n * (size_t)m;
    cost = nv_malloc(nm * sizeof *cost, err);
    ra = nv_malloc((size_t)(n + m) * sizeof *ra, err);
    u = nv_calloc((size_t)(n + 1), sizeof *u, err);
    v = nv_calloc((size_t)(m + 1), sizeof *v, err);
    minv = nv_malloc((size_t)(m + 1) * sizeof *minv, err);
    match = nv_calloc((size_t)(m + 1), sizeof *match, err);
    way = nv_calloc((size_t)(m + 1), sizeof *way, err);
    used = nv_malloc((size_t)(m + 1), err);
    row_used = nv_calloc((size_t)(n + 1), 1, err);
    if (!cost || !ra || !u || !v || !minv || !match || !way || !used || !row_used) {
        st = NV_ENOMEM;
        goto done;
    }
    double *ca = ra + n; /* diagonal costs of the columns */
    for (int64_t i = 0; i < n; i++) ra[i] = POWP(diag_cost(r[i]));
    for (int64_t j = 0; j < m; j++) ca[j] = POWP(diag_cost(c[j]));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double pc = POWP(point_cost(r[i], c[j]));
            double red = pc - ra[i] - ca[j];
            cost[(size_t)i * (size_t)m + (size_t)j] = pc < ra[i] + ca[j] ? red : 0.0;
        }

    /* Shortest augmenting paths with row potentials u and column potentials v
     * (1-based; column 0 is the virtual start, match[j] is the row of column j).
     * Start from u = row minima, v = 0 (feasible: every reduced cost >= 0) and
     * give each row its cheapest column while that column is free; those edges
     * are tight, so the search below only has to place the remaining rows. On
     * diagrams that are close to each other most rows are placed here. */
    for (int64_t i = 1; i <= n; i++) {
        const double *row = cost + (size_t)(i - 1) * (size_t)m;
        int64_t jmin = 0;
        double cmin = INFINITY;
        for (int64_t j = 1; j <= m; j++)
            if (row[j - 1] < cmin) {
                cmin = row[j - 1];
                jmin = j;
            }
        u[i] = cmin;
        if (jmin > 0 && match[jmin] == 0) {
            match[jmin] = i;
            row_used[i] = 1;
        }
    }
    for (int64_t i = 1; i <= n; i++) {
        if (row_used[i]) continue;
        match[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int64_t i0 = match[j0], j1 = 0;
            double delta = INFINITY;
            const double *row = cost + (size_t)(i0 - 1) * (size_t)m;
            for (int64_t j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = row[j - 1] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            if (j1 == 0) { /* cannot happen with finite costs and n <= m */
                st = nv_fail(err, NV_EINTERNAL, "nv_diagram_wasserstein: assignment found no "
                             "augmenting column (row %lld of %lld)", (long long)i, (long long)n);
                goto done;
            }
            for (int64_t j = 0; j <= m; j++) {
                if (used[j]) {
                    u[match[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (match[j0] != 0);
        do {
            int64_t j1 = way[j0];
            match[j0] = match[j1];
            j0 = j1;
        } while (j0 != 0);
    }

    /* Re-sum: matched pairs that beat the diagonal pay c_ij, everyone else pays
     * their own diagonal cost. */
    double total = 0.0;
    memset(used, 0, (size_t)(m + 1));
    memset(row_used, 0, (size_t)(n + 1));
    for (int64_t j = 1; j <= m; j++) {
        int64_t i = match[j];
        if (i == 0) continue;
        double pc = POWP(point_cost(r[i - 1], c[j - 1]));
        if (pc < ra[i - 1] + ca[j - 1]) {
            total += pc;
            used[j] = 1;
            row_used[i] = 1;
        }
    }
    for (int64_t i = 1; i <= n; i++)
        if (!row_used[i]) total += ra[i - 1];
    for (int64_t j = 1; j <= m; j++)
        if (!used[j]) total += ca[j - 1];
    *out = total;
    #undef POWP
done:
    free(cost);
    free(ra);
    free(u);
    free(v);
    free(minv);
    free(match);
    free(way);
    free(used);
    free(row_used);
    return st;
}

nv_status nv_diagram_wasserstein(const nv_diagram *a, const nv_diagram *b, double p,
                                 double *out, nv_error *err) {
    nv_status st = check_diagram(a, "nv_diagram_wasserstein: first", err);
    if (st == NV_OK) st = check_diagram(b, "nv_diagram_wasserstein: second", err);
    if (st != NV_OK) return st;
    if (!out || !(p >= 1.0) || !isfinite(p))
        return nv_fail(err, NV_EINPUT, "nv_diagram_wasserstein: expected a finite order p >= 1, "
                       "found %g (the bottleneck distance is p = inf)", p);
    split_diagram sa, sb;
    if ((st = split(a, &sa, err)) != NV_OK) return st;
    if ((st = split(b, &sb, err)) != NV_OK) {
        split_free(&sa);
        return st;
    }
    double ess = essential_cost(&sa, &sb, p);
    double fin = 0.0;
    if (ess == INFINITY) {
        *out = INFINITY;
    } else {
        if (sa.n_fin <= sb.n_fin) st = wasserstein_finite(sa.fin, sa.n_fin, sb.fin, sb.n_fin, p, &fin, err);
        else st = wasserstein_finite(sb.fin, sb.n_fin, sa.fin, sa.n_fin, p, &fin, err);
        if (st == NV_OK) {
            double total = fin + ess;
            *out = p == 1.0 ? total : pow(total, 1.0 / p);
        }
    }
    split_free(&sa);
    split_free(&sb);
    return st;
}
