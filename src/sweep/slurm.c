/* slurm.c: the Slurm backend of a sweep (sweep.h). It writes two sbatch
 * scripts and hands them to sbatch; Slurm does all the scheduling.
 *
 *   train.sbatch    a job array, task i = `nerve train tasks/<i>/config.cfg
 *                   --out tasks/<i>/run --resume`: requeue-safe (#SBATCH --requeue,
 *                   and --resume continues from the last checkpoint) and idempotent
 *                   (a task whose run holds hashes.json for the same config exits 0).
 *   analyze.sbatch  a job array of the analysis steps, submitted with
 *                   --dependency=aftercorr:<train job>: task i starts as soon as
 *                   training task i has finished well, not after the whole array.
 *
 * Logs go to DIR/logs/<stage>_%A_%a.out in append mode, so a requeued task keeps
 * the log of its first attempt above the second.
 */
#include "nerve/sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

char *nv_sweep_slurm_script(const nv_sweep_slurm_options *o, int analysis) {
    nv_strbuf t = {0};
    const char *stage = analysis ? "analyze" : "train";
    int cpus = o->cpus > 0 ? o->cpus : 1;
    nv_sb_printf(&t, "#!/bin/bash\n");
    if (!analysis)
        nv_sb_printf(&t, "# The training array of the sweep %s, written by `nerve sweep` (nerve %s).\n"
                         "# Task i trains tasks/<i>/config.cfg into tasks/<i>/run. Requeue-safe: --resume\n"
                         "# continues a preempted task from its last checkpoint to the same bytes; idempotent:\n"
                         "# a task whose run already holds hashes.json for the same config exits at once.\n",
                     o->dir, NERVE_VERSION);
    else
        nv_sb_printf(&t, "# The analysis array of the sweep %s, written by `nerve sweep` (nerve %s).\n"
                         "# Submitted with --dependency=aftercorr:<training job>: task i starts when training\n"
                         "# task i has finished well. Each step is `nerve VERB tasks/<i>/run` (idempotent:\n"
                         "# the analysis verbs skip outputs that exist); a verb this nerve lacks is skipped.\n",
                     o->dir, NERVE_VERSION);
    nv_sb_printf(&t, "#SBATCH --job-name=nerve-%s\n", stage);
    nv_sb_printf(&t, "#SBATCH --array=0-%lld\n", (long long)(o->ntasks - 1));
    nv_sb_printf(&t, "#SBATCH --output=%s/logs/%s_%%A_%%a.out\n", o->dir, stage);
    nv_sb_printf(&t, "#SBATCH --open-mode=append\n#SBATCH --requeue\n");
    nv_sb_printf(&t, "#SBATCH --chdir=%s\n", o->workdir);
    nv_sb_printf(&t, "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", cpus);
    if (o->gpu) nv_sb_printf(&t, "#SBATCH --gres=gpu:1\n");
    if (o->partition) nv_sb_printf(&t, "#SBATCH --partition=%s\n", o->partition);
    if (o->time) nv_sb_printf(&t, "#SBATCH --time=%s\n", o->time);
    if (o->mem) nv_sb_printf(&t, "#SBATCH --mem=%s\n", o->mem);
    if (o->account) nv_sb_printf(&t, "#SBATCH --account=%s\n", o->account);
    nv_sb_printf(&t, "set -u\n");
    nv_sb_printf(&t, "NERVE='%s'\nSWEEP='%s'\n", o->nerve, o->dir);
    nv_sb_printf(&t, "task=$(printf '%%0%dd' \"$SLURM_ARRAY_TASK_ID\")\n", o->digits);
    nv_sb_printf(&t, "dir=\"$SWEEP/tasks/$task\"\n");
    nv_sb_printf(&t, "export NERVE_THREADS=\"${SLURM_CPUS_PER_TASK:-%d}\"\n", cpus);
    if (!analysis) {
        nv_sb_printf(&t, "if [ -f \"$dir/run/hashes.json\" ] && cmp -s \"$dir/config.cfg\" \"$dir/run/config.cfg\"; then\n"
                         "  echo \"task $task: already trained ($dir/run/hashes.json)\"\n  exit 0\nfi\n");
        nv_sb_printf(&t, "exec \"$NERVE\" train \"$dir/config.cfg\" --out \"$dir/run\" --resume --threads \"$NERVE_THREADS\"%s\n",
                     o->gpu ? " --device cuda" : "");
    } else {
        nv_sb_printf(&t, "for verb in");
        for (int i = 0; i < o->nsteps; i++) nv_sb_printf(&t, " %s", o->steps[i]);
        nv_sb_printf(&t, "; do\n"
                         "  if \"$NERVE\" \"$verb\" --help >/dev/null 2>&1; then\n"
                         "    \"$NERVE\" \"$verb\" \"$dir/run\" || exit $?\n"
                         "  else\n"
                         "    echo \"task $task: analysis step '$verb' skipped: \\`nerve $verb\\` is not available in this nerve (not built yet, or no such verb)\"\n"
                         "  fi\n"
                         "done\n");
    }
    return nv_sb_take(&t);
}

