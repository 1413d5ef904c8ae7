/* run_index.c: the run index every per-run stage plans from (`nerve ph/pca/stats/
 * features RUN`): the run's snapshots grouped by model with their layer names, the
 * user's selection and the job-array slice applied, every listed file checked before
 * any work starts; plus what the stages share besides: a deterministic row subsample
 * and an atomic CSV writer. The snapshots are found only through the manifest (never
 * by listing directories), so a stage never opens a file a writer still holds.
 */
#include "nerve/run_index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/h5util.h"
#include "nerve/fsutil.h"
#include "nerve/parallel.h"
#include "nerve/snapshot.h"

static void free_strs(char **s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

static void free_model(nv_run_model *rm) {
    for (int64_t e = 0; e < rm->n_epochs; e++) free(rm->paths ? rm->paths[e] : NULL);
    free(rm->paths);
    free(rm->rel_paths);
    free(rm->epochs);
    free(rm->manifest_index);
    free(rm->selected);
    free(rm->owned);
    free_strs(rm->layers, rm->n_layers);
    free_strs(rm->stored_layers, rm->n_stored_layers);
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

/* Appends "a, b, c" to buf (bounded), for messages that list what exists. */
static void append_list(char *buf, size_t cap, const char *item) {
    size_t used = strlen(buf);
    if (used + 4 >= cap) return;
    snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", item);
}

/* Opens a listed snapshot, refusing a missing file (naming the manifest that lists
 * it) and a format or version this nerve does not read (nv_h5_check_format names
 * the file, what it found and what it reads). Returns the open file or -1. */
static hid_t open_listed(const char *path, const char *manifest, nv_error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        nv_fail(err, NV_EINPUT, "%s: snapshot listed in %s is missing", path, manifest);
        return -1;
    }
    nv_h5_quiet();
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return -1;
    if (nv_h5_check_format(fid, path, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, NULL, err) != NV_OK) {
        H5Fclose(fid);
        return -1;
    }
    return fid;
}

/* The layers an open snapshot holds, network order: the root attribute layer_names,
 * keeping the names whose group /layers/<name> is there. */
static nv_status stored_layers(hid_t fid, const char *path, nv_run_model *rm, nv_error *err) {
    char **names = NULL;
    int64_t n = 0;
    nv_status st = nv_h5_read_attr_strs(fid, "layer_names", &names, &n, path, "/", err);
    if (st != NV_OK) return st;
    rm->stored_layers = nv_calloc((size_t)(n > 0 ? n : 1), sizeof *rm->stored_layers, err);
    if (!rm->stored_layers) st = NV_ENOMEM;
    for (int64_t l = 0; l < n && st == NV_OK; l++) {
        char obj[128];
        snprintf(obj, sizeof obj, "layers/%s", names[l]);
        if (!nv_h5_exists(fid, obj)) continue;
        rm->stored_layers[rm->n_stored_layers] = strdup(names[l]);
        if (!rm->stored_layers[rm->n_stored_layers]) st = nv_fail(err, NV_ENOMEM, "out of memory");
        else rm->n_stored_layers++;
    }
    nv_h5_free_strs(names, n);
    return st;
}

/* A new model slot with room for `cap` epochs. */
static nv_status add_model(nv_run_model *rm, const char *model, int64_t cap, nv_error *err) {
    snprintf(rm->model, sizeof rm->model, "%s", model);
    rm->epochs = nv_calloc((size_t)cap, sizeof *rm->epochs, err);
    rm->paths = nv_calloc((size_t)cap, sizeof *rm->paths, err);
    rm->rel_paths = nv_calloc((size_t)cap, sizeof *rm->rel_paths, err);
    rm->manifest_index = nv_calloc((size_t)cap, sizeof *rm->manifest_index, err);
    rm->selected = nv_calloc((size_t)cap, 1, err);
    rm->owned = nv_calloc((size_t)cap, 1, err);
    if (!rm->epochs || !rm->paths || !rm->rel_paths || !rm->manifest_index || !rm->selected ||
        !rm->owned)
        return NV_ENOMEM;
    return NV_OK;
}

/* Groups the manifest's entries of selected models by model, keeping the manifest's
 * order of models and putting epochs in ascending order. */
static nv_status group_by_model(const char *run_dir, const nv_manifest *man, const nv_run_select *sel,
                                nv_run_index *out, nv_error *err) {
    size_t run_len = strlen(run_dir);
    for (int64_t i = 0; i < man->count; i++) {
        const nv_manifest_entry *me = &man->files[i];
        if (sel->n_models && !in_list(me->model, sel->models, sel->n_models)) continue;
        int m;
        for (m = 0; m < out->n_models; m++)
            if (!strcmp(out->models[m].model, me->model)) break;
        nv_run_model *rm = &out->models[m];
        if (m == out->n_models) {
            out->n_models++;
            nv_status st = add_model(rm, me->model, man->count, err);
            if (st != NV_OK) return st;
        }
        /* Keep epochs ascending (the manifest is sorted, but do not rely on it). */
        int64_t pos = rm->n_epochs;
        while (pos > 0 && rm->epochs[pos - 1] > me->epoch) pos--;
        if (pos > 0 && rm->epochs[pos - 1] == me->epoch)
            return nv_fail(err, NV_EINPUT, "run %s: manifest lists model %s epoch %lld twice",
                           run_dir, me->model, (long long)me->epoch);
        for (int64_t q = rm->n_epochs; q > pos; q--) {
            rm->epochs[q] = rm->epochs[q - 1];
            rm->paths[q] = rm->paths[q - 1];
            rm->rel_paths[q] = rm->rel_paths[q - 1];
            rm->manifest_index[q] = rm->manifest_index[q - 1];
        }
        size_t len = run_len + strlen("/snapshots/") + strlen(me->path) + 1;
        rm->paths[pos] = nv_malloc(len, err);
        if (!rm->paths[pos]) return NV_ENOMEM;
        snprintf(rm->paths[pos], len, "%s/snapshots/%s", run_dir, me->path);
        rm->rel_paths[pos] = rm->paths[pos] + run_len + 1;
        rm->epochs[pos] = me->epoch;
        rm->manifest_index[pos] = i;
        rm->n_epochs++;
    }
    return NV_OK;
}

/* Every selected model and epoch must exist; epochs become flags, and so does the
 * job-array slice. */
static nv_status apply_selection(const char *run_dir, const nv_manifest *man,
                                 const nv_run_index_opts *o, nv_run_index *out, nv_error *err) {
    const nv_run_select *sel = &o->select;
    for (int s = 0; s < sel->n_models; s++) {
        int found = 0;
        for (int m = 0; m < out->n_models; m++) found |= !strcmp(out->models[m].model, sel->models[s]);
        if (!found) {
            char have[512] = "";
            for (int64_t i = 0; i < man->count; i++)
                if (!strstr(have, man->files[i].model)) append_list(have, sizeof have, man->files[i].model);
            return nv_fail(err, NV_EINPUT, "run %s: no snapshots of model '%s' (the run has: %s)",
                           run_dir, sel->models[s], have);
        }
    }
    /* An epoch no selected model has is an error. */
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
            return nv_fail(err, NV_EINPUT, "run %s: no snapshot at epoch %lld (model %s has epochs: %s)",
                           run_dir, (long long)sel->epochs[s], rm->model, have);
        }
    }
    for (int m = 0; m < out->n_models; m++) {
        nv_run_model *rm = &out->models[m];
        for (int64_t e = 0; e < rm->n_epochs; e++) {
            int ok = !sel->n_epochs;
            for (int s = 0; s < sel->n_epochs; s++) ok |= sel->epochs[s] == rm->epochs[e];
            rm->selected[e] = (unsigned char)ok;
            rm->owned[e] = (unsigned char)(ok && nv_task_owns(rm->manifest_index[e], o->task, o->tasks));
            out->n_selected += rm->selected[e];
            out->n_owned += rm->owned[e];
        }
    }
    return NV_OK;
}

