/* h5util.c: private HDF5 helpers (see h5util.h): quiet error stack turned into
 * nv_error messages, string attributes h5py reads as str, crash-safe temporary
 * files, time-free property lists for same-bytes output, and small typed readers. */
#include "h5util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "nerve/fsutil.h"

void nv_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* The innermost message of the current HDF5 error stack: the frame nearest to the
 * actual cause ("unable to open file", "can't read data"...), which says the most. */
static herr_t first_desc(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    if (n != 0 || !e->desc) return 0;
    /* The file drivers' messages are long and multi-line ("file write failed: time
     * = ..., filename = ..., errno = 28, error message = 'No space left on device',
     * ..."): keep what they say and the system's reason, on one line. */
    const char *why = strstr(e->desc, "error message = '");
    const char *colon = strchr(e->desc, ':');
    if (why && colon && colon < why) {
        why += strlen("error message = '");
        const char *end = strchr(why, '\'');
        snprintf(buf, 256, "%.*s: %.*s", (int)(colon - e->desc), e->desc, (int)(end ? end - why : 80), why);
    } else {
        snprintf(buf, 256, "%s", e->desc);
        for (char *c = buf; *c; c++)
            if (*c == '\n') *c = ' ';
    }
    return 0;
}

/* HDF5 closes every file still open when the process exits (H5_term_library). A
 * file whose close failed (a full disk under its last write) stays half-closed,
 * and closing it again there crashes inside libhdf5 1.10.8. nerve closes what it
 * opens and removes a temporary whose close failed, so nothing is lost by letting
 * the process end without HDF5's own clean-up; it must be asked before HDF5's
 * first use, hence a constructor. */
__attribute__((constructor)) static void nv_h5_no_atexit(void) { H5dont_atexit(); }

nv_status nv_h5_fail(nv_error *err, nv_status status, const char *file, const char *object,
                     const char *fmt, ...) {
    char what[512], cause[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_desc, cause);
    H5Eclear2(H5E_DEFAULT);
    if (object)
        return nv_fail(err, status, "file %s: object %s: %s%s%s%s", file, object, what,
                       cause[0] ? " (HDF5: " : "", cause, cause[0] ? ")" : "");
    return nv_fail(err, status, "file %s: %s%s%s%s", file, what, cause[0] ? " (HDF5: " : "",
                   cause, cause[0] ? ")" : "");
}

/* Object modification times are the one clock HDF5 stores; without them two
 * identical writes are byte-identical files. */
static hid_t untimed(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}
hid_t nv_h5_fcpl(void) { return untimed(H5P_FILE_CREATE); }
hid_t nv_h5_gcpl(void) { return untimed(H5P_GROUP_CREATE); }
hid_t nv_h5_dcpl(void) { return untimed(H5P_DATASET_CREATE); }

hid_t nv_h5_create_temp(const char *final_path, char **tmp_path, nv_error *err) {
    *tmp_path = NULL;
    char *tmp = nv_temp_path(final_path, err);
    if (!tmp) return H5I_INVALID_HID;
    nv_h5_quiet();
    hid_t fcpl = nv_h5_fcpl(), fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* The 1.10 file format: the virtual datasets need HDF5 1.10 to be read anyway,
     * and its compact groups and chunk indexes make a small snapshot about 5x
     * smaller than the 1.8-compatible default. */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    hid_t fid = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fid < 0) {
        nv_h5_fail(err, NV_EIO, final_path, NULL, "cannot create its temporary file %s", tmp);
        unlink(tmp); /* H5Fcreate may fail after creating it (its first write) */
    }
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (fid < 0) {
        free(tmp);
        return H5I_INVALID_HID;
    }
    *tmp_path = tmp;
    return fid;
}

void nv_h5_discard_temp(hid_t fid, const char *tmp_path) {
    if (fid >= 0) H5Fclose(fid);
    /* Closing a file whose writes fail fails too, and leaves its messages on this
     * thread's HDF5 error stack, which nothing else would clear (HDF5's clean-up
     * at exit is off, nv_h5_no_atexit): the error has already been reported. */
    H5Eclear2(H5E_DEFAULT);
    if (tmp_path) unlink(tmp_path);
}

