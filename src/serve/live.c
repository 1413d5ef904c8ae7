/* live.c: the viewer's live feed. One watcher thread looks at every run that an
 * open page follows, every poll interval (default 250 ms), and turns what changed
 * into server-sent events for the pages (server.c streams them):
 *
 *   snapshot   a new entry in snapshots/manifest.json {model, epoch, path}
 *   metrics    metrics/<model>.csv was replaced {model, epoch (its last row), rows}
 *   analysis   a file landed under analysis/{ph,pca,features,stats} {kind}
 *   dynamics   dynamics/<model>/manifest.json lists new chunks {model, chunks, last_step}
 *   run        run.json changed {status}
 *
 * It looks only at what the manifest rule lets a reader open (docs/CONTRACTS.md):
 * manifests and files written whole by atomic rename, identified by (inode, size,
 * mtime) so a rename is seen even within one clock tick; directories are only
 * stat'ed (their mtime moves when a file is renamed into them), never listed for
 * files to read. Training never waits for any of this: the watcher is a reader in
 * another process.
 *
 * Every event carries t_file (the mtime of the file that changed, ms since the
 * epoch) and t_detect (when the watcher saw it), so the page can measure the
 * latency from the file landing to the screen (docs/serve.md).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "nerve/snapshot.h"
#include "serve/serve_internal.h"

#define MAX_MODELS 16
#define QUEUE_CAP 512

typedef struct {
    unsigned long long ino, size;
    long long mtime_ns; /* 0: absent */
} sig_t_;

typedef struct watch watch;

struct sv_sub {
    sv_sub *next;
    sv_live *l;
    watch *w;
    char **q; /* (qn) SSE texts, oldest first, owned */
    int qn;
    int dropped;
};

typedef struct {
    char name[64];
    sig_t_ metrics;
    sig_t_ dyn;
    long long dir_sig[3]; /* analysis/{ph,pca,features}/<model> directory mtimes */
} model_state;

struct watch {
    watch *next;
    char run_real[SV_PATH_LEN];
    char run_id[512];
    sv_sub *subs;
    sig_t_ manifest, runjson, summary, stats;
    char **known;         /* "model/epoch" of every manifest entry seen */
    int64_t nknown;
    model_state models[MAX_MODELS];
    int nmodels;
};

struct sv_live {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    int started, stop;
    double poll;
    int64_t next_id;
    watch *watches;
};

double sv_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static sig_t_ sig_of(const char *path) {
    struct stat st;
    sig_t_ s = {0, 0, 0};
    if (stat(path, &st) == 0) {
        s.ino = (unsigned long long)st.st_ino;
        s.size = (unsigned long long)st.st_size;
        s.mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (!s.mtime_ns) s.mtime_ns = 1;
    }
    return s;
}
static int sig_eq(sig_t_ a, sig_t_ b) { return a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns; }
static double sig_ms(sig_t_ s) { return (double)s.mtime_ns / 1e6; }

/* Queues an event for every subscriber of w (under l->mu). data is consumed. */
static void emit(sv_live *l, watch *w, const char *kind, json_t *data, double t_file) {
    json_object_set_new(data, "t_file", json_real(t_file));
    json_object_set_new(data, "t_detect", json_real(sv_wall_ms()));
    char *js = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!js) return;
    int64_t id = ++l->next_id;
    for (sv_sub *s = w->subs; s; s = s->next) {
        size_t n = strlen(js) + strlen(kind) + 64;
        char *text = malloc(n);
        if (!text) continue;
        snprintf(text, n, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)id, kind, js);
        if (s->qn == QUEUE_CAP) { /* a page that stopped reading: drop its oldest */
            free(s->q[0]);
            memmove(s->q, s->q + 1, sizeof *s->q * (QUEUE_CAP - 1));
            s->qn--;
            s->dropped++;
        }
        s->q[s->qn++] = text;
    }
    free(js);
    pthread_cond_broadcast(&l->cv);
}

