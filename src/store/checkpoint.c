/* checkpoint.c: the training checkpoint of include/nerve/checkpoint.h. `nerve
 * train` writes one after each epoch (replacing the previous one atomically), and
 * --resume reads it back: parameters, optimiser state, step count and the metrics
 * table, plus the config text so a checkpoint from another config is refused. */
#include "nerve/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/h5util.h"

/* Names of nv_init_kind as stored in the file: a name survives renumbering of the
 * enum, an integer would not. */
static const char *const init_names[] = {"he", "xavier"};

void nv_checkpoint_free(nv_checkpoint *ck) {
    if (!ck) return;
    free(ck->params);
    free(ck->state1);
    free(ck->state2);
    nv_h5_free_strs(ck->metric_names, ck->metric_cols);
    free(ck->metrics);
    free(ck->config_text);
    memset(ck, 0, sizeof *ck);
}

nv_status nv_h5_write_spec(hid_t fid, const char *group, const nv_mlp_spec *s, const char *f,
                           nv_error *err) {
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(fid, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) return nv_h5_fail(err, NV_EIO, f, group, "cannot create group");
    nv_status st;
    const char *init = (unsigned)s->init < NV_ARRAY_LEN(init_names) ? init_names[s->init] : "?";
    if ((st = nv_h5_attr_i64(g, "nlayers", s->nlayers, f, err)) == NV_OK &&
        (st = nv_h5_attr_i64s(g, "widths", s->widths, s->nlayers + 1, f, err)) == NV_OK &&
        (st = nv_h5_attr_str(g, "activation", nv_activation_name(s->act), f, err)) == NV_OK &&
        (st = nv_h5_attr_f64(g, "leaky_slope", (double)s->leaky_slope, f, err)) == NV_OK)
        st = nv_h5_attr_str(g, "init", init, f, err);
    H5Gclose(g);
    return st;
}

/* The metrics table's column names, as an attribute of /metrics. */
static nv_status write_columns(hid_t ds, const nv_checkpoint *ck, const char *f, nv_error *err) {
    if (ck->metric_names)
        return nv_h5_attr_strs(ds, "columns", (const char *const *)ck->metric_names,
                               ck->metric_cols, f, err);
    int64_t n = ck->metric_cols;
    char(*buf)[32] = calloc((size_t)(n ? n : 1), sizeof *buf);
    const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    nv_status st;
    if (!buf || !names) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
    } else {
        for (int64_t i = 0; i < n; i++) {
            snprintf(buf[i], sizeof buf[i], "column%lld", (long long)i);
            names[i] = buf[i];
        }
        st = nv_h5_attr_strs(ds, "columns", names, n, f, err);
    }
    free(buf);
    free(names);
    return st;
}

nv_status nv_checkpoint_write(const char *path, const nv_checkpoint *ck, nv_error *err) {
    nv_h5_quiet();
    nv_status st = nv_mlp_spec_validate(&ck->spec, err);
    if (st != NV_OK) {
        nv_error_prefix(err, "checkpoint %s: ", path);
        return st;
    }
    if (ck->nparams != nv_mlp_param_count(&ck->spec) || !ck->params || !ck->state1 ||
        !ck->state2)
        return nv_fail(err, NV_EINTERNAL, "checkpoint %s: nparams %lld, the spec has %lld "
                       "(or an array is missing)", path, (long long)ck->nparams,
                       (long long)nv_mlp_param_count(&ck->spec));
    if ((unsigned)ck->spec.init >= NV_ARRAY_LEN(init_names))
        return nv_fail(err, NV_EINTERNAL, "checkpoint %s: unknown init kind %d", path,
                       (int)ck->spec.init);
    if (ck->metric_rows < 0 || ck->metric_cols < 0 ||
        (ck->metric_rows * ck->metric_cols > 0 && !ck->metrics))
        return nv_fail(err, NV_EINTERNAL, "checkpoint %s: metrics table %lld x %lld without "
                       "values", path, (long long)ck->metric_rows,
                       (long long)ck->metric_cols);
    char *tmp = NULL;
    hid_t fid = nv_h5_create_temp(path, &tmp, err);
    if (fid < 0) return err ? err->status : NV_EIO;
    int64_t n1[1] = {ck->nparams}, n2[2] = {ck->metric_rows, ck->metric_cols};
    if ((st = nv_h5_attr_str(fid, "format", NV_CHECKPOINT_FORMAT, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_CHECKPOINT_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "model", ck->model, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "epochs_completed", ck->epochs_completed, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "step", ck->step, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "config", ck->config_text ? ck->config_text : "", tmp, err)) ||
        (st = nv_h5_write_spec(fid, "spec", &ck->spec, tmp, err)) ||
        /* Contiguous and unfiltered: trained weights hardly compress, and resume
         * reads them whole. */
        (st = nv_h5_write_dataset(fid, "params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n1,
                                  ck->params, 0, tmp, err)) ||
        (st = nv_h5_write_dataset(fid, "state1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n1,
                                  ck->state1, 0, tmp, err)) ||
        (st = nv_h5_write_dataset(fid, "state2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, n1,
                                  ck->state2, 0, tmp, err)) ||
        (st = nv_h5_write_dataset(fid, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, n2,
                                  ck->metrics, 0, tmp, err)))
        goto fail;
    hid_t ds = H5Dopen2(fid, "metrics", H5P_DEFAULT);
    if (ds < 0) {
        st = nv_h5_fail(err, NV_EIO, tmp, "/metrics", "cannot reopen dataset");
        goto fail;
    }
    st = write_columns(ds, ck, tmp, err);
    H5Dclose(ds);
fail:
    return nv_h5_finish_temp(fid, tmp, path, st, err);
}

