/* snapshot_write.c: a test driver that writes deterministic snapshot files (and,
 * with --run, a small fake run directory) through the library's writer, so the
 * integration tests can check them with h5py, h5dump, h5diff and `nerve info`
 * without training anything.
 *
 *   snapshot_write DIR MODEL EPOCH [--train N] [--test N] [--widths 3,8,2] [--pre]
 *                  [--seed S] [--abort]
 *   snapshot_write --run RUNDIR      a run directory: config.cfg, snapshots of two
 *                                    models at epochs 0 and 2, their checkpoints
 *
 * Values are a fixed function of (seed, layer, row, column), so two invocations
 * with the same arguments must produce the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/checkpoint.h"
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"

typedef struct {
    int64_t n_train, n_test;
    int64_t widths[16];
    int nw;
    int pre;
    uint64_t seed;
    int abort_it;
} opts;

/* A value in [-1, 1) from a 64-bit mix of its coordinates (splitmix64 finaliser). */
static float value_at(uint64_t seed, int layer, int64_t row, int64_t col, int pre) {
    uint64_t z = seed ^ ((uint64_t)layer << 56) ^ ((uint64_t)pre << 55) ^ ((uint64_t)row << 20) ^
                 (uint64_t)col;
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ULL << 23) - 1.0);
}

static const char *CONFIG =
    "experiment = \"tiny\";\nseed = 7;\ndata = { kind = \"spheres\"; };\n";

static int write_one(const char *dir, const char *model, int64_t epoch, const opts *o) {
    int64_t n = o->n_train + o->n_test;
    int32_t *y = malloc((size_t)(n ? n : 1) * sizeof *y);
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 2);
        ids[i] = 1000 + i;
    }
    nv_snapshot_meta meta = {.experiment = "tiny", .model = model, .epoch = epoch,
                             .seed = o->seed, .config_text = CONFIG,
                             .n_train = o->n_train, .n_test = o->n_test,
                             .y_train = y, .y_test = y + o->n_train,
                             .ids_train = ids, .ids_test = ids + o->n_train,
                             .gzip_level = 4 /* what the oracle tests check for */};
    nv_error err = {0};
    nv_snapshot_writer *w = NULL;
    int rc = 0;
    if (nv_snapshot_begin(dir, &meta, &w, &err) != NV_OK) goto fail;
    for (int l = 0; l < o->nw; l++) {
        int64_t wd = o->widths[l];
        float *tr = malloc((size_t)(o->n_train * wd + 1) * sizeof *tr);
        float *te = malloc((size_t)(o->n_test * wd + 1) * sizeof *te);
        char name[32];
        const char *kind = l == 0 ? "input" : l == o->nw - 1 ? "logits" : "hidden";
        if (l == 0) snprintf(name, sizeof name, "input");
        else if (l == o->nw - 1) snprintf(name, sizeof name, "logits");
        else snprintf(name, sizeof name, "hidden%d", l);
        for (int pre = 0; pre <= (o->pre && kind[0] == 'h'); pre++) {
            for (int64_t r = 0; r < n; r++)
                for (int64_t c = 0; c < wd; c++) {
                    float v = value_at(o->seed + (uint64_t)epoch, l, r, c, pre);
                    if (r < o->n_train) tr[r * wd + c] = v;
                    else te[(r - o->n_train) * wd + c] = v;
                }
            if (nv_snapshot_add_layer(w, l, name, kind, pre, wd, tr, te, &err) != NV_OK) {
                free(tr);
                free(te);
                goto fail;
            }
        }
        free(tr);
        free(te);
    }
    if (o->abort_it) {
        nv_snapshot_abort(w);
        w = NULL;
    } else {
        nv_status st = nv_snapshot_commit(w, &err);
        w = NULL;
        if (st != NV_OK) goto fail;
    }
    goto done;
fail:
    nv_snapshot_abort(w);
    fprintf(stderr, "snapshot_write: %s\n", err.msg);
    rc = 1;
done:
    free(y);
    free(ids);
    return rc;
}

