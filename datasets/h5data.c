/* h5data.c: the dataset file (HDF5, format "nerve-dataset" version 1) that
 * `nerve data` writes and `nerve train` reads, and the import of user arrays from
 * any HDF5 file.
 *
 * The layout is documented in include/nerve/dataset.h and docs/data.md. The file is
 * written through src/store/h5util.h's temporary-name-and-rename helpers, so a crash or a
 * failed write never leaves a partial dataset file under the final name, and with
 * object times off so the same data gives the same bytes. Readers check the format
 * name and version first, then every shape and value, so a later stage never
 * trains on a file it half understands.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/h5util.h"
#include "nerve/dataset.h"

/* The output directory must exist and be writable: that is the user's input (a
 * path), so it is NV_EINPUT naming the directory, not an I/O failure. access()
 * also reports EROFS for a read-only file system, even to root. */
static nv_status check_out_dir(const char *path, nv_error *err) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (slash && slash[1] == '\0')
        return nv_fail(err, NV_EINPUT, "output %s: expected a file name, found a directory path", path);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return nv_fail(err, NV_EINPUT, "output directory %s: %s (writing %s)", dir, strerror(errno), path);
    if (!S_ISDIR(sb.st_mode))
        return nv_fail(err, NV_EINPUT, "output directory %s: not a directory (writing %s)", dir, path);
    if (access(dir, W_OK | X_OK) != 0)
        return nv_fail(err, NV_EINPUT, "output directory %s: not writable: %s (writing %s)", dir,
                       strerror(errno), path);
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return nv_fail(err, NV_EINPUT, "output %s: is a directory, expected a file name", path);
    return NV_OK;
}

