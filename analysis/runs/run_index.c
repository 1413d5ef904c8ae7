/* run_index.c: what the run-level analysis stages (`nerve pca RUN`, `nerve
 * stats RUN`) share: the run's snapshots grouped by model with their layer names
 * and the user's selection applied, a deterministic row subsample, and an atomic
 * CSV writer. The snapshots are found only through the manifest (never by
 * listing directories), so a stage never opens a file a writer still holds.
 */
#include "nerve/run_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/h5util.h"
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"

static void free_model(nv_run_model *rm) {
    for (int64_t e = 0; e < rm->n_epochs; e++) free(rm->paths ? rm->paths[e] : NULL);
    free(rm->paths);
    free(rm->epochs);
    free(rm->manifest_index);
    free(rm->selected);
    for (int l = 0; l < rm->n_layers; l++) free(rm->layers[l]);
    free(rm->layers);
    memset(rm, 0, sizeof *rm);
}

void nv_run_index_free(nv_run_index *ix) {
    if (!ix) return;
    for (int m = 0; m < ix->n_models; m++) free_model(&ix->models[m]);
    free(ix->models);
    memset(ix, 0, sizeof *ix);
}

static int in_list(const char *name, const char *const *list, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(name, list[i])) return 1;
    return 0;
}

/* The layer names of one snapshot, checking its format and version first (the
 * snapshot readers refuse an unknown version the same way). */
static nv_status snapshot_layer_names(const char *path, char ***names, int64_t *n, nv_error *err) {
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
    nv_status st = nv_h5_check_format(fid, path, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, NULL, err);
    if (st == NV_OK) st = nv_h5_read_attr_strs(fid, "layer_names", names, n, path, "/", err);
    H5Fclose(fid);
    return st;
}

/* Appends "a, b, c" to buf (bounded), for messages that list what exists. */
static void append_list(char *buf, size_t cap, const char *item) {
    size_t used = strlen(buf);
    if (used + 4 >= cap) return;
    snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", item);
}

