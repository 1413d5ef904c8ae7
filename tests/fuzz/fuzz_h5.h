/* fuzz_h5.h: what the HDF5 targets (fuzz_h5_<format>.c) share. The input is a
 * whole HDF5 file (the corpus: files nerve wrote, tests/fuzz/h5seeds.sh), written
 * to a scratch file and opened by the reader under test. After each input every
 * HDF5 object the reader opened must be closed again (an identifier left open is
 * a leak of ours, and would keep the file open into the next input).
 *
 * HDF5 itself (libhdf5 1.10.8, Debian's, not instrumented) parses the file's
 * structure; our code must survive whatever it hands back. A crash inside libhdf5
 * is an upstream defect when libhdf5 alone shows it too: tests/fuzz/run.sh replays
 * each failing input on tests/fuzz/upstream/h5walk.c to tell; docs/reliability.md
 * lists those found, with inputs under tests/fuzz/upstream/ (not replayed). */
#include <hdf5.h>

#include "fuzz_util.h"

static void h5_fuzz_check_closed(void) {
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) {
        fprintf(stderr, "nerve fuzz: %zd HDF5 objects left open after the reader returned\n", open_ids);
        abort();
    }
}

/* 1 when the bytes hold a known libhdf5 1.10 hang that no reader can avoid: a
 * global heap collection ("GCOL", where variable-length strings live) whose
 * free-space object (index 0) has size 0. H5HG__cache_heap_deserialize then sets
 * p = begin + 0 and loops for ever (tests/fuzz/upstream/h5walk.c hangs on
 * tests/fuzz/upstream/hdf5/hang-gcol-*.h5 with libhdf5 alone; docs/reliability.md).
 * Such inputs are skipped so that the fuzz run reports our defects, not this one. */
static int h5_fuzz_known_upstream_hang(const uint8_t *data, size_t size) {
    for (size_t i = 0; i + 16 <= size; i++) {
        if (memcmp(data + i, "GCOL", 4) != 0) continue;
        uint64_t csize = 0;
        for (int k = 7; k >= 0; k--) csize = csize << 8 | data[i + 8 + k];
        size_t end = csize > size - i ? size : i + (size_t)csize, p = i + 16;
        for (int n = 0; n < 65536 && p + 16 <= end; n++) {
            unsigned idx = data[p] | (unsigned)data[p + 1] << 8;
            uint64_t osz = 0;
            for (int k = 7; k >= 0; k--) osz = osz << 8 | data[p + 8 + k];
            if (idx == 0) {
                if (osz == 0) return 1;
                break;
            }
            uint64_t need = 16 + ((osz + 7) & ~(uint64_t)7);
            if (need > end - p) break;
            p += (size_t)need;
        }
    }
    return 0;
}

/* The input as a file named `name` in the scratch directory; NULL for an input
 * h5_fuzz_known_upstream_hang refuses (the target then returns at once). */
static const char *h5_fuzz_input(const uint8_t *data, size_t size, const char *name) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (h5_fuzz_known_upstream_hang(data, size)) return NULL;
    return nv_fuzz_file(name, data, size);
}