static nv_status write_set(hid_t fid, const char *group, const nv_dataset *ds, const char *file,
                           nv_error *err) {
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(fid, group, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) return nv_h5_fail(err, NV_EIO, file, group, "cannot create group");
    const int64_t xd[2] = {ds->n, ds->d}, n1[1] = {ds->n};
    nv_status st = nv_h5_write_dataset(g, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, xd, ds->x, 1,
                                       file, err);
    if (!st)
        st = nv_h5_write_dataset(g, "y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n1, ds->y, 1, file, err);
    if (!st)
        st = nv_h5_write_dataset(g, "ids", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, n1, ds->ids, 1, file,
                                 err);
    H5Gclose(g);
    return st;
}

nv_status nv_dataset_save(const char *path, const nv_dataset *train, const nv_dataset *test,
                          const char *source, nv_error *err) {
    nv_status st;
    if ((st = nv_dataset_validate(train, "training set", err))) return st;
    if ((st = nv_dataset_validate(test, "test set", err))) return st;
    if (train->d != test->d)
        return nv_fail(err, NV_EINPUT, "%s: training set has %lld features, test set %lld: expected the same",
                       path, (long long)train->d, (long long)test->d);
    if ((st = check_out_dir(path, err))) return st;
    char *tmp = NULL;
    hid_t fid = nv_h5_create_temp(path, &tmp, err);
    if (fid < 0) return err ? err->status : NV_EIO;
    const int64_t nclasses = NV_MAX(train->nclasses, test->nclasses);
    if ((st = nv_h5_attr_str(fid, "format", NV_DATASET_FORMAT, tmp, err))) goto fail;
    if ((st = nv_h5_attr_i64(fid, "format_version", NV_DATASET_VERSION, tmp, err))) goto fail;
    if ((st = nv_h5_attr_i64(fid, "nclasses", nclasses, tmp, err))) goto fail;
    if ((st = nv_h5_attr_str(fid, "source", source ? source : "", tmp, err))) goto fail;
    if ((st = nv_h5_attr_str(fid, "nerve_version", NERVE_VERSION, tmp, err))) goto fail;
    if ((st = write_set(fid, "train", train, tmp, err))) goto fail;
    if ((st = write_set(fid, "test", test, tmp, err))) goto fail;
fail:
    return nv_h5_finish_temp(fid, tmp, path, st, err);
}

/* Reads /<group>/{x,y,ids} into ds and checks their shapes against each other and
 * against d_expect (when > 0). */
static nv_status read_set(hid_t fid, const char *path, const char *group, int32_t nclasses,
                          int64_t d_expect, nv_dataset *ds, nv_error *err) {
    char name[64], what[4200];
    int64_t xd[2] = {0, 0}, yd[1] = {0}, id[1] = {0};
    void *x = NULL, *y = NULL, *ids = NULL;
    nv_status st;
    memset(ds, 0, sizeof *ds);
    snprintf(name, sizeof name, "%s/x", group);
    if ((st = nv_h5_read_dataset(fid, name, H5T_NATIVE_FLOAT, sizeof(float), 2, &x, xd, path, err)))
        goto fail;
    snprintf(name, sizeof name, "%s/y", group);
    if ((st = nv_h5_read_dataset(fid, name, H5T_NATIVE_INT32, sizeof(int32_t), 1, &y, yd, path, err)))
        goto fail;
    snprintf(name, sizeof name, "%s/ids", group);
    if ((st = nv_h5_read_dataset(fid, name, H5T_NATIVE_INT64, sizeof(int64_t), 1, &ids, id, path, err)))
        goto fail;
    if (yd[0] != xd[0] || id[0] != xd[0]) {
        st = nv_fail(err, NV_EINPUT, "file %s: /%s: x has %lld rows, y %lld, ids %lld: expected the same",
                     path, group, (long long)xd[0], (long long)yd[0], (long long)id[0]);
        goto fail;
    }
    if (xd[1] < 1 || (d_expect > 0 && xd[1] != d_expect)) {
        st = nv_fail(err, NV_EINPUT, "file %s: /%s/x has %lld columns: expected %lld", path, group,
                     (long long)xd[1], (long long)(d_expect > 0 ? d_expect : 1));
        goto fail;
    }
    ds->n = xd[0];
    ds->d = xd[1];
    ds->nclasses = nclasses;
    ds->x = x;
    ds->y = y;
    ds->ids = ids;
    snprintf(what, sizeof what, "file %s: /%s", path, group);
    if ((st = nv_dataset_validate(ds, what, err))) {
        nv_dataset_free(ds);
        return st;
    }
    return NV_OK;
fail:
    free(x);
    free(y);
    free(ids);
    return st;
}

nv_status nv_dataset_load(const char *path, nv_dataset *train, nv_dataset *test, nv_error *err) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    int64_t version = 0, nclasses = 0;
    nv_status st = nv_h5_check_format(fid, path, NV_DATASET_FORMAT, NV_DATASET_VERSION, &version, err);
    if (!st) st = nv_h5_read_attr_i64(fid, "nclasses", &nclasses, path, "/", err);
    if (!st && (nclasses < 1 || nclasses > NV_MAX_CLASSES))
        st = nv_fail(err, NV_EINPUT, "file %s: attribute nclasses %lld: expected 1 .. %d", path,
                     (long long)nclasses, NV_MAX_CLASSES);
    if (!st) st = read_set(fid, path, "train", (int32_t)nclasses, 0, train, err);
    if (!st) st = read_set(fid, path, "test", (int32_t)nclasses, train->d, test, err);
    H5Fclose(fid);
    if (st) {
        nv_dataset_free(train);
        nv_dataset_free(test);
    }
    return st;
}

/* --- import of user arrays --------------------------------------------------- */