nv_status nv_h5_finish_temp(hid_t fid, char *tmp_path, const char *final_path, nv_status st,
                            nv_error *err) {
    if (st == NV_OK) st = nv_h5_commit_temp(fid, tmp_path, final_path, err);
    else nv_h5_discard_temp(fid, tmp_path);
    free(tmp_path);
    return st;
}

nv_status nv_h5_commit_temp(hid_t fid, const char *tmp_path, const char *final_path,
                            nv_error *err) {
    if (H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0) {
        nv_h5_fail(err, NV_EIO, final_path, NULL, "cannot write it (flush of %s failed)", tmp_path);
        nv_h5_discard_temp(fid, tmp_path);
        return err ? err->status : NV_EIO;
    }
    if (H5Fclose(fid) < 0) {
        nv_h5_fail(err, NV_EIO, final_path, NULL, "cannot write it (close of %s failed)", tmp_path);
        unlink(tmp_path);
        return err ? err->status : NV_EIO;
    }
    return nv_publish_temp(tmp_path, final_path, err);
}

void nv_h5_start_writeback(hid_t fid) {
#ifdef SYNC_FILE_RANGE_WRITE
    int *fd = NULL;
    /* the sec2 driver's handle is its file descriptor */
    if (H5Fget_vfd_handle(fid, H5P_DEFAULT, (void **)&fd) >= 0 && fd && *fd >= 0)
        (void)sync_file_range(*fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fid;
#endif
}

/* --- attributes (write) ------------------------------------------------------- */
static hid_t vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Writes one attribute of `ftype` over `space`, replacing an existing one of the
 * same name (so callers can set a value twice, e.g. layer_names at commit). */
static nv_status write_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hid_t space,
                            const void *buf, const char *file, nv_error *err) {
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return nv_h5_fail(err, NV_EIO, file, name, "cannot create attribute");
    herr_t rc = H5Awrite(a, mtype, buf);
    nv_status st = NV_OK;
    if (rc < 0) st = nv_h5_fail(err, NV_EIO, file, name, "cannot write attribute");
    H5Aclose(a);
    return st;
}

nv_status nv_h5_attr_str(hid_t loc, const char *name, const char *value, const char *file,
                         nv_error *err) {
    hid_t t = vlen_utf8(), s = H5Screate(H5S_SCALAR);
    const char *v = value ? value : "";
    nv_status st = write_attr(loc, name, t, t, s, &v, file, err);
    H5Sclose(s);
    H5Tclose(t);
    return st;
}

nv_status nv_h5_attr_strs(hid_t loc, const char *name, const char *const *values, int64_t n,
                          const char *file, nv_error *err) {
    hsize_t d = (hsize_t)n;
    hid_t t = vlen_utf8(), s = H5Screate_simple(1, &d, NULL);
    nv_status st = write_attr(loc, name, t, t, s, values, file, err);
    H5Sclose(s);
    H5Tclose(t);
    return st;
}

static nv_status attr_scalar(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
                             const void *v, const char *file, nv_error *err) {
    hid_t s = H5Screate(H5S_SCALAR);
    nv_status st = write_attr(loc, name, ftype, mtype, s, v, file, err);
    H5Sclose(s);
    return st;
}

nv_status nv_h5_attr_i64(hid_t loc, const char *name, int64_t value, const char *file,
                         nv_error *err) {
    return attr_scalar(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, file, err);
}
nv_status nv_h5_attr_u64(hid_t loc, const char *name, uint64_t value, const char *file,
                         nv_error *err) {
    return attr_scalar(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &value, file, err);
}
nv_status nv_h5_attr_f64(hid_t loc, const char *name, double value, const char *file,
                         nv_error *err) {
    return attr_scalar(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, file, err);
}
nv_status nv_h5_attr_i64s(hid_t loc, const char *name, const int64_t *values, int64_t n,
                          const char *file, nv_error *err) {
    hsize_t d = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &d, NULL);
    nv_status st = write_attr(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, s, values, file, err);
    H5Sclose(s);
    return st;
}

