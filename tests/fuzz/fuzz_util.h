/* fuzz_util.h: what every fuzz target (tests/fuzz/fuzz_<target>.c) shares.
 *
 * A target is one LLVMFuzzerTestOneInput that hands the bytes to library
 * functions (never the CLI) and checks what must hold whatever the input: the
 * call returns NV_OK or NV_EINPUT (bad input) with a message that names the file;
 * nothing else (NV_ENOMEM from an allocation sized by a claim in the input, an
 * internal error) is allowed, and ASan/UBSan/LSan watch the rest. The same source
 * builds two ways (Makefile): with libFuzzer (clang -fsanitize=fuzzer, `make
 * fuzz`), and with tests/fuzz/replay.c's main, which replays the committed corpus
 * and regressions under `make test` (and with ASan/UBSan under `make SANITIZE=1
 * test`).
 *
 * Readers that take a path get the bytes through a file in a private temporary
 * directory (in /dev/shm when there is one: no disk traffic per input), made
 * once per process and removed at exit.
 */
#ifndef NERVE_FUZZ_UTIL_H
#define NERVE_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char nv_fuzz_dir_path[256];

/* Removes path and, when it is a real directory, everything under it. A symbolic
 * link is removed as a link and never followed: a target may plant links that point
 * out of its scratch directory (fuzz_serve_request's, into /etc), and following one
 * here would delete what it points at. */
static void nv_fuzz_rm_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    DIR *d = S_ISDIR(sb.st_mode) ? opendir(path) : NULL;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            nv_fuzz_rm_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void nv_fuzz_cleanup(void) {
    if (nv_fuzz_dir_path[0]) nv_fuzz_rm_tree(nv_fuzz_dir_path);
}

/* The process's scratch directory (created on first use). */
static const char *nv_fuzz_dir(void) {
    if (!nv_fuzz_dir_path[0]) {
        struct stat sb;
        const char *base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0
                               ? "/dev/shm"
                               : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(nv_fuzz_dir_path, sizeof nv_fuzz_dir_path, "%s/nerve-fuzz-XXXXXX", base);
        if (!mkdtemp(nv_fuzz_dir_path)) {
            perror("nerve fuzz: mkdtemp");
            abort();
        }
        atexit(nv_fuzz_cleanup);
    }
    return nv_fuzz_dir_path;
}

/* Writes the bytes to <scratch>/<name> and returns that path (static storage,
 * one per name slot: callers use at most a few names at once). */
__attribute__((unused)) static const char *nv_fuzz_file(const char *name, const uint8_t *data, size_t size) {
    static char paths[4][1024];
    static int next;
    char *p = paths[next++ & 3];
    snprintf(p, 1024, "%s/%s", nv_fuzz_dir(), name);
    char *slash = strrchr(p, '/');
    if (slash && slash > p + strlen(nv_fuzz_dir())) { /* a sub-directory: make it */
        *slash = '\0';
        mkdir(p, 0755);
        *slash = '/';
    }
    FILE *f = fopen(p, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

/* The contract every reader keeps: OK, or bad input (NV_EINPUT) with a message that
 * names `what` (the file). Anything else is a finding: report it and abort, so
 * libFuzzer saves the input. */
__attribute__((unused)) static void nv_fuzz_check(nv_status st, const nv_error *err, const char *what) {
    if (st == NV_OK) return;
    if (st != NV_EINPUT) {
        fprintf(stderr, "nerve fuzz: status %d (expected NV_OK or NV_EINPUT): %s\n", (int)st, err->msg);
        abort();
    }
    if (what && !strstr(err->msg, what)) {
        fprintf(stderr, "nerve fuzz: the message does not name %s: %s\n", what, err->msg);
        abort();
    }
}

#endif
