/* failwrite.c: an LD_PRELOAD shim that makes a chosen write fail, for the fault
 * tests (tests/integration/fault_*.sh): the Nth write-like operation on a regular
 * file fails with ENOSPC (a full disk) or EIO, so a test can stop nerve at any
 * point of its output and check what it leaves behind.
 *
 * Operations counted (each call is one): write, pwrite, pwrite64, writev, fsync,
 * fdatasync, rename, and, for writers that go through stdio (whose own writes
 * glibc makes internally, out of the shim's reach), fflush and fclose of a stream
 * on a regular file. Only regular files count (not the terminal, pipes, sockets).
 *
 * Environment:
 *   NV_FAIL_AT=N       the Nth counted operation fails (1-based); unset or 0: none
 *                      fails, the shim only counts
 *   NV_FAIL_MODE=after every counted operation from the Nth on fails (a disk that
 *                      stays full; the default) | once: only the Nth
 *   NV_FAIL_ERRNO=ENOSPC (default) | EIO
 *   NV_FAIL_PATH=S     count only operations on files whose path contains S
 *                      (rename: either name)
 *   NV_FAIL_OPS=a,b    count only these operations (names as above; default all)
 *   NV_FAIL_COUNT_FILE=F  at exit, append "<pid> <count>" to F: how many counted
 *                      operations the process made (to choose N)
 *   NV_FAIL_LOG=F      append one line per failure made: "<pid> <op> <path>"
 * A failed fclose still closes the stream (as a real one does), so nothing leaks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long counter;
static long fail_at = -1;
static int mode_once, fail_errno = ENOSPC, inited;
static const char *path_pat, *ops, *count_file, *log_file;

static void report_count(void) {
    if (!count_file) return;
    int fd = open(count_file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    char line[64];
    int n = snprintf(line, sizeof line, "%ld %ld\n", (long)getpid(), atomic_load(&counter));
    ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (real_write) (void)real_write(fd, line, (size_t)n);
    close(fd);
}

static void init(void) {
    if (inited) return;
    inited = 1;
    const char *s = getenv("NV_FAIL_AT");
    fail_at = s && atol(s) > 0 ? atol(s) : -1;
    s = getenv("NV_FAIL_MODE");
    mode_once = s && !strcmp(s, "once");
    s = getenv("NV_FAIL_ERRNO");
    fail_errno = s && !strcmp(s, "EIO") ? EIO : ENOSPC;
    path_pat = getenv("NV_FAIL_PATH");
    ops = getenv("NV_FAIL_OPS");
    count_file = getenv("NV_FAIL_COUNT_FILE");
    log_file = getenv("NV_FAIL_LOG");
    if (count_file) atexit(report_count);
}

__attribute__((constructor)) static void shim_ctor(void) { init(); }

static int op_wanted(const char *op) {
    if (!ops || !*ops) return 1;
    size_t n = strlen(op);
    for (const char *p = ops; (p = strstr(p, op)); p += n)
        if ((p == ops || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

static int fd_path(int fd, char *buf, size_t len) {
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, buf, len - 1);
    if (k < 0) return 0;
    buf[k] = '\0';
    return 1;
}

static void log_failure(const char *op, const char *path) {
    if (!log_file) return;
    int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    char line[4200];
    int n = snprintf(line, sizeof line, "%ld %s %s\n", (long)getpid(), op, path);
    ssize_t (*real_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (real_write && n > 0) (void)real_write(fd, line, (size_t)n);
    close(fd);
}

/* 1 when this operation must fail (errno is then set). */
static int should_fail(const char *op, const char *path, const char *path2) {
    init();
    if (!op_wanted(op)) return 0;
    if (path_pat && *path_pat && !strstr(path, path_pat) && !(path2 && strstr(path2, path_pat))) return 0;
    long k = atomic_fetch_add(&counter, 1) + 1;
    if (fail_at < 0 || k < fail_at || (mode_once && k != fail_at)) return 0;
    log_failure(op, path);
    errno = fail_errno;
    return 1;
}

static int fd_fails(const char *op, int fd) {
    char path[4096];
    return fd_path(fd, path, sizeof path) && should_fail(op, path, NULL);
}

#define REAL(name) static __typeof__(name) *real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(write);
    if (fd_fails("write", fd)) return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(pwrite);
    if (fd_fails("pwrite", fd)) return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    REAL(pwrite64);
    if (fd_fails("pwrite", fd)) return -1;
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(writev);
    if (fd_fails("writev", fd)) return -1;
    return real_writev(fd, iov, cnt);
}

int fsync(int fd) {
    REAL(fsync);
    if (fd_fails("fsync", fd)) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    if (fd_fails("fdatasync", fd)) return -1;
    return real_fdatasync(fd);
}

int rename(const char *a, const char *b) {
    REAL(rename);
    struct stat sb;
    if (stat(a, &sb) == 0 && S_ISREG(sb.st_mode) && should_fail("rename", a, b)) return -1;
    return real_rename(a, b);
}

int fflush(FILE *f) {
    REAL(fflush);
    if (f && fd_fails("fflush", fileno(f))) {
        int e = errno;
        real_fflush(f); /* the buffered bytes go (or not) as they would; the caller is told it failed */
        errno = e;
        return EOF;
    }
    return real_fflush(f);
}

int fclose(FILE *f) {
    REAL(fclose);
    if (f && fd_fails("fclose", fileno(f))) {
        int e = errno;
        real_fclose(f);
        errno = e;
        return EOF;
    }
    return real_fclose(f);
}