/* Paths go into #SBATCH lines and single-quoted shell words. */
static nv_status check_path(const char *what, const char *p, nv_error *err) {
    if (strpbrk(p, "'\n\t \"$`\\"))
        return nv_fail(err, NV_EINPUT, "%s '%s' has a space, quote or shell character; the sbatch scripts "
                       "need plain paths: move it, or run from a directory without them", what, p);
    return NV_OK;
}

static nv_status check_options(const nv_sweep_slurm_options *o, nv_error *err) {
    nv_status st;
    if ((st = check_path("the sweep directory", o->dir, err)) || (st = check_path("the nerve binary", o->nerve, err)) ||
        (st = check_path("the working directory", o->workdir, err)))
        return st;
    const char *vals[] = {o->partition, o->time, o->mem, o->account};
    const char *names[] = {"--partition", "--time", "--mem", "--account"};
    for (int i = 0; i < 4; i++)
        if (vals[i] && (!*vals[i] || strpbrk(vals[i], "'\n\t \"$`\\")))
            return nv_fail(err, NV_EINPUT, "%s '%s': expected one word without spaces or quotes", names[i], vals[i]);
    for (int i = 0; i < o->nsteps; i++)
        for (const char *c = o->steps[i]; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
                return nv_fail(err, NV_EINPUT, "analysis step '%s': expected a verb name like ph or stats", o->steps[i]);
    if (o->ntasks < 1) return nv_fail(err, NV_EINPUT, "the sweep has no tasks");
    return NV_OK;
}

nv_status nv_sweep_slurm_write(const nv_sweep_slurm_options *o, nv_error *err) {
    nv_status st = check_options(o, err);
    if (st) return st;
    char path[4096];
    snprintf(path, sizeof path, "%s/logs", o->dir);
    if ((st = nv_mkdirs(path, err))) return st;
    snprintf(path, sizeof path, "%s/slurm", o->dir);
    if ((st = nv_mkdirs(path, err))) return st;
    for (int analysis = 0; analysis <= (o->nsteps > 0) && !st; analysis++) {
        char *s = nv_sweep_slurm_script(o, analysis);
        if (!s) return nv_fail(err, NV_ENOMEM, "out of memory");
        snprintf(path, sizeof path, "%s/slurm/%s.sbatch", o->dir, analysis ? "analyze" : "train");
        st = nv_atomic_write_text(path, s, err);
        free(s);
    }
    return st;
}

int nv_sweep_find_program(const char *name, char *buf, size_t len) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, len, "%.*s/%s", (int)n, n ? path : ".", name);
        if (access(buf, X_OK) == 0) return 1;
        path += n + (path[n] == ':');
    }
    buf[0] = '\0';
    return 0;
}

/* Runs `sbatch --parsable [dep] script` and puts the job id in id. */
static nv_status sbatch(const char *prog, const char *dep, const char *script, char *id, size_t len, nv_error *err) {
    int fd[2];
    if (pipe(fd) != 0) return nv_fail(err, NV_EIO, "pipe failed (%s)", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) return nv_fail(err, NV_EIO, "fork failed (%s)", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[1]);
        if (dep) execl(prog, prog, "--parsable", dep, script, (char *)NULL);
        else execl(prog, prog, "--parsable", script, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && ((r = read(fd[0], out + n, sizeof out - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) n += (size_t)r;
    out[n] = '\0';
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    out[strcspn(out, "\n")] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return nv_fail(err, NV_EIO, "sbatch %s failed (exit %d): %s", script,
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    /* --parsable prints "jobid" or "jobid;cluster" */
    out[strcspn(out, ";")] = '\0';
    if (!out[0] || strspn(out, "0123456789") != strlen(out))
        return nv_fail(err, NV_EIO, "sbatch %s: unexpected answer '%s' (expected a job id)", script, out);
    snprintf(id, len, "%s", out);
    return NV_OK;
}

nv_status nv_sweep_slurm_submit(const nv_sweep_slurm_options *o, char *train_job, char *analyze_job, size_t len,
                                nv_error *err) {
    char prog[4096], script[4096], dep[128];
    train_job[0] = analyze_job[0] = '\0';
    if (!nv_sweep_find_program("sbatch", prog, sizeof prog))
        return nv_fail(err, NV_EINPUT, "--slurm: no sbatch on PATH (is this a Slurm login node? `module load slurm`?); "
                       "--dry-run writes the scripts without submitting, --run runs the sweep here");
    snprintf(script, sizeof script, "%s/slurm/train.sbatch", o->dir);
    nv_status st = sbatch(prog, NULL, script, train_job, len, err);
    if (!st && o->nsteps > 0) {
        snprintf(dep, sizeof dep, "--dependency=aftercorr:%s", train_job);
        snprintf(script, sizeof script, "%s/slurm/analyze.sbatch", o->dir);
        st = sbatch(prog, dep, script, analyze_job, len, err);
        if (st) nv_error_prefix(err, "the training array is submitted as job %s, but ", train_job);
    }
    json_t *j = json_object();
    json_object_set_new(j, "train", json_string(train_job));
    json_object_set_new(j, "analyze", analyze_job[0] ? json_string(analyze_job) : json_null());
    char *t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (t && train_job[0]) {
        snprintf(script, sizeof script, "%s/slurm/jobs.json", o->dir);
        nv_error ignore = {0};
        nv_atomic_write_text(script, t, st ? &ignore : err);
    }
    free(t);
    return st;
}
