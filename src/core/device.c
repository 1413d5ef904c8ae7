/* device.c: the device layer of include/nerve/device.h: finding a usable GPU,
 * loading the CUDA plug-in (libnerve_cuda.so) on demand, and the one rule that
 * places a stage on the CPU or the GPU.
 *
 * Both answers are decided once per process and cached in statics behind
 * pthread_once: whether the plug-in loaded (and why not), and whether CUDA is usable
 * (and why not). A GPU does not appear or vanish while nerve runs, and every caller
 * must see the same answer (one device per process), so the first call decides.
 *
 * Builds: CUDA=0 compiles the second half of this file (no GPU, ever, and every
 * answer says why); CUDA=1 the first. The CUDA-on-CPU build (make test-cuda-cpu,
 * NERVE_CUDA_ON_CPU) runs the kernels through chipStar and PoCL, where there is no
 * NVIDIA driver to ask: there the plug-in's own probe is the only question.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nerve/device.h"

#define NO_CUDA_BUILD "this build has no CUDA backend (built with CUDA=0 or without nvcc)"

#if defined(NERVE_CUDA) && NERVE_CUDA

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#define PLUGIN "libnerve_cuda.so"

static void *plugin;          /* the dlopen handle; NULL when loading failed */
static char plugin_why[1024]; /* why it failed */
static pthread_once_t plugin_once = PTHREAD_ONCE_INIT;

/* Appends to plugin_why (truncating when full). */
__attribute__((format(printf, 1, 2))) static void why_add(const char *fmt, ...) {
    size_t used = strlen(plugin_why);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plugin_why + used, sizeof plugin_why - used, fmt, ap);
    va_end(ap);
}

/* dlopen `path`, recording dlerror() on failure. */
static void *try_open(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        plugin_why[0] = '\0';
        why_add("cannot load the CUDA backend: %s", e ? e : path);
    }
    return h;
}

static void load_plugin(void) {
    const char *env = getenv("NERVE_CUDA_LIB");
    if (env && *env) {
        plugin = try_open(env);
        if (!plugin) why_add(" (from NERVE_CUDA_LIB)");
        return;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        char path[PATH_MAX + 32];
        const char *fmt[2] = {"%s/" PLUGIN, "%s/../lib/" PLUGIN};
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, fmt[i], exe);
            /* A copy that is there but will not load (a missing cuBLAS, say) is the
             * answer: report its error rather than go on looking. */
            if (access(path, F_OK) == 0) {
                plugin = try_open(path);
                return;
            }
        }
    }
    plugin = try_open(PLUGIN);
    if (!plugin && n > 0)
        why_add(" (nor in %s or %s/../lib; NERVE_CUDA_LIB names another place)", exe, exe);
}

void *nv_cuda_sym(const char *name, char *why, size_t why_len) {
    pthread_once(&plugin_once, load_plugin);
    if (!plugin) {
        if (why && why_len) snprintf(why, why_len, "%s", plugin_why);
        return NULL;
    }
    dlerror();
    void *p = dlsym(plugin, name);
    if (!p && why && why_len) {
        const char *e = dlerror();
        snprintf(why, why_len, "the CUDA backend lacks %s: %s", name, e ? e : "not found");
    }
    return p;
}

int nv_cuda_loaded(void) {
    /* Asks the dynamic loader (by soname), so it never loads anything and also sees
     * a plug-in linked in directly (the GPU tests). */
    void *h = dlopen(PLUGIN, RTLD_NOLOAD | RTLD_LAZY);
    if (h) dlclose(h);
    return h != NULL;
}

/* The driver API, by hand: two calls do not justify a dependency on cuda.h. */
typedef int (*cu_init_fn)(unsigned int flags);
typedef int (*cu_count_fn)(int *count);
typedef int (*cu_str_fn)(int err, const char **str);
enum { CU_ERROR_NO_DEVICE = 100 }; /* cuda.h's CUDA_ERROR_NO_DEVICE */

static nv_status usable = NV_ENODEVICE;
static char usable_why[512];
static pthread_once_t usable_once = PTHREAD_ONCE_INIT;

/* The plug-in's probe (cuda/backend.cu): NV_OK, NV_ENODEVICE or NV_EDEVICE. A
 * plug-in that will not load where a device is present is NV_EDEVICE: a GPU is
 * there and this build cannot use it. */
static void probe_plugin(void) {
    int (*cuda_probe)(char *, size_t) =
        (int (*)(char *, size_t))nv_cuda_sym("nv_cuda_probe", usable_why, sizeof usable_why);
    usable = cuda_probe ? (nv_status)cuda_probe(usable_why, sizeof usable_why) : NV_EDEVICE;
}

