/* enospc.c: an LD_PRELOAD shim for tests/integration/dynamics_bad_input.sh that
 * simulates a full disk: every write to a file whose path contains the text in
 * $NERVE_ENOSPC_MATCH fails with ENOSPC (as write(2) does on a full file system).
 * Only the files opened by name are tracked (open, open64, openat). Built by the
 * test with cc -shared -fPIC; not part of nerve. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXFD 4096
static unsigned char doomed[MAXFD];

static void mark(int fd, const char *path) {
    const char *m = getenv("NERVE_ENOSPC_MATCH");
    if (fd >= 0 && fd < MAXFD) doomed[fd] = m && *m && path && strstr(path, m) != NULL;
}

#define OPENER(name)                                                           \
    int name(const char *path, int flags, ...) {                               \
        static int (*real)(const char *, int, ...);                            \
        if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
        mode_t mode = 0;                                                       \
        if (flags & (O_CREAT | O_TMPFILE)) {                                   \
            va_list ap;                                                        \
            va_start(ap, flags);                                               \
            mode = va_arg(ap, mode_t);                                         \
            va_end(ap);                                                        \
        }                                                                      \
        int fd = real(path, flags, mode);                                      \
        mark(fd, path);                                                        \
        return fd;                                                             \
    }
OPENER(open)
OPENER(open64)

int openat(int dir, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real(dir, path, flags, mode);
    mark(fd, path);
    return fd;
}

static int full(int fd) { return fd >= 0 && fd < MAXFD && doomed[fd]; }

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (full(fd)) { errno = ENOSPC; return -1; }
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (full(fd)) { errno = ENOSPC; return -1; }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    if (full(fd)) { errno = ENOSPC; return -1; }
    return real(fd, buf, n, off);
}
