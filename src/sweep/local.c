/* local.c: the local backend of a sweep (sweep.h): a small pool of child
 * processes, one task at a time per core, each running the same commands a Slurm
 * array task runs (`nerve train ... --resume --threads 1`, then the analysis
 * verbs), so local and cluster sweeps give the same bytes.
 *
 * Why processes and not threads: every task is a whole `nerve train` with its own
 * HDF5 files (HDF5 is not thread-safe), its own log and its own exit status, and a
 * killed sweep resumes exactly like a requeued array task.
 */
#include "nerve/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void emit(const nv_sweep_local_options *o, nv_sweep_event ev) {
    if (o->on_event) o->on_event(o->ctx, &ev);
}

/* Starts argv with stdout and stderr appended to `log`. Returns the pid or -1. */
static pid_t spawn(char *const argv[], const char *log) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    /* one core per task: the pool already fills the cores */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("NERVE_THREADS", "1", 1);
    execv(argv[0], argv);
    fprintf(stderr, "nerve sweep: cannot run %s (%s)\n", argv[0], strerror(errno));
    _exit(127);
}

int nv_sweep_verb_available(const char *nerve, const char *verb) {
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2), close(fd);
        execl(nerve, nerve, verb, "--help", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The line that says why a task failed: the last "nerve VERB: ..." line of its
 * log (what nv_cli_report prints), else its last non-empty line. */
static void last_error_line(const char *log, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen(log, "r");
    if (!f) return;
    char line[2048], last[2048] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        snprintf(last, sizeof last, "%s", line);
        if (!strncmp(line, "nerve ", 6) && strchr(line, ':')) snprintf(buf, len, "%s", line);
    }
    fclose(f);
    if (!buf[0]) snprintf(buf, len, "%s", last);
}

typedef struct {
    pid_t pid;
    int64_t task;
    int stage;        /* 0: train, 1..: analysis steps */
} slot;

typedef struct {
    const nv_sweep_local_options *o;
    const nv_sweep_index *ix;
    int nsteps;
    const char *steps[NV_SWEEP_MAX_STEPS];
    int64_t done, failed;
    nv_status first;
    nv_error *err;
} pool;

static void task_path(const pool *pl, int64_t t, const char *leaf, char *buf, size_t len) {
    snprintf(buf, len, "%s/tasks/%s%s%s", pl->o->dir, pl->ix->tasks[t].name, *leaf ? "/" : "", leaf);
}

/* Starts stage `stage` of task t (or the next stage that has something to do).
 * Returns the pid, 0 when the task has no stage left, -1 on fork failure. */
static pid_t start_stage(pool *pl, int64_t t, int *stage) {
    const nv_sweep_local_options *o = pl->o;
    char cfg[4096], run[4096], log[4096];
    task_path(pl, t, "config.cfg", cfg, sizeof cfg);
    task_path(pl, t, "run", run, sizeof run);
    if (*stage == 0) {
        if (nv_sweep_task_finished(o->dir, pl->ix->tasks[t].name)) {
            nv_sweep_event ev = {.kind = NV_SWEEP_EV_SKIP, .task = pl->ix->tasks[t].name,
                                 .text = "already trained (run/hashes.json matches its config)"};
            emit(o, ev);
            *stage = 1;
        } else {
            task_path(pl, t, "train.log", log, sizeof log);
            char *argv[12];
            int n = 0;
            argv[n++] = (char *)o->nerve, argv[n++] = "train", argv[n++] = cfg, argv[n++] = "--out";
            argv[n++] = run, argv[n++] = "--resume", argv[n++] = "--threads", argv[n++] = "1";
            if (o->device) argv[n++] = "--device", argv[n++] = (char *)o->device;
            argv[n] = NULL;
            nv_sweep_event ev = {.kind = NV_SWEEP_EV_START, .task = pl->ix->tasks[t].name, .text = "train", .log = log};
            emit(o, ev);
            return spawn(argv, log);
        }
    }
    if (*stage >= 1 && *stage <= pl->nsteps) {
        const char *verb = pl->steps[*stage - 1];
        char leaf[128];
        snprintf(leaf, sizeof leaf, "%s.log", verb);
        task_path(pl, t, leaf, log, sizeof log);
        char *argv[] = {(char *)o->nerve, (char *)verb, run, NULL};
        nv_sweep_event ev = {.kind = NV_SWEEP_EV_START, .task = pl->ix->tasks[t].name, .text = verb, .log = log};
        emit(o, ev);
        return spawn(argv, log);
    }
    return 0;
}