/* --- attributes (read) -------------------------------------------------------- */
static hid_t open_attr(hid_t loc, const char *name, const char *file, const char *object,
                       nv_error *err) {
    if (H5Aexists(loc, name) <= 0) {
        nv_fail(err, NV_EINPUT, "file %s: object %s: attribute '%s' is missing", file,
                object ? object : "/", name);
        return H5I_INVALID_HID;
    }
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) nv_h5_fail(err, NV_EINPUT, file, object, "cannot open attribute '%s'", name);
    return a;
}

nv_status nv_h5_read_attr_str(hid_t loc, const char *name, char **out, const char *file,
                              const char *object, nv_error *err) {
    *out = NULL;
    hid_t a = open_attr(loc, name, file, object, err);
    if (a < 0) return err ? err->status : NV_EINPUT;
    nv_status st = NV_OK;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a), mt = H5I_INVALID_HID;
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
        st = nv_fail(err, NV_EINPUT,
                     "file %s: object %s: attribute '%s': expected one string, found another "
                     "type or shape", file, object ? object : "/", name);
        goto done;
    }
    if (H5Tis_variable_str(ft) > 0) {
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *v = NULL;
        if (H5Aread(a, mt, &v) < 0) {
            st = nv_h5_fail(err, NV_EINPUT, file, object, "cannot read attribute '%s'", name);
            goto done;
        }
        *out = strdup(v ? v : "");
        H5free_memory(v);
    } else {
        size_t n = H5Tget_size(ft), bytes = 0;
        if ((st = nv_h5_check_extent(a, sp, n ? n : 1, 1, &bytes, file, object, err))) goto done;
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        char *v = calloc(n + 2, 1);
        if (!v) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            goto done;
        }
        if (H5Aread(a, mt, v) < 0) {
            free(v);
            st = nv_h5_fail(err, NV_EINPUT, file, object, "cannot read attribute '%s'", name);
            goto done;
        }
        *out = v;
    }
    if (!*out) st = nv_fail(err, NV_ENOMEM, "out of memory");
done:
    if (mt >= 0) H5Tclose(mt);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return st;
}

nv_status nv_h5_read_attr_i64s(hid_t loc, const char *name, int64_t *out, int64_t cap,
                               int64_t *n, const char *file, const char *object, nv_error *err) {
    hid_t a = open_attr(loc, name, file, object, err);
    if (a < 0) return err ? err->status : NV_EINPUT;
    nv_status st = NV_OK;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(ft) != H5T_INTEGER || cnt < 0 || cnt > cap) {
        st = nv_fail(err, NV_EINPUT,
                     "file %s: object %s: attribute '%s': expected up to %lld integers, found "
                     "%lld values of another type or count", file, object ? object : "/", name,
                     (long long)cap, (long long)cnt);
    } else if (H5Aread(a, H5T_NATIVE_INT64, out) < 0) {
        st = nv_h5_fail(err, NV_EINPUT, file, object, "cannot read attribute '%s'", name);
    } else {
        *n = cnt;
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return st;
}

nv_status nv_h5_read_attr_i64(hid_t loc, const char *name, int64_t *out, const char *file,
                              const char *object, nv_error *err) {
    int64_t n = 0;
    nv_status st = nv_h5_read_attr_i64s(loc, name, out, 1, &n, file, object, err);
    if (st == NV_OK && n != 1)
        st = nv_fail(err, NV_EINPUT, "file %s: object %s: attribute '%s': expected one integer",
                     file, object ? object : "/", name);
    return st;
}

nv_status nv_h5_read_attr_f64(hid_t loc, const char *name, double *out, const char *file,
                              const char *object, nv_error *err) {
    hid_t a = open_attr(loc, name, file, object, err);
    if (a < 0) return err ? err->status : NV_EINPUT;
    nv_status st = NV_OK;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t c = H5Tget_class(ft);
    if ((c != H5T_FLOAT && c != H5T_INTEGER) || H5Sget_simple_extent_npoints(sp) != 1)
        st = nv_fail(err, NV_EINPUT, "file %s: object %s: attribute '%s': expected one number",
                     file, object ? object : "/", name);
    else if (H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0)
        st = nv_h5_fail(err, NV_EINPUT, file, object, "cannot read attribute '%s'", name);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return st;
}