static int write_checkpoint(const char *path, const char *model, const opts *o) {
    nv_checkpoint ck = {0};
    snprintf(ck.model, sizeof ck.model, "%s", model);
    ck.epochs_completed = 2;
    ck.step = 30;
    ck.spec.nlayers = o->nw - 1;
    for (int i = 0; i < o->nw; i++) ck.spec.widths[i] = o->widths[i];
    ck.spec.act = NV_ACT_RELU;
    ck.spec.init = NV_INIT_HE;
    ck.nparams = nv_mlp_param_count(&ck.spec);
    ck.params = calloc((size_t)ck.nparams, sizeof(float));
    ck.state1 = calloc((size_t)ck.nparams, sizeof(float));
    ck.state2 = calloc((size_t)ck.nparams, sizeof(float));
    for (int64_t i = 0; i < ck.nparams; i++) ck.params[i] = value_at(o->seed, 9, 0, i, 0);
    char *names[] = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"};
    double m[3 * 5];
    for (int r = 0; r < 3; r++) {
        m[r * 5 + 0] = r + 1;
        m[r * 5 + 1] = 1.0 / (r + 1);
        m[r * 5 + 2] = 0.5 + 0.1 * r;
        m[r * 5 + 3] = 1.1 / (r + 1);
        m[r * 5 + 4] = 0.45 + 0.1 * r;
    }
    ck.metric_rows = 3;
    ck.metric_cols = 5;
    ck.metric_names = names;
    ck.metrics = m;
    ck.config_text = (char *)CONFIG;
    nv_error err = {0};
    nv_status st = nv_checkpoint_write(path, &ck, &err);
    free(ck.params);
    free(ck.state1);
    free(ck.state2);
    if (st != NV_OK) {
        fprintf(stderr, "snapshot_write: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int write_run(const char *run, opts *o) {
    char p[1024];
    nv_error err = {0};
    snprintf(p, sizeof p, "%s/checkpoints", run);
    if (nv_mkdirs(p, &err) != NV_OK) {
        fprintf(stderr, "snapshot_write: %s\n", err.msg);
        return 1;
    }
    snprintf(p, sizeof p, "%s/config.cfg", run);
    if (nv_atomic_write_text(p, CONFIG, &err) != NV_OK) {
        fprintf(stderr, "snapshot_write: %s\n", err.msg);
        return 1;
    }
    const char *models[2] = {"expressive", "bottleneck"};
    for (int m = 0; m < 2; m++) {
        snprintf(p, sizeof p, "%s/snapshots", run);
        for (int e = 0; e <= 2; e += 2)
            if (write_one(p, models[m], e, o)) return 1;
        snprintf(p, sizeof p, "%s/checkpoints/%s.h5", run, models[m]);
        if (write_checkpoint(p, models[m], o)) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    opts o = {.n_train = 6, .n_test = 4, .widths = {3, 5, 2}, .nw = 3, .seed = 7};
    const char *pos[3] = {0}, *run = NULL;
    int np = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--train") && v) o.n_train = atoll(argv[++i]);
        else if (!strcmp(a, "--test") && v) o.n_test = atoll(argv[++i]);
        else if (!strcmp(a, "--seed") && v) o.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--pre")) o.pre = 1;
        else if (!strcmp(a, "--abort")) o.abort_it = 1;
        else if (!strcmp(a, "--run") && v) run = argv[++i];
        else if (!strcmp(a, "--widths") && v) {
            o.nw = 0;
            for (char *s = argv[++i], *end; *s && o.nw < 16; s = *end ? end + 1 : end) {
                o.widths[o.nw++] = strtoll(s, &end, 10);
                if (end == s) break;
            }
        } else if (a[0] != '-' && np < 3) pos[np++] = a;
        else {
            fprintf(stderr, "usage: snapshot_write DIR MODEL EPOCH [--train N] [--test N] "
                            "[--widths a,b,c] [--pre] [--seed S] [--abort] | --run RUNDIR\n");
            return 2;
        }
    }
    if (o.nw < 2) {
        fprintf(stderr, "snapshot_write: --widths needs at least two widths\n");
        return 2;
    }
    if (run) return write_run(run, &o);
    if (np != 3) {
        fprintf(stderr, "usage: snapshot_write DIR MODEL EPOCH [options] | --run RUNDIR\n");
        return 2;
    }
    return write_one(pos[0], pos[1], atoll(pos[2]), &o);
}
