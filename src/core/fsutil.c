/* fsutil.c: crash-safe file writing and small file-system helpers (fsutil.h).
 * Every output file of nerve (HDF5 files, JSON, CSV, figures, the report) goes
 * through nv_publish_temp, so the durability argument is made once, here. */
#include "nerve/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *nv_temp_path(const char *final_path, nv_error *err) {
    static atomic_long counter;
    const char *slash = strrchr(final_path, '/');
    size_t dlen = slash ? (size_t)(slash - final_path) + 1 : 0;
    const char *base = slash ? slash + 1 : final_path;
    size_t len = strlen(final_path) + 48;
    char *tmp = nv_malloc(len, err);
    if (!tmp) return NULL;
    snprintf(tmp, len, "%.*s.%s.tmp-%ld-%ld", (int)dlen, final_path, base, (long)getpid(),
             (long)atomic_fetch_add(&counter, 1));
    return tmp;
}

nv_status nv_fsync_dir(const char *dir, nv_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return nv_fail(err, NV_EIO, "directory %s: cannot open for fsync: %s", dir,
                       strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL && e != EROFS)
        return nv_fail(err, NV_EIO, "directory %s: fsync failed: %s", dir, strerror(e));
    return NV_OK;
}

nv_status nv_fsync_parent(const char *path, nv_error *err) {
    const char *slash = strrchr(path, '/');
    char *dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir) return nv_fail(err, NV_ENOMEM, "out of memory");
    nv_status st = nv_fsync_dir(dir, err);
    free(dir);
    return st;
}

nv_status nv_publish_temp(const char *tmp_path, const char *final_path, nv_error *err) {
    /* Writers close with write(2) only; the data must reach the disk before the
     * rename makes the name visible, or a power cut could expose an empty file. */
    int fd = open(tmp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        unlink(tmp_path);
        return nv_fail(err, NV_EIO, "file %s: fsync failed: %s", tmp_path, strerror(e));
    }
    close(fd);
    if (rename(tmp_path, final_path) != 0) {
        int e = errno;
        unlink(tmp_path);
        return nv_fail(err, NV_EIO, "file %s: cannot rename to %s: %s", tmp_path, final_path,
                       strerror(e));
    }
    return nv_fsync_parent(final_path, err);
}

nv_status nv_outfile_open(nv_outfile *o, const char *path, nv_error *err) {
    memset(o, 0, sizeof *o);
    o->tmp = nv_temp_path(path, err);
    o->path = strdup(path);
    if (!o->tmp || !o->path) {
        nv_outfile_abort(o);
        return nv_fail(err, NV_ENOMEM, "out of memory");
    }
    /* 0666 and the umask, as for any new file (mkstemp's 0600 would leave figures
     * and tables unreadable to the rest of a group). */
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        nv_status st = nv_fail(err, NV_EIO, "file %s: cannot create a temporary file next to it: %s",
                               path, strerror(errno));
        nv_outfile_abort(o);
        return st;
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) {
        nv_status st = nv_fail(err, NV_EIO, "file %s: %s", path, strerror(errno));
        close(fd);
        nv_outfile_abort(o);
        return st;
    }
    return NV_OK;
}

void nv_outfile_abort(nv_outfile *o) {
    if (o->fp) fclose(o->fp);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
}

nv_status nv_outfile_commit(nv_outfile *o, nv_error *err) {
    if (!o->fp) return nv_fail(err, NV_EINTERNAL, "nv_outfile_commit: no open file");
    /* One check for every write made through fp: ferror remembers a failed fwrite
     * or fprintf, fflush reports a full disk for what was still buffered. */
    int bad = ferror(o->fp) || fflush(o->fp) != 0;
    int e = errno;
    if (fclose(o->fp) != 0 && !bad) bad = 1, e = errno;
    o->fp = NULL;
    nv_status st;
    if (bad) {
        st = nv_fail(err, NV_EIO, "file %s: write failed: %s", o->path, strerror(e ? e : EIO));
        unlink(o->tmp);
    } else {
        st = nv_publish_temp(o->tmp, o->path, err);
    }
    free(o->tmp);
    free(o->path);
    memset(o, 0, sizeof *o);
    return st;
}

nv_status nv_atomic_write(const char *path, const void *data, size_t n, nv_error *err) {
    nv_outfile o;
    nv_status st = nv_outfile_open(&o, path, err);
    if (st != NV_OK) return st;
    if (n && fwrite(data, 1, n, o.fp) != n) {
        st = nv_fail(err, NV_EIO, "file %s: write failed: %s", path, strerror(errno));
        nv_outfile_abort(&o);
        return st;
    }
    return nv_outfile_commit(&o, err);
}

nv_status nv_atomic_write_text(const char *path, const char *text, nv_error *err) {
    return nv_atomic_write(path, text, strlen(text), err);
}

nv_status nv_mkdirs(const char *path, nv_error *err) {
    size_t len = strlen(path);
    char *buf = nv_malloc(len + 1, err);
    if (!buf) return NV_ENOMEM;
    memcpy(buf, path, len + 1);
    nv_status st = NV_OK;
    for (size_t i = 1; i <= len && st == NV_OK; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            st = nv_fail(err, NV_EIO, "directory %s: cannot create: %s", buf, strerror(errno));
        else {
            struct stat sb;
            if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
                st = nv_fail(err, NV_EIO, "directory %s: exists but is not a directory", buf);
        }
        buf[i] = c;
    }
    free(buf);
    return st;
}

int64_t nv_file_mtime_ns(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}
