/* h5walk.c: libhdf5 alone, without nerve's code, on the fuzz inputs that showed a
 * defect inside libhdf5 (docs/reliability.md, "Upstream defects"). It opens each
 * file and visits every object the way any reader would (H5Lexists on a few
 * paths, H5Ovisit, H5Oopen, H5Aexists and H5Dread of every dataset), closing
 * everything it opened. Built by hand:
 *   clang-14 -fsanitize=address,undefined -g tests/fuzz/upstream/h5walk.c \
 *     -I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -o h5walk
 *   ASAN_OPTIONS=fast_unwind_on_malloc=0 ./h5walk tests/fuzz/upstream/hdf5/leak-...
 * A leak or crash reported here is libhdf5's own. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

static herr_t visit(hid_t loc, const char *name, const H5O_info_t *info, void *data) {
    (void)data;
    H5Aexists_by_name(loc, name, "format", H5P_DEFAULT);
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    if (info->type == H5O_TYPE_DATASET) {
        hid_t sp = H5Dget_space(o);
        hssize_t n = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        if (n > 0 && n < (1 << 20)) {
            double *buf = malloc((size_t)n * sizeof *buf);
            H5Dread(o, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            free(buf);
        }
        if (sp >= 0) H5Sclose(sp);
    }
    H5Oclose(o);
    return 0;
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
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, NULL);
        printf("  objects left open: %zd (the file itself: 1)\n", H5Fget_obj_count(f, H5F_OBJ_ALL));
        H5Fclose(f);
    }
    return 0;
}