static model_state *model_of(watch *w, const char *name) {
    for (int i = 0; i < w->nmodels; i++)
        if (!strcmp(w->models[i].name, name)) return &w->models[i];
    if (w->nmodels == MAX_MODELS || !sv_name_ok(name)) return NULL;
    model_state *m = &w->models[w->nmodels++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

/* The models a run has: from the names of metrics/<model>.csv and dynamics/ subfolders (names
 * only; nothing is opened). */
static void discover_models(watch *w) {
    char p[SV_PATH_LEN];
    sv_path(p, w->run_real, "metrics");
    DIR *d = opendir(p);
    struct dirent *e;
    if (d) {
        while ((e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (e->d_name[0] == '.' || n < 5 || n > 60 || strcmp(e->d_name + n - 4, ".csv")) continue;
            char name[64];
            memcpy(name, e->d_name, n - 4);
            name[n - 4] = '\0';
            model_of(w, name);
        }
        closedir(d);
    }
    sv_path(p, w->run_real, "dynamics");
    if ((d = opendir(p))) {
        while ((e = readdir(d)))
            if (e->d_name[0] != '.' && sv_name_ok(e->d_name) && e->d_type == DT_DIR) model_of(w, e->d_name);
        closedir(d);
    }
}

static int known_has(const watch *w, const char *key) {
    for (int64_t i = 0; i < w->nknown; i++)
        if (!strcmp(w->known[i], key)) return 1;
    return 0;
}

/* Reads the snapshot manifest; emits an event per entry not seen before (none on
 * the baseline pass). */
static void scan_manifest(sv_live *l, watch *w, int baseline) {
    char p[SV_PATH_LEN];
    sv_path(p, w->run_real, "snapshots/manifest.json");
    sig_t_ s = sig_of(p);
    if (sig_eq(s, w->manifest)) return;
    w->manifest = s;
    sv_path(p, w->run_real, "snapshots");
    nv_manifest m = {0};
    nv_error err = {0};
    if (nv_manifest_read(p, &m, &err)) return;
    for (int64_t i = 0; i < m.count; i++) {
        char key[96];
        sv_path(key, m.files[i].model, "%lld", (long long)m.files[i].epoch);
        if (known_has(w, key)) continue;
        char **nk = realloc(w->known, sizeof *nk * (size_t)(w->nknown + 1));
        if (!nk) break;
        w->known = nk;
        w->known[w->nknown++] = strdup(key);
        model_of(w, m.files[i].model);
        if (baseline) continue;
        json_t *j = json_pack("{s:s, s:I, s:s}", "model", m.files[i].model, "epoch", (json_int_t)m.files[i].epoch,
                              "path", m.files[i].path);
        if (j) emit(l, w, "snapshot", j, sig_ms(s));
    }
    nv_manifest_free(&m);
}

/* The last row of a metrics CSV: its epoch and the row count. */
static void metrics_tail(const char *path, int64_t *epoch, int64_t *rows) {
    *epoch = -1;
    *rows = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        if (first) { first = 0; continue; } /* header */
        if (line[0] < '0' || line[0] > '9') continue;
        (*rows)++;
        *epoch = strtoll(line, NULL, 10);
    }
    fclose(f);
}

static void scan_models(sv_live *l, watch *w, int baseline) {
    static const char *const kinds[3] = {"ph", "pca", "features"};
    char p[SV_PATH_LEN];
    for (int i = 0; i < w->nmodels; i++) {
        model_state *m = &w->models[i];
        sv_path(p, w->run_real, "metrics/%s.csv", m->name);
        sig_t_ s = sig_of(p);
        if (!sig_eq(s, m->metrics)) {
            m->metrics = s;
            if (!baseline && s.mtime_ns) {
                int64_t ep, rows;
                metrics_tail(p, &ep, &rows);
                json_t *j = json_pack("{s:s, s:I, s:I}", "model", m->name, "epoch", (json_int_t)ep, "rows",
                                      (json_int_t)rows);
                if (j) emit(l, w, "metrics", j, sig_ms(s));
            }
        }
        for (int k = 0; k < 3; k++) {
            sv_path(p, w->run_real, "analysis/%s/%s", kinds[k], m->name);
            sig_t_ d = sig_of(p);
            if (d.mtime_ns != m->dir_sig[k]) {
                m->dir_sig[k] = d.mtime_ns;
                json_t *j = json_pack("{s:s, s:s}", "kind", kinds[k], "model", m->name);
                if (!baseline && j) emit(l, w, "analysis", j, sig_ms(d));
                else json_decref(j);
            }
        }
        sv_path(p, w->run_real, "dynamics/%s/manifest.json", m->name);
        s = sig_of(p);
        if (!sig_eq(s, m->dyn)) {
            m->dyn = s;
            if (!baseline && s.mtime_ns) {
                json_error_t je;
                json_t *dm = json_load_file(p, 0, &je);
                json_t *chunks = dm ? json_object_get(dm, "chunks") : NULL;
                size_t n = json_array_size(chunks);
                json_int_t last = n ? json_integer_value(json_object_get(json_array_get(chunks, n - 1), "last_step")) : 0;
                json_t *j = json_pack("{s:s, s:I, s:I}", "model", m->name, "chunks", (json_int_t)n, "last_step", last);
                json_decref(dm);
                if (j) emit(l, w, "dynamics", j, sig_ms(s));
            }
        }
    }
}

static void scan_run(sv_live *l, watch *w, int baseline) {
    char p[SV_PATH_LEN];
    scan_manifest(l, w, baseline);
    discover_models(w);
    scan_models(l, w, baseline);
    sv_path(p, w->run_real, "analysis/ph/summary.csv");
    sig_t_ s = sig_of(p);
    if (!sig_eq(s, w->summary)) {
        w->summary = s;
        if (!baseline && s.mtime_ns) emit(l, w, "analysis", json_pack("{s:s}", "kind", "ph_summary"), sig_ms(s));
    }
    sv_path(p, w->run_real, "analysis/stats/stats.h5");
    s = sig_of(p);
    if (!sig_eq(s, w->stats)) {
        w->stats = s;
        if (!baseline && s.mtime_ns) emit(l, w, "analysis", json_pack("{s:s}", "kind", "stats"), sig_ms(s));
    }
    sv_path(p, w->run_real, "run.json");
    s = sig_of(p);
    if (!sig_eq(s, w->runjson)) {
        w->runjson = s;
        if (!baseline && s.mtime_ns) {
            json_error_t je;
            json_t *rj = json_load_file(p, 0, &je);
            const char *status = rj ? json_string_value(json_object_get(rj, "status")) : NULL;
            emit(l, w, "run", json_pack("{s:s}", "status", status ? status : "unknown"), sig_ms(s));
            json_decref(rj);
        }
    }
}

static void *watcher(void *arg) {
    sv_live *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        for (watch *w = l->watches; w; w = w->next)
            if (w->subs) scan_run(l, w, 0);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)(l->poll * 1e9);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        /* woken early only to stop; subscribers wait on the same condition */
        while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &ts) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

sv_live *sv_live_new(double poll_seconds) {
    sv_live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->poll = poll_seconds > 0 ? poll_seconds : 0.25;
    if (pthread_create(&l->th, NULL, watcher, l)) {
        free(l);
        return NULL;
    }
    l->started = 1;
    return l;
}

sv_sub *sv_live_subscribe(sv_live *l, const char *run_real, const char *run_id) {
    sv_sub *s = calloc(1, sizeof *s);
    if (!s || !(s->q = calloc(QUEUE_CAP, sizeof *s->q))) {
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&l->mu);
    if (l->stop) {
        pthread_mutex_unlock(&l->mu);
        free(s->q);
        free(s);
        return NULL;
    }
    watch *w = l->watches;
    while (w && strcmp(w->run_real, run_real)) w = w->next;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (w) {
            snprintf(w->run_real, sizeof w->run_real, "%s", run_real);
            snprintf(w->run_id, sizeof w->run_id, "%s", run_id);
            scan_run(l, w, 1); /* the baseline: what is there now is not news */
            w->next = l->watches;
            l->watches = w;
        }
    } else if (!w->subs) {
        scan_run(l, w, 1); /* nobody watched it for a while: a fresh baseline */
    }
    if (!w) {
        pthread_mutex_unlock(&l->mu);
        free(s->q);
        free(s);
        return NULL;
    }
    s->l = l;
    s->w = w;
    s->next = w->subs;
    w->subs = s;
    /* the first event, to this subscriber only: the page knows it is connected */
    char text[700];
    snprintf(text, sizeof text, "id: %lld\nevent: hello\ndata: {\"run\":\"%s\",\"poll_ms\":%d,\"t_detect\":%.3f}\n\n",
             (long long)++l->next_id, w->run_id, (int)(l->poll * 1000), sv_wall_ms());
    s->q[s->qn++] = strdup(text);
    pthread_mutex_unlock(&l->mu);
    return s;
}

char *sv_sub_next(sv_sub *s, double timeout, int *closed) {
    sv_live *l = s->l;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (long long)(timeout * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    char *out = NULL;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && s->qn == 0)
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT) break;
    *closed = l->stop;
    if (!l->stop && s->qn > 0) {
        out = s->q[0];
        memmove(s->q, s->q + 1, sizeof *s->q * (size_t)(s->qn - 1));
        s->qn--;
    }
    pthread_mutex_unlock(&l->mu);
    return out;
}

void sv_sub_close(sv_sub *s) {
    if (!s) return;
    sv_live *l = s->l;
    pthread_mutex_lock(&l->mu);
    for (sv_sub **pp = &s->w->subs; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < s->qn; i++) free(s->q[i]);
    free(s->q);
    free(s);
}

/* Called after every connection has ended (MHD_stop_daemon joins them). */
void sv_live_stop(sv_live *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->started) pthread_join(l->th, NULL);
}

/* Frees the watches (no subscriber may remain). */
void sv_live_free(sv_live *l) {
    if (!l) return;
    for (watch *w = l->watches, *nx; w; w = nx) {
        nx = w->next;
        for (int64_t i = 0; i < w->nknown; i++) free(w->known[i]);
        free(w->known);
        free(w);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}
