/* h5walk.c: libhdf5 alone, without nerve's code, on a fuzz input that crashed, hung
 * or leaked inside libhdf5 (docs/reliability.md, "Upstream defects"). It opens the
 * file and does what any reader of it would: H5Lexists on the paths nerve's readers
 * look up and a read of the dataset at each, each of those objects opened by name,
 * then `nerve info`'s walk (every group's links by name, recursively), then
 * H5Ovisit over every object, and for each object a read of every attribute and of every dataset in its own type
 * (strings as strings, variable-length ones through the global heap; numbers as
 * doubles, whole and by the first and last row), closing everything it opened. It never looks at what it read.
 *
 * tests/fuzz/run.sh replays every input that failed an HDF5 target here: when this
 * program alone also crashes, hangs or leaks on it, the defect is libhdf5's, and the
 * input is kept under BUILD/upstream/ instead of failing the run. make fuzz builds
 * it (BUILD/tools/h5walk) with the targets' sanitizers. By hand:
 *   clang-14 -fsanitize=address,undefined -g tests/fuzz/upstream/h5walk.c \
 *     -I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -o h5walk
 *   ASAN_OPTIONS=fast_unwind_on_malloc=0 ./h5walk tests/fuzz/upstream/hdf5/leak-...
 * Exit 0 unless a sanitizer or signal stops it. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads n values of type ft through `read` (H5Aread or H5Dread): strings in their
 * own form, numbers as doubles, anything else not at all. */
static void read_values(hid_t obj, hid_t ft, hssize_t n, int is_attr) {
    if (n <= 0 || n >= (1 << 20)) return;
    H5T_class_t c = H5Tget_class(ft);
    if (c == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* the file's character set, as h5py writes UTF-8 */
        char **v = calloc((size_t)n, sizeof *v);
        herr_t r = is_attr ? H5Aread(obj, mt, v) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        if (r >= 0)
            for (hssize_t i = 0; i < n; i++) H5free_memory(v[i]);
        free(v);
        H5Tclose(mt);
    } else if (c == H5T_STRING) {
        size_t len = H5Tget_size(ft);
        if (len == 0 || len > 65536) return;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len + 1);
        char *v = calloc((size_t)n, len + 1);
        if (is_attr) H5Aread(obj, mt, v);
        else H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
        H5Tclose(mt);
    } else if (c == H5T_INTEGER || c == H5T_FLOAT) {
        double *v = malloc((size_t)n * sizeof *v);
        if (is_attr) H5Aread(obj, H5T_NATIVE_DOUBLE, v);
        else H5Dread(obj, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        free(v);
    }
}

/* Partial reads, as nerve's readers of snapshots and stores do: the first and the
 * last row (index along the first dimension) of a numeric dataset. */
static void read_rows(hid_t d, hid_t ft, hid_t sp) {
    H5T_class_t c = H5Tget_class(ft);
    int rank = H5Sget_simple_extent_ndims(sp);
    if ((c != H5T_INTEGER && c != H5T_FLOAT) || rank < 1 || rank > 8) return;
    hsize_t dims[8], start[8] = {0}, count[8];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hsize_t row = 1;
    for (int k = 1; k < rank; k++) row *= dims[k] ? dims[k] : 1;
    if (dims[0] < 2 || row >= (1 << 20)) return;
    double *v = malloc(row * sizeof *v);
    for (int which = 0; which < 2; which++) {
        hid_t fs = H5Scopy(sp), ms = H5Screate_simple(1, &row, NULL);
        start[0] = which ? dims[0] - 1 : 0;
        count[0] = 1;
        for (int k = 1; k < rank; k++) count[k] = dims[k];
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
            H5Dread(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, v);
        H5Sclose(ms);
        H5Sclose(fs);
    }
    free(v);
}

static herr_t read_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info, (void)data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    if (ft >= 0 && sp >= 0) read_values(a, ft, H5Sget_simple_extent_npoints(sp), 1);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return 0;
}

/* Everything a reader may read of one open object: each attribute, and a dataset's
 * values whole and by rows. Closes o. */
static void read_object(hid_t o) {
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, NULL, read_attr, NULL);
    if (H5Iget_type(o) == H5I_DATASET) {
        hid_t sp = H5Dget_space(o), ft = H5Dget_type(o);
        if (sp >= 0 && ft >= 0) read_values(o, ft, H5Sget_simple_extent_npoints(sp), 0);
        if (sp >= 0 && ft >= 0) read_rows(o, ft, sp);
        if (ft >= 0) H5Tclose(ft);
        if (sp >= 0) H5Sclose(sp);
    }
    H5Oclose(o);
}

static herr_t visit(hid_t loc, const char *name, const H5O_info_t *info, void *data) {
    (void)info, (void)data;
    H5Aexists_by_name(loc, name, "format", H5P_DEFAULT);
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o >= 0) read_object(o);
    return 0;
}

/* The walk `nerve info` makes (src/store/info.c): from the root, each group's
 * links by name (H5Literate), each hard link's object opened by name, its
 * attributes read, a group's members in turn (at most 32 deep). It reaches objects
 * H5Ovisit does not when visiting stops at a damaged object header that a
 * by-name walk steps past. */