void nv_h5_free_strs(char **s, int64_t n) {
    if (!s) return;
    for (int64_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

nv_status nv_h5_read_attr_strs(hid_t loc, const char *name, char ***out, int64_t *n,
                               const char *file, const char *object, nv_error *err) {
    *out = NULL;
    *n = 0;
    hid_t a = open_attr(loc, name, file, object, err);
    if (a < 0) return err ? err->status : NV_EINPUT;
    nv_status st = NV_OK;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    hid_t mt = H5I_INVALID_HID;
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    char **vals = NULL, **res = NULL;
    if (H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) <= 0 || cnt < 0) {
        st = nv_fail(err, NV_EINPUT,
                     "file %s: object %s: attribute '%s': expected variable-length strings",
                     file, object ? object : "/", name);
        goto done;
    }
    size_t bytes = 0;
    /* each string takes at least a 16-byte heap reference in the file */
    if ((st = nv_h5_check_extent(a, sp, 16, 1, &bytes, file, object, err))) goto done;
    mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
    vals = calloc((size_t)cnt + 1, sizeof *vals);
    res = calloc((size_t)cnt + 1, sizeof *res);
    if (!vals || !res) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    if (H5Aread(a, mt, vals) < 0) {
        st = nv_h5_fail(err, NV_EINPUT, file, object, "cannot read attribute '%s'", name);
        goto done;
    }
    for (hssize_t i = 0; i < cnt; i++) {
        res[i] = strdup(vals[i] ? vals[i] : "");
        if (!res[i]) st = nv_fail(err, NV_ENOMEM, "out of memory");
    }
    H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, vals);
    if (st == NV_OK) {
        *out = res;
        *n = cnt;
        res = NULL;
    }
done:
    nv_h5_free_strs(res, cnt > 0 ? cnt : 0);
    free(vals);
    if (mt >= 0) H5Tclose(mt);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return st;
}

/* --- format check ------------------------------------------------------------- */
nv_status nv_h5_check_format(hid_t fid, const char *file, const char *expected, int64_t max_version,
                             int64_t *version, nv_error *err) {
    char *fmt = NULL;
    if (H5Aexists(fid, "format") <= 0)
        return nv_fail(err, NV_EINPUT,
                       "file %s: no 'format' attribute on /: not a %s file (expected format "
                       "'%s')", file, expected, expected);
    nv_status st = nv_h5_read_attr_str(fid, "format", &fmt, file, "/", err);
    if (st != NV_OK) return st;
    if (strcmp(fmt, expected) != 0) {
        st = nv_fail(err, NV_EINPUT, "file %s: format is '%s', expected '%s'", file, fmt,
                     expected);
        free(fmt);
        return st;
    }
    free(fmt);
    int64_t v = 0;
    st = nv_h5_read_attr_i64(fid, "format_version", &v, file, "/", err);
    if (st != NV_OK) return st;
    if (v < 1 || v > max_version)
        return nv_fail(err, NV_EINPUT,
                       "file %s: format_version %lld is not supported (this nerve reads %lld)",
                       file, (long long)v, (long long)max_version);
    if (version) *version = v;
    return NV_OK;
}

hid_t nv_h5_open_read(const char *path, nv_error *err) {
    nv_h5_quiet();
    struct stat sb;
    if (stat(path, &sb) != 0) {
        nv_fail(err, NV_EINPUT, "file %s: cannot open: %s", path, strerror(errno));
        return H5I_INVALID_HID;
    }
    if (H5Fis_hdf5(path) <= 0) {
        nv_fail(err, NV_EINPUT, "file %s: not an HDF5 file (no HDF5 signature found)", path);
        return H5I_INVALID_HID;
    }
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fid < 0) nv_h5_fail(err, NV_EINPUT, path, NULL, "cannot open as HDF5");
    return fid;
}