/* Checks every file of the index (manifest order within a model, models in order)
 * and reads the layers of each model's first snapshot. */
static nv_status check_files(const char *run_dir, nv_run_index *out, nv_error *err) {
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/snapshots/manifest.json", run_dir);
    for (int m = 0; m < out->n_models; m++) {
        nv_run_model *rm = &out->models[m];
        for (int64_t e = 0; e < rm->n_epochs; e++) {
            hid_t fid = open_listed(rm->paths[e], manifest, err);
            if (fid < 0) return err && err->status ? err->status : NV_EINPUT;
            /* Layer names from the first snapshot: the network is the same at every epoch. */
            nv_status st = e == 0 ? stored_layers(fid, rm->paths[e], rm, err) : NV_OK;
            H5Fclose(fid);
            if (st != NV_OK) return st;
        }
    }
    return NV_OK;
}

/* The selected layers of each model; a selected layer must exist in at least one
 * selected model (the linear baseline has no hidden layers; that alone is not an
 * error). */
static nv_status select_layers(const char *run_dir, const nv_run_index_opts *o, nv_run_index *out,
                               nv_error *err) {
    const nv_run_select *sel = &o->select;
    for (int m = 0; m < out->n_models; m++) {
        nv_run_model *rm = &out->models[m];
        rm->layers = nv_calloc((size_t)(rm->n_stored_layers > 0 ? rm->n_stored_layers : 1),
                               sizeof *rm->layers, err);
        if (!rm->layers) return NV_ENOMEM;
        for (int l = 0; l < rm->n_stored_layers; l++) {
            if (sel->n_layers && !in_list(rm->stored_layers[l], sel->layers, sel->n_layers)) continue;
            rm->layers[rm->n_layers] = strdup(rm->stored_layers[l]);
            if (!rm->layers[rm->n_layers]) return nv_fail(err, NV_ENOMEM, "out of memory");
            rm->n_layers++;
        }
    }
    int all_empty = 1;
    for (int m = 0; m < out->n_models; m++) all_empty &= out->models[m].n_layers == 0;
    for (int s = 0; s < sel->n_layers; s++) {
        int found = 0;
        for (int m = 0; m < out->n_models; m++)
            found |= in_list(sel->layers[s], (const char *const *)out->models[m].layers,
                             out->models[m].n_layers);
        if (!found) {
            char have[512] = "";
            const nv_run_model *rm = &out->models[0];
            for (int l = 0; l < rm->n_stored_layers; l++)
                append_list(have, sizeof have, rm->stored_layers[l]);
            return nv_fail(err, NV_EINPUT, "run %s: no layer '%s' in the snapshots (model %s has: %s)",
                           run_dir, sel->layers[s], rm->model, have);
        }
    }
    /* Models left without a selected layer have nothing to analyse: drop them (unless
     * the stage keeps them), so no stage writes a file without layers. */
    if (!all_empty && !o->keep_layerless) {
        int kept = 0;
        for (int m = 0; m < out->n_models; m++) {
            nv_run_model *rm = &out->models[m];
            if (rm->n_layers == 0) {
                for (int64_t e = 0; e < rm->n_epochs; e++) {
                    out->n_selected -= rm->selected[e];
                    out->n_owned -= rm->owned[e];
                }
                free_model(rm);
                continue;
            }
            if (kept != m) out->models[kept] = *rm;
            kept++;
        }
        out->n_models = kept;
    }
    return NV_OK;
}