/* Opens dataset `obj` and checks its type class and rank; dims get its shape. */
static nv_status probe(hid_t fid, const char *path, const char *obj, int rank, int want_float_ok,
                       int64_t *dims, nv_error *err) {
    if (!nv_h5_exists(fid, obj))
        return nv_fail(err, NV_EINPUT, "file %s: dataset %s: not found", path, obj);
    if (H5Oexists_by_name(fid, obj, H5P_DEFAULT) <= 0)
        return nv_fail(err, NV_EINPUT, "file %s: dataset %s: a dangling link", path, obj);
    H5O_info_t info;
    if (H5Oget_info_by_name(fid, obj, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
        return nv_fail(err, NV_EINPUT, "file %s: %s: expected a dataset, found a group or another object",
                       path, obj);
    hid_t ds = H5Dopen2(fid, obj, H5P_DEFAULT);
    if (ds < 0) return nv_h5_fail(err, NV_EINPUT, path, obj, "cannot open dataset");
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    H5T_class_t c = H5Tget_class(t);
    int r = H5Sget_simple_extent_ndims(sp);
    hsize_t d[H5S_MAX_RANK];
    nv_status st = NV_OK;
    if (!(c == H5T_INTEGER || (want_float_ok && c == H5T_FLOAT)))
        st = nv_fail(err, NV_EINPUT, "file %s: dataset %s: element type is not %s", path, obj,
                     want_float_ok ? "a number (float or integer)" : "an integer");
    else if (r != rank)
        st = nv_fail(err, NV_EINPUT, "file %s: dataset %s: %d dimensions: expected %d (%s)", path,
                     obj, r, rank, rank == 2 ? "samples x features" : "one label per sample");
    else {
        H5Sget_simple_extent_dims(sp, d, NULL);
        for (int i = 0; i < r; i++) dims[i] = (int64_t)d[i];
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

nv_status nv_h5_import(const char *path, const char *x_path, const char *y_path,
                       nv_dataset *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    int64_t xd[2] = {0, 0}, yd[1] = {0};
    void *x = NULL, *y = NULL;
    nv_status st;
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    if ((st = probe(fid, path, x_path, 2, 1, xd, err))) goto done;
    if ((st = probe(fid, path, y_path, 1, 0, yd, err))) goto done;
    if (xd[0] != yd[0]) {
        st = nv_fail(err, NV_EINPUT, "file %s: dataset %s has %lld rows but %s has %lld labels: expected the same",
                     path, x_path, (long long)xd[0], y_path, (long long)yd[0]);
        goto done;
    }
    if (xd[0] < 1 || xd[1] < 1) {
        st = nv_fail(err, NV_EINPUT, "file %s: dataset %s: shape (%lld, %lld): expected at least one row and one column",
                     path, x_path, (long long)xd[0], (long long)xd[1]);
        goto done;
    }
    /* HDF5 converts any numeric type to float on read; a double beyond float's range
     * becomes inf, which the finiteness check below reports with its position. */
    if ((st = nv_h5_read_dataset(fid, x_path, H5T_NATIVE_FLOAT, sizeof(float), 2, &x, xd, path, err)))
        goto done;
    if ((st = nv_h5_read_dataset(fid, y_path, H5T_NATIVE_INT64, sizeof(int64_t), 1, &y, yd, path, err)))
        goto done;
    const int64_t *y64 = y;
    int64_t maxlab = 0;
    for (int64_t i = 0; i < yd[0]; i++) {
        if (y64[i] < 0 || y64[i] >= NV_MAX_CLASSES) {
            st = nv_fail(err, NV_EINPUT, "file %s: dataset %s: element %lld: label %lld: expected 0 .. %d",
                         path, y_path, (long long)i, (long long)y64[i], NV_MAX_CLASSES - 1);
            goto done;
        }
        maxlab = NV_MAX(maxlab, y64[i]);
    }
    const float *xf = x;
    for (int64_t i = 0; i < xd[0] * xd[1]; i++)
        if (!isfinite(xf[i])) {
            st = nv_fail(err, NV_EINPUT,
                         "file %s: dataset %s: row %lld, column %lld: value %g: expected a finite number%s",
                         path, x_path, (long long)(i / xd[1]), (long long)(i % xd[1]), (double)xf[i],
                         " (values beyond float's range also become inf)");
            goto done;
        }
    if ((st = nv_dataset_alloc(out, 0, xd[1], err))) goto done;
    /* Keep HDF5's buffer as the dataset's x rather than copy it. */
    free(out->x);
    out->x = x;
    x = NULL;
    out->n = xd[0];
    free(out->y);
    free(out->ids);
    out->y = nv_malloc((size_t)xd[0] * sizeof *out->y, err);
    out->ids = nv_malloc((size_t)xd[0] * sizeof *out->ids, err);
    if (!out->y || !out->ids) { st = NV_ENOMEM; goto done; }
    for (int64_t i = 0; i < xd[0]; i++) {
        out->y[i] = (int32_t)y64[i];
        out->ids[i] = i;
    }
    out->nclasses = (int32_t)maxlab + 1;
done:
    free(x);
    free(y);
    H5Fclose(fid);
    if (st) nv_dataset_free(out);
    return st;
}