nv_status nv_h5_read_spec(hid_t fid, const char *group, nv_mlp_spec *s, const char *f,
                          nv_error *err) {
    if (!nv_h5_exists(fid, group))
        return nv_fail(err, NV_EINPUT, "file %s: group %s is missing", f, group);
    hid_t g = H5Gopen2(fid, group, H5P_DEFAULT);
    if (g < 0) return nv_h5_fail(err, NV_EINPUT, f, group, "cannot open group");
    memset(s, 0, sizeof *s);
    int64_t nl = 0, nw = 0;
    double slope = 0;
    char *act = NULL, *init = NULL;
    nv_status st;
    if ((st = nv_h5_read_attr_i64(g, "nlayers", &nl, f, group, err)) ||
        (st = nv_h5_read_attr_i64s(g, "widths", s->widths, NV_MAX_LAYERS + 1, &nw, f, group,
                                   err)) ||
        (st = nv_h5_read_attr_str(g, "activation", &act, f, group, err)) ||
        (st = nv_h5_read_attr_f64(g, "leaky_slope", &slope, f, group, err)) ||
        (st = nv_h5_read_attr_str(g, "init", &init, f, group, err)))
        goto done;
    if (nl < 1 || nl > NV_MAX_LAYERS || nw != nl + 1) {
        st = nv_fail(err, NV_EINPUT, "file %s: %s: nlayers %lld with %lld widths: expected "
                     "1..%d layers and nlayers+1 widths", f, group, (long long)nl, (long long)nw,
                     NV_MAX_LAYERS);
        goto done;
    }
    s->nlayers = (int)nl;
    int a = nv_activation_parse(act);
    if (a < 0) {
        st = nv_fail(err, NV_EINPUT, "file %s: %s: activation '%s' is not known", f, group, act);
        goto done;
    }
    s->act = (nv_activation)a;
    s->leaky_slope = (float)slope;
    size_t k;
    for (k = 0; k < NV_ARRAY_LEN(init_names); k++)
        if (strcmp(init, init_names[k]) == 0) break;
    if (k == NV_ARRAY_LEN(init_names)) {
        st = nv_fail(err, NV_EINPUT, "file %s: %s: init '%s': expected he or xavier", f, group, init);
        goto done;
    }
    s->init = (nv_init_kind)k;
    st = nv_mlp_spec_validate(s, err);
    if (st != NV_OK) nv_error_prefix(err, "file %s: %s: ", f, group);
done:
    free(act);
    free(init);
    H5Gclose(g);
    return st;
}

static nv_status read_vector(hid_t fid, const char *name, int64_t n, nv_real **out,
                             const char *f, nv_error *err) {
    int64_t d[1];
    void *buf = NULL;
    nv_status st = nv_h5_read_dataset(fid, name, H5T_NATIVE_FLOAT, sizeof(nv_real), 1, &buf, d, f,
                                      err);
    if (st != NV_OK) return st;
    if (d[0] != n) {
        free(buf);
        return nv_fail(err, NV_EINPUT, "file %s: %s has %lld values, the spec needs %lld", f,
                       name, (long long)d[0], (long long)n);
    }
    *out = buf;
    return NV_OK;
}

nv_status nv_checkpoint_read(const char *path, nv_checkpoint *ck, nv_error *err) {
    memset(ck, 0, sizeof *ck);
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    char *model = NULL;
    nv_status st;
    if ((st = nv_h5_check_format(fid, path, NV_CHECKPOINT_FORMAT, NV_CHECKPOINT_VERSION, NULL,
                                 err)) ||
        (st = nv_h5_read_attr_str(fid, "model", &model, path, "/", err)) ||
        (st = nv_h5_read_attr_i64(fid, "epochs_completed", &ck->epochs_completed, path, "/",
                                  err)) ||
        (st = nv_h5_read_attr_i64(fid, "step", &ck->step, path, "/", err)) ||
        (st = nv_h5_read_attr_str(fid, "config", &ck->config_text, path, "/", err)) ||
        (st = nv_h5_read_spec(fid, "/spec", &ck->spec, path, err)))
        goto done;
    if (strlen(model) >= sizeof ck->model) {
        st = nv_fail(err, NV_EINPUT, "file %s: model name '%s' is longer than %zu characters",
                     path, model, sizeof ck->model - 1);
        goto done;
    }
    snprintf(ck->model, sizeof ck->model, "%s", model);
    ck->nparams = nv_mlp_param_count(&ck->spec);
    if ((st = read_vector(fid, "/params", ck->nparams, &ck->params, path, err)) ||
        (st = read_vector(fid, "/state1", ck->nparams, &ck->state1, path, err)) ||
        (st = read_vector(fid, "/state2", ck->nparams, &ck->state2, path, err)))
        goto done;
    int64_t d[2];
    void *buf = NULL;
    st = nv_h5_read_dataset(fid, "/metrics", H5T_NATIVE_DOUBLE, sizeof(double), 2, &buf, d, path,
                            err);
    if (st != NV_OK) goto done;
    ck->metrics = buf;
    ck->metric_rows = d[0];
    hid_t ds = H5Dopen2(fid, "/metrics", H5P_DEFAULT);
    int64_t ncol = 0;
    char **names = NULL;
    st = nv_h5_read_attr_strs(ds, "columns", &names, &ncol, path, "/metrics", err);
    ck->metric_names = names;
    H5Dclose(ds);
    ck->metric_cols = ncol;
    if (st == NV_OK && ncol != d[1])
        st = nv_fail(err, NV_EINPUT, "file %s: /metrics has %lld columns but %lld column names",
                     path, (long long)d[1], (long long)ncol);
done:
    free(model);
    H5Fclose(fid);
    if (st != NV_OK) nv_checkpoint_free(ck);
    return st;
}