nv_status nv_run_index_read(const char *run_dir, const nv_run_index_opts *o, nv_run_index *out,
                            nv_error *err) {
    memset(out, 0, sizeof *out);
    nv_run_index_opts none = {0};
    if (!o) o = &none;
    struct stat sb;
    if (stat(run_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nv_fail(err, NV_EINPUT, "run %s: not a directory: expected a run directory made "
                       "by nerve train", run_dir);
    if (o->tasks > 1 && (o->task < 0 || o->task >= o->tasks))
        return nv_fail(err, NV_EINPUT, "task %d of %d: expected 0 <= task < tasks", o->task, o->tasks);
    char snapdir[4096], manifest[4200];
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", run_dir);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", snapdir);
    /* nv_manifest_read takes a missing manifest for an empty one (training has not
     * finished a snapshot yet); here it means the directory is not a run. */
    if (stat(manifest, &sb) != 0)
        return nv_fail(err, NV_EINPUT, "%s: not a run directory (no snapshots/manifest.json; "
                       "expected the output directory of 'nerve train')", run_dir);
    nv_manifest man = {0};
    nv_status st = nv_manifest_read(snapdir, &man, err);
    if (st != NV_OK) return st;
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
    if ((st = group_by_model(run_dir, &man, &o->select, out, err)) != NV_OK) goto done;
    if ((st = apply_selection(run_dir, &man, o, out, err)) != NV_OK) goto done;
    if ((st = check_files(run_dir, out, err)) != NV_OK) goto done;
    st = select_layers(run_dir, o, out, err);
done:
    nv_manifest_free(&man);
    if (st != NV_OK) nv_run_index_free(out);
    return st;
}

nv_status nv_run_index_list(const nv_run_index *ix, int owned_only, nv_run_ref **refs, int64_t *n,
                            nv_error *err) {
    *refs = NULL;
    *n = 0;
    /* Manifest positions are unique and below n_manifest: place each file at its
     * position, then close the gaps (unselected files). */
    nv_run_ref *at = nv_malloc((size_t)(ix->n_manifest > 0 ? ix->n_manifest : 1) * sizeof *at, err);
    if (!at) return NV_ENOMEM;
    for (int64_t k = 0; k < ix->n_manifest; k++) at[k].m = -1;
    for (int m = 0; m < ix->n_models; m++) {
        const nv_run_model *rm = &ix->models[m];
        for (int64_t e = 0; e < rm->n_epochs; e++) {
            if (!(owned_only ? rm->owned[e] : rm->selected[e])) continue;
            at[rm->manifest_index[e]] = (nv_run_ref){m, e};
        }
    }
    int64_t k = 0;
    for (int64_t i = 0; i < ix->n_manifest; i++)
        if (at[i].m >= 0) at[k++] = at[i];
    *refs = at;
    *n = k;
    return NV_OK;
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