#if defined(NERVE_CUDA_ON_CPU) && NERVE_CUDA_ON_CPU
static void probe(void) { probe_plugin(); }
#else
static void probe(void) {
    /* The driver first: on a machine without one this costs a failed dlopen, not
     * the ~260 MB of cuBLAS and friends. */
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
        snprintf(usable_why, sizeof usable_why, "no NVIDIA driver (libcuda.so.1 not found)");
        return;
    }
    cu_init_fn cu_init = (cu_init_fn)dlsym(drv, "cuInit");
    cu_count_fn cu_count = (cu_count_fn)dlsym(drv, "cuDeviceGetCount");
    if (!cu_init || !cu_count) {
        snprintf(usable_why, sizeof usable_why,
                 "the NVIDIA driver library lacks cuInit/cuDeviceGetCount");
        usable = NV_EDEVICE;
        dlclose(drv);
        return;
    }
    int rc = cu_init(0), count = 0;
    if (rc == 0) rc = cu_count(&count);
    if (rc == CU_ERROR_NO_DEVICE || (rc == 0 && count < 1)) {
        snprintf(usable_why, sizeof usable_why, "the NVIDIA driver found no CUDA device");
        dlclose(drv);
        return;
    }
    if (rc != 0) {
        const char *nm = NULL, *msg = NULL;
        cu_str_fn fn = (cu_str_fn)dlsym(drv, "cuGetErrorName");
        cu_str_fn fs = (cu_str_fn)dlsym(drv, "cuGetErrorString");
        if (fn) fn(rc, &nm);
        if (fs) fs(rc, &msg);
        snprintf(usable_why, sizeof usable_why, "the NVIDIA driver failed: %s (%d: %s)",
                 nm ? nm : "CUDA error", rc, msg ? msg : "no description");
        usable = NV_EDEVICE;
        dlclose(drv);
        return;
    }
    /* A device is there (the driver stays loaded; the runtime uses it): load the
     * plug-in and let it decide (compute capability etc.). */
    probe_plugin();
}
#endif

nv_status nv_cuda_status(char *why, size_t why_len) {
    pthread_once(&usable_once, probe);
    if (why && why_len) snprintf(why, why_len, "%s", usable_why);
    return usable;
}


#else /* no CUDA in this build */

void *nv_cuda_sym(const char *name, char *why, size_t why_len) {
    (void)name;
    if (why && why_len) snprintf(why, why_len, NO_CUDA_BUILD);
    return NULL;
}

int nv_cuda_loaded(void) { return 0; }

nv_status nv_cuda_status(char *why, size_t why_len) {
    if (why && why_len) snprintf(why, why_len, NO_CUDA_BUILD);
    return NV_ENODEVICE;
}

#endif

/* ---- the rule ------------------------------------------------------------------- */
int nv_cuda_usable(char *why, size_t why_len) { return nv_cuda_status(why, why_len) == NV_OK; }

const char *nv_device_name(nv_device_kind d) {
    switch (d) {
    case NV_DEVICE_AUTO: return "auto";
    case NV_DEVICE_CPU: return "cpu";
    case NV_DEVICE_CUDA: return "cuda";
    }
    return "?";
}

int nv_device_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "auto")) return NV_DEVICE_AUTO;
    if (!strcmp(s, "cpu")) return NV_DEVICE_CPU;
    if (!strcmp(s, "cuda")) return NV_DEVICE_CUDA;
    return -1;
}

/* The fallback note: one per process, since the reason is (nv_cuda_status). */
static char note_text[600];
static pthread_once_t note_once = PTHREAD_ONCE_INIT;
static void make_note(void) {
    char why[512];
    nv_cuda_status(why, sizeof why);
    snprintf(note_text, sizeof note_text, "no usable GPU (%s); running on the CPU", why);
}

nv_status nv_device_select(nv_device_kind want, const char *what, const char *symbol,
                           int gpu_worth_it, void **fn, const char **note, nv_error *err) {
    *fn = NULL;
    if (note) *note = NULL;
    if (want == NV_DEVICE_CPU) return NV_OK;
    if (want != NV_DEVICE_AUTO && want != NV_DEVICE_CUDA)
        return nv_fail(err, NV_EINTERNAL, "%s: unknown device kind %d", what, (int)want);
    if (want == NV_DEVICE_AUTO && !gpu_worth_it) return NV_OK;
    char why[512];
    nv_status st = nv_cuda_status(why, sizeof why);
    if (st == NV_OK) {
        /* A plug-in without this stage is a broken install, not a missing GPU. */
        *fn = nv_cuda_sym(symbol, why, sizeof why);
        if (!*fn)
            return nv_fail(err, NV_EDEVICE, "%s: the CUDA plug-in cannot run this stage (%s); "
                                            "reinstall nerve, or use --device cpu", what, why);
        return NV_OK;
    }
    if (want == NV_DEVICE_CUDA)
        return nv_fail(err, st,
                       "%s: device 'cuda' was requested but %s (%s); use --device cpu or auto",
                       what, st == NV_ENODEVICE ? "there is no usable GPU" : "the GPU cannot be used",
                       why);
    if (note) {
        pthread_once(&note_once, make_note);
        *note = note_text;
    }
    return NV_OK;
}

static pthread_mutex_t gpu_lock = PTHREAD_MUTEX_INITIALIZER;
void nv_device_lock(void) { pthread_mutex_lock(&gpu_lock); }
void nv_device_unlock(void) { pthread_mutex_unlock(&gpu_lock); }