static void task_done(pool *pl, int64_t t) {
    pl->done++;
    nv_sweep_event ev = {.kind = NV_SWEEP_EV_DONE, .task = pl->ix->tasks[t].name, .done = pl->done,
                         .total = pl->ix->ntasks};
    emit(pl->o, ev);
}

static void task_failed(pool *pl, int64_t t, int stage, int code) {
    char log[4096], why[2048], leaf[128];
    snprintf(leaf, sizeof leaf, "%s.log", stage == 0 ? "train" : pl->steps[stage - 1]);
    task_path(pl, t, leaf, log, sizeof log);
    last_error_line(log, why, sizeof why);
    pl->failed++;
    pl->done++;
    nv_sweep_event ev = {.kind = NV_SWEEP_EV_FAIL, .task = pl->ix->tasks[t].name, .text = why, .log = log,
                         .exit_code = code, .done = pl->done, .total = pl->ix->ntasks};
    emit(pl->o, ev);
    if (!pl->first && code == 130 && pl->o->stop && *pl->o->stop) {
        /* Ctrl-C reached the children too: they stopped cleanly, nothing failed */
        pl->first = nv_fail(pl->err, NV_EINTERRUPTED, "interrupted: every finished epoch is saved; run the same "
                            "command to continue");
    } else if (!pl->first) {
        /* exit 2 is bad input (e.g. a run directory of another config): keep it so */
        pl->first = nv_fail(pl->err, code == 2 ? NV_EINPUT : NV_EIO, "task %s: nerve %s exited with %d: %s (log: %s)",
                            pl->ix->tasks[t].name, stage == 0 ? "train" : pl->steps[stage - 1], code, why, log);
    }
}

nv_status nv_sweep_run_local(const nv_sweep_local_options *o, int64_t *nfailed, nv_error *err) {
    nv_sweep_index *ix = NULL;
    nv_status st = nv_sweep_index_load(o->dir, &ix, err);
    if (nfailed) *nfailed = 0;
    if (st) return st;
    pool pl = {.o = o, .ix = ix, .err = err};
    for (int i = 0; i < o->nsteps && i < NV_SWEEP_MAX_STEPS; i++) {
        if (nv_sweep_verb_available(o->nerve, o->steps[i])) {
            pl.steps[pl.nsteps++] = o->steps[i];
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "analysis step '%s' skipped: `nerve %s` is not available in this nerve (not built yet, or no such verb)",
                     o->steps[i], o->steps[i]);
            nv_sweep_event ev = {.kind = NV_SWEEP_EV_NOTE, .text = msg};
            emit(o, ev);
        }
    }
    int jobs = o->jobs > 0 ? o->jobs : nv_default_threads();
    if (jobs < 1) jobs = 1;
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    if (!slots) {
        nv_sweep_index_free(ix);
        return nv_fail(err, NV_ENOMEM, "out of memory");
    }
    int running = 0;
    int64_t next = 0;
    for (;;) {
        /* fill the free slots; a task with nothing to do frees its slot at once */
        while (running < jobs && next < ix->ntasks && !(o->stop && *o->stop)) {
            int s = 0;
            while (slots[s].pid > 0) s++;
            int64_t t = next++;
            int stage = 0;
            pid_t pid = start_stage(&pl, t, &stage);
            if (pid < 0) task_failed(&pl, t, stage, 127);
            else if (pid == 0) task_done(&pl, t);
            else slots[s] = (slot){.pid = pid, .task = t, .stage = stage}, running++;
        }
        if (running == 0) break;
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        int s = 0;
        while (s < jobs && slots[s].pid != pid) s++;
        if (s == jobs) continue; /* not one of ours */
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        slot sl = slots[s];
        slots[s].pid = 0;
        running--;
        if (code != 0) {
            task_failed(&pl, sl.task, sl.stage, code);
            continue;
        }
        int stage = sl.stage + 1;
        pid_t np = (o->stop && *o->stop) ? 0 : start_stage(&pl, sl.task, &stage);
        if (np > 0) {
            slots[s] = (slot){.pid = np, .task = sl.task, .stage = stage};
            running++;
        } else if (np < 0) {
            task_failed(&pl, sl.task, stage, 127);
        } else {
            task_done(&pl, sl.task);
        }
    }
    free(slots);
    if (nfailed) *nfailed = pl.failed;
    if (!pl.first && o->stop && *o->stop && next < ix->ntasks)
        pl.first = nv_fail(err, NV_EINTERRUPTED, "stopped with %lld tasks not started; run the same command to "
                           "continue", (long long)(ix->ntasks - next));
    nv_sweep_index_free(ix);
    return pl.first;
}