nv_status nv_run_index_read(const char *run_dir, const nv_run_select *sel, nv_run_index *out,
                            nv_error *err) {
    memset(out, 0, sizeof *out);
    nv_run_select none = {0};
    if (!sel) sel = &none;
    struct stat sb;
    if (stat(run_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nv_fail(err, NV_EINPUT, "run %s: not a directory: expected a run directory made "
                       "by nerve train", run_dir);
    char snapdir[4096];
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", run_dir);
    nv_manifest man = {0};
    nv_status st = nv_manifest_read(snapdir, &man, err);
    if (st != NV_OK) return st;
    char **names = NULL;
    int64_t n_names = 0;
    if (man.count == 0) {
        st = nv_fail(err, NV_EINPUT, "run %s: %s/manifest.json lists no snapshots: expected a run "
                     "with snapshots (run nerve train first)", run_dir, snapdir);
        goto done;
    }
    out->n_manifest = man.count;
    out->models = nv_calloc((size_t)man.count, sizeof *out->models, err);
    if (!out->models) {
        st = NV_ENOMEM;
        goto done;
    }
    /* Group by model, keeping the manifest's order of models. */
    for (int64_t i = 0; i < man.count; i++) {
        const nv_manifest_entry *me = &man.files[i];
        if (sel->n_models && !in_list(me->model, sel->models, sel->n_models)) continue;
        int m;
        for (m = 0; m < out->n_models; m++)
            if (!strcmp(out->models[m].model, me->model)) break;
        nv_run_model *rm = &out->models[m];
        if (m == out->n_models) {
            out->n_models++;
            snprintf(rm->model, sizeof rm->model, "%s", me->model);
            rm->epochs = nv_calloc((size_t)man.count, sizeof *rm->epochs, err);
            rm->paths = nv_calloc((size_t)man.count, sizeof *rm->paths, err);
            rm->manifest_index = nv_calloc((size_t)man.count, sizeof *rm->manifest_index, err);
            rm->selected = nv_calloc((size_t)man.count, 1, err);
            if (!rm->epochs || !rm->paths || !rm->manifest_index || !rm->selected) {
                st = NV_ENOMEM;
                goto done;
            }
        }
        /* Keep epochs ascending (the manifest is sorted, but do not rely on it). */
        int64_t pos = rm->n_epochs;
        while (pos > 0 && rm->epochs[pos - 1] > me->epoch) pos--;
        if (pos > 0 && rm->epochs[pos - 1] == me->epoch) {
            st = nv_fail(err, NV_EINPUT, "run %s: manifest lists model %s epoch %lld twice",
                         run_dir, me->model, (long long)me->epoch);
            goto done;
        }
        for (int64_t q = rm->n_epochs; q > pos; q--) {
            rm->epochs[q] = rm->epochs[q - 1];
            rm->paths[q] = rm->paths[q - 1];
            rm->manifest_index[q] = rm->manifest_index[q - 1];
        }
        size_t len = strlen(snapdir) + strlen(me->path) + 2;
        rm->paths[pos] = nv_malloc(len, err);
        if (!rm->paths[pos]) {
            st = NV_ENOMEM;
            goto done;
        }
        snprintf(rm->paths[pos], len, "%s/%s", snapdir, me->path);
        rm->epochs[pos] = me->epoch;
        rm->manifest_index[pos] = i;
        rm->n_epochs++;
    }
    /* Every selected model must exist. */
    for (int s = 0; s < sel->n_models; s++) {
        int found = 0;
        for (int m = 0; m < out->n_models; m++) found |= !strcmp(out->models[m].model, sel->models[s]);
        if (!found) {
            char have[512] = "";
            for (int64_t i = 0; i < man.count; i++)
                if (!strstr(have, man.files[i].model)) append_list(have, sizeof have, man.files[i].model);
            st = nv_fail(err, NV_EINPUT, "run %s: no snapshots of model '%s' (the run has: %s)",
                         run_dir, sel->models[s], have);
            goto done;
        }
    }
    /* Epoch selection: flags; an epoch no selected model has is an error. */
    for (int s = 0; s < sel->n_epochs; s++) {
        int found = 0;
        for (int m = 0; m < out->n_models; m++)
            for (int64_t e = 0; e < out->models[m].n_epochs; e++)
                found |= out->models[m].epochs[e] == sel->epochs[s];
        if (!found) {
            char have[512] = "", num[32];
            const nv_run_model *rm = &out->models[0];
            for (int64_t e = 0; e < rm->n_epochs; e++) {
                snprintf(num, sizeof num, "%lld", (long long)rm->epochs[e]);
                append_list(have, sizeof have, num);
            }
            st = nv_fail(err, NV_EINPUT, "run %s: no snapshot at epoch %lld (model %s has epochs: %s)",
                         run_dir, (long long)sel->epochs[s], rm->model, have);
            goto done;
        }
    }
    for (int m = 0; m < out->n_models; m++) {
        nv_run_model *rm = &out->models[m];
        for (int64_t e = 0; e < rm->n_epochs; e++) {
            int ok = !sel->n_epochs;
            for (int s = 0; s < sel->n_epochs; s++) ok |= sel->epochs[s] == rm->epochs[e];
            rm->selected[e] = (unsigned char)ok;
        }
        /* Layer names from the first snapshot: the network is the same at every epoch. */
        st = snapshot_layer_names(rm->paths[0], &names, &n_names, err);
        if (st != NV_OK) goto done;
        rm->layers = nv_calloc((size_t)(n_names > 0 ? n_names : 1), sizeof *rm->layers, err);
        if (!rm->layers) {
            st = NV_ENOMEM;
            goto done;
        }
        for (int64_t l = 0; l < n_names; l++) {
            if (sel->n_layers && !in_list(names[l], sel->layers, sel->n_layers)) continue;
            rm->layers[rm->n_layers] = strdup(names[l]);
            if (!rm->layers[rm->n_layers]) {
                st = nv_fail(err, NV_ENOMEM, "out of memory");
                goto done;
            }
            rm->n_layers++;
        }
        nv_h5_free_strs(names, n_names);
        names = NULL;
        n_names = 0;
    }
    /* A selected layer must exist in at least one selected model (the linear
     * baseline has no hidden layers; that alone is not an error). */
    int all_empty = 1;
    for (int m = 0; m < out->n_models; m++) all_empty &= out->models[m].n_layers == 0;
    for (int s = 0; s < sel->n_layers; s++) {
        int found = 0;
        for (int m = 0; m < out->n_models; m++)
            found |= in_list(sel->layers[s], (const char *const *)out->models[m].layers,
                             out->models[m].n_layers);
        if (!found) {
            char have[512] = "";
            st = snapshot_layer_names(out->models[0].paths[0], &names, &n_names, err);
            if (st != NV_OK) goto done;
            for (int64_t l = 0; l < n_names; l++) append_list(have, sizeof have, names[l]);
            st = nv_fail(err, NV_EINPUT, "run %s: no layer '%s' in the snapshots (model %s has: %s)",
                         run_dir, sel->layers[s], out->models[0].model, have);
            goto done;
        }
    }
    /* Models left without a selected layer have nothing to analyse: drop them, so no
     * stage writes a file without layers. */
    if (!all_empty) {
        int kept = 0;
        for (int m = 0; m < out->n_models; m++) {
            if (out->models[m].n_layers == 0) {
                free_model(&out->models[m]);
                continue;
            }
            if (kept != m) out->models[kept] = out->models[m];
            kept++;
        }
        out->n_models = kept;
    }
    st = NV_OK;
done:
    nv_h5_free_strs(names, n_names);
    nv_manifest_free(&man);
    if (st != NV_OK) nv_run_index_free(out);
    return st;
}

void nv_run_strided_rows(int64_t n, int64_t m, int64_t *idx) {
    for (int64_t i = 0; i < m; i++) idx[i] = (int64_t)(((__int128)i * n) / m);
}

nv_status nv_csv_write_matrix(const char *path, const char *header, const double *x, int64_t rows,
                              int64_t cols, nv_error *err) {
    /* 25 bytes per %.17g number plus separators is enough for any double. */
    size_t cap = (header ? strlen(header) + 2 : 1) + (size_t)rows * (size_t)cols * 26 + 16;
    char *buf = nv_malloc(cap, err);
    if (!buf) return NV_ENOMEM;
    size_t used = 0;
    if (header) used += (size_t)snprintf(buf, cap, "%s\n", header);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            used += (size_t)snprintf(buf + used, cap - used, "%.17g%c", x[i * cols + j],
                                     j + 1 < cols ? ',' : '\n');
    buf[used] = '\0';
    nv_status st = nv_atomic_write_text(path, buf, err);
    free(buf);
    return st;
}