static herr_t walk_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    const int depth = *(const int *)data;
    if (info->type == H5L_TYPE_SOFT || info->type == H5L_TYPE_EXTERNAL) {
        char target[1024];
        H5Lget_val(g, name, target, sizeof target, H5P_DEFAULT);
        return 0;
    }
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) return 0;
    int is_group = H5Iget_type(o) == H5I_GROUP;
    read_object(o); /* closes o */
    if (is_group && depth < 32) {
        hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
        if (sub >= 0) {
            int d = depth + 1;
            hsize_t idx = 0;
            H5Literate(sub, H5_INDEX_NAME, H5_ITER_INC, &idx, walk_link, &d);
            H5Gclose(sub);
        }
    }
    return 0;
}

static void walk_links(hid_t f) {
    hid_t root = H5Oopen(f, "/", H5P_DEFAULT);
    if (root < 0) return;
    read_object(root); /* closes it */
    int d = 1;
    hsize_t idx = 0;
    H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &idx, walk_link, &d);
}

/* What a reader does for one dataset path: reopen the file, check each link of the
 * path, open and read the dataset (the order nerve's nv_h5_read_dataset uses). */
static void read_path(const char *file, const char *path) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            int e = H5Lexists(f, buf, H5P_DEFAULT);
            *p = c;
            if (e <= 0) break;
        }
        if (!c) {
            hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
            if (d >= 0) {
                hid_t sp = H5Dget_space(d);
                hssize_t n = H5Sget_simple_extent_npoints(sp);
                if (n > 0 && n < (1 << 20)) {
                    double *v = malloc((size_t)n * sizeof *v);
                    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
                    free(v);
                }
                H5Sclose(sp);
                H5Dclose(d);
            }
            break;
        }
    }
    H5Fclose(f);
}

/* One object by its path, as nerve's readers reach them (each link checked, then
 * opened by name): every attribute read, and a dataset's values. This reaches
 * objects H5Ovisit cannot when the damage is in what iteration reads (a group's
 * link index) but not in the lookup of one name. */
static void walk_named(hid_t f, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int e = H5Lexists(f, buf, H5P_DEFAULT);
        *p = '/';
        if (e <= 0) return;
    }
    if (strcmp(path, "/") && H5Lexists(f, path, H5P_DEFAULT) <= 0) return;
    hid_t o = H5Oopen(f, path, H5P_DEFAULT);
    if (o >= 0) read_object(o);
}

/* The paths nerve's readers open by name: fixed ones, and per layer and split. */
static void walk_nerve_paths(hid_t f) {
    static const char *fixed[] = {"/", "/model", "/model/params", "/metrics", "/spec", "/params", "/state1",
                                  "/state2", "/x", "/y", "/ids", "/labels", "/cross", "/models", "/path",
                                  "/layers", "/snapshots", "/train/x", "/box/lo"};
    static const char *layers[] = {"input", "hidden1", "hidden2", "hidden3", "hidden4", "hidden5",
                                   "hidden6", "hidden7", "logits"};
    static const char *subs[] = {"", "/train", "/test", "/combined", "/components", "/ratios",
                                 "/projections/train", "/projections/test", "/projections/combined"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) walk_named(f, fixed[i]);
    char path[256];
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        for (size_t j = 0; j < sizeof subs / sizeof *subs; j++) {
            snprintf(path, sizeof path, "/layers/%s%s", layers[i], subs[j]);
            walk_named(f, path);
        }
}

int main(int argc, char **argv) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    static const char *paths[] = {"/format", "/layers", "/layers/input", "/layers/input/train", "/train/x",
                                  "/params", "/metrics", "/x", "/box/lo", "/model/params", "/layers/input/components",
                                  "/layers/input/projections/train", "/layers/hidden1/components",
                                  "/layers/input/projections/test", "/layers/input/ratios"};
    for (int i = 1; i < argc; i++) {
        for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) read_path(argv[i], paths[k]);
        hid_t f = H5Fopen(argv[i], H5F_ACC_RDONLY, H5P_DEFAULT);
        printf("%s: %s\n", argv[i], f < 0 ? "not opened" : "opened");
        if (f < 0) continue;
        if (H5Aexists(f, "format") > 0) { /* the root's format attribute, a variable-length string */
            hid_t a = H5Aopen(f, "format", H5P_DEFAULT), t = H5Tcopy(H5T_C_S1), ft = H5Aget_type(a);
            H5Tset_size(t, H5T_VARIABLE);
            H5Tset_cset(t, H5Tget_cset(ft)); /* the file's character set, as h5py writes UTF-8 */
            H5Tclose(ft);
            char *v = NULL;
            if (a >= 0 && H5Aread(a, t, &v) >= 0) H5free_memory(v);
            H5Tclose(t);
            if (a >= 0) H5Aclose(a);
        }
        for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) H5Lexists(f, paths[k], H5P_DEFAULT);
        walk_nerve_paths(f);
        walk_links(f);
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, NULL);
        printf("  objects left open: %zd (the file itself: 1)\n", H5Fget_obj_count(f, H5F_OBJ_ALL));
        H5Fclose(f);
    }
    return 0;
}