/* --- sizes claimed by a file ------------------------------------------------------ */
nv_status nv_h5_check_extent(hid_t obj, hid_t space, size_t elem_size, int attribute, size_t *bytes,
                             const char *file, const char *object, nv_error *err) {
    *bytes = 0;
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > H5S_MAX_RANK)
        return nv_h5_fail(err, NV_EINPUT, file, object, "cannot read the shape");
    hsize_t d[H5S_MAX_RANK];
    if (rank > 0 && H5Sget_simple_extent_dims(space, d, NULL) < 0)
        return nv_h5_fail(err, NV_EINPUT, file, object, "cannot read the shape");
    size_t n = elem_size;
    char shape[160] = "";
    for (int i = 0; i < rank; i++) {
        size_t len = strlen(shape);
        snprintf(shape + len, sizeof shape - len, "%s%llu", i ? " x " : "", (unsigned long long)d[i]);
        if (d[i] > SIZE_MAX || __builtin_mul_overflow(n, (size_t)d[i], &n))
            return nv_fail(err, NV_EINPUT, "file %s: object %s: shape %s: more bytes than an address "
                           "space holds", file, object ? object : "/", shape);
    }
    if (H5Sget_simple_extent_type(space) == H5S_NULL) n = 0;
    /* The file's length: what it can hold, whatever its headers claim. */
    hsize_t fsize = 0;
    hid_t fid = H5Iget_file_id(obj);
    if (fid >= 0) {
        if (H5Fget_filesize(fid, &fsize) < 0) fsize = 0;
        H5Fclose(fid);
    }
    H5Eclear2(H5E_DEFAULT);
    const unsigned long long limit = attribute ? (unsigned long long)fsize + 64
                                               : (unsigned long long)fsize * NV_H5_MAX_RATIO + (1u << 20);
    if ((unsigned long long)n > limit)
        return nv_fail(err, NV_EINPUT, "file %s: object %s: shape %s of %zu-byte values is %zu bytes, more "
                       "than the %llu-byte file can hold%s", file, object ? object : "/", shape, elem_size, n,
                       (unsigned long long)fsize, attribute ? "" : " even compressed");
    *bytes = n;
    return NV_OK;
}

/* --- datasets ------------------------------------------------------------------- */
/* Rows per chunk: about 1 MiB per chunk (HDF5's default chunk cache holds one),
 * at most 4096 rows, at least one. */
static hsize_t chunk_rows(int64_t rows, size_t row_bytes) {
    hsize_t r = (hsize_t)((1u << 20) / (row_bytes ? row_bytes : 1));
    if (r > 4096) r = 4096;
    if (r < 1) r = 1;
    if (r > (hsize_t)rows) r = (hsize_t)rows;
    return r;
}

nv_status nv_h5_write_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                              int rank, const int64_t *dims, const void *data, int compress,
                              const char *file, nv_error *err) {
    if (rank < 1 || rank > 4)
        return nv_fail(err, NV_EINPUT, "file %s: object %s: rank %d: expected 1..4", file, name, rank);
    hsize_t d[4] = {1, 1, 1, 1};
    int64_t row = 1; /* values per row (the product of the trailing dimensions) */
    for (int i = 0; i < rank; i++) d[i] = (hsize_t)dims[i];
    for (int i = 1; i < rank; i++) row *= dims[i];
    int64_t n = (int64_t)d[0] * row;
    hid_t dcpl = nv_h5_dcpl();
    if (compress > 0 && n > 0) {
        /* Chunks of whole rows (all trailing dimensions), about 1 MiB. */
        hsize_t c[4] = {chunk_rows(dims[0], H5Tget_size(file_type) * (size_t)row), d[1], d[2], d[3]};
        H5Pset_chunk(dcpl, rank, c);
        /* Byte shuffle first: float activations share exponent bytes, which gzip
         * then compresses far better than the raw interleaved bytes. */
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, (unsigned)(compress > 9 ? 9 : compress));
    }
    hid_t space = H5Screate_simple(rank, d, NULL);
    hid_t ds = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    nv_status st = NV_OK;
    if (ds < 0)
        st = nv_h5_fail(err, NV_EIO, file, name, "cannot create dataset");
    else if (n > 0 && H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        st = nv_h5_fail(err, NV_EIO, file, name, "cannot write %lld values", (long long)n);
    /* HDF5 keeps a small contiguous dataset's data in its sieve buffer and writes
     * it when the dataset is closed: a failed write shows only here (ignoring it
     * published a checkpoint with missing data after a single EIO). */
    if (ds >= 0 && H5Dclose(ds) < 0 && st == NV_OK)
        st = nv_h5_fail(err, NV_EIO, file, name, "cannot write %lld values (on close)", (long long)n);
    H5Sclose(space);
    H5Pclose(dcpl);
    return st;
}

nv_status nv_h5_read_dataset(hid_t loc, const char *name, hid_t mem_type, size_t elem_size,
                             int rank, void **out, int64_t *dims, const char *file,
                             nv_error *err) {
    *out = NULL;
    if (!nv_h5_exists(loc, name))
        return nv_fail(err, NV_EINPUT, "file %s: object %s is missing", file, name);
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return nv_h5_fail(err, NV_EINPUT, file, name, "cannot open dataset");
    nv_status st = NV_OK;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[8] = {0};
    int r = H5Sget_simple_extent_ndims(sp);
    if (r != rank) {
        st = nv_fail(err, NV_EINPUT, "file %s: object %s: expected rank %d, found rank %d", file,
                     name, rank, r);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, d, NULL);
    size_t bytes = 0;
    hid_t ft = H5Dget_type(ds);
    size_t fsz = ft >= 0 ? H5Tget_size(ft) : 0;
    if (ft >= 0) H5Tclose(ft);
    /* What the file claims is checked against what it can hold (in its own element
     * size) before the allocation (in the memory type's, which cannot overflow once
     * the file's has not: no type nerve reads into is over 8 times a 1-byte one). */
    if ((st = nv_h5_check_extent(ds, sp, fsz ? fsz : 1, 0, &bytes, file, name, err))) goto done;
    size_t n = 1;
    for (int i = 0; i < r; i++) {
        n *= (size_t)d[i];
        dims[i] = (int64_t)d[i];
    }
    if (n > SIZE_MAX / elem_size) {
        st = nv_fail(err, NV_EINPUT, "file %s: object %s: %zu values: more than memory can address", file, name, n);
        goto done;
    }
    void *buf = nv_malloc(n > 0 ? n * elem_size : 1, err);
    if (!buf) {
        st = NV_ENOMEM;
        goto done;
    }
    if (n > 0 && H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read dataset");
        free(buf);
        goto done;
    }
    *out = buf;
done:
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

int nv_h5_exists(hid_t loc, const char *path) {
    /* H5Lexists fails (rather than answering 0) when an intermediate group is
     * missing, so walk the components one by one. */
    char buf[1024];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = c;
        }
    }
    return 1;
}

/* ---- walking every dataset ------------------------------------------------------ */
/* The object header's basic information says what each link leads to; only
 * datasets are opened, and only when fn wants them (opening a dataset sets up its
 * layout and chunk cache: opening every object made the snapshot writer's
 * name-only check a tenth of its time). */
typedef struct {
    int (*fn)(hid_t ds, const char *path, void *ctx);  /* with the dataset open, or */
    int (*fn_path)(const char *path, void *ctx);       /* by path only */
    void *ctx;
    int rc;
} each_ctx;

static herr_t each_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    each_ctx *e = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(group, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return e->rc = -1;
    if (oi.type != H5O_TYPE_DATASET) return 0;
    char path[1024];
    snprintf(path, sizeof path, "/%s", name);
    if (e->fn_path) {
        e->rc = e->fn_path(path, e->ctx);
    } else {
        hid_t ds = H5Dopen2(group, name, H5P_DEFAULT);
        if (ds < 0) return e->rc = -1;
        e->rc = e->fn(ds, path, e->ctx);
        H5Dclose(ds);
    }
    return e->rc ? -1 : 0;
}

static int each_dataset(hid_t fid, each_ctx *e) {
    herr_t r = H5Lvisit(fid, H5_INDEX_NAME, H5_ITER_INC, each_link, e);
    return e->rc ? e->rc : r < 0 ? -1 : 0;
}

int nv_h5_each_dataset(hid_t fid, int (*fn)(hid_t ds, const char *path, void *ctx), void *ctx) {
    return each_dataset(fid, &(each_ctx){.fn = fn, .ctx = ctx});
}

int nv_h5_each_dataset_path(hid_t fid, int (*fn)(const char *path, void *ctx), void *ctx) {
    return each_dataset(fid, &(each_ctx){.fn_path = fn, .ctx = ctx});
}
