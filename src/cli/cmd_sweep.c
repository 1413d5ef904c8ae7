/* cmd_sweep.c: `nerve sweep CONFIG`: expands a config with lists into one task
 * per combination and seed (include/nerve/sweep.h does the work), then runs the
 * tasks here (--run) or writes and submits Slurm job arrays (--slurm). This file
 * parses flags, prints the plan and the progress of a local sweep. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nerve/sweep.h"

static volatile int g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static const char *const USAGE = "usage: nerve sweep CONFIG [--out DIR] [--run | --slurm [--dry-run]] [options]\n";

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve sweep CONFIG [--out DIR] [--run | --slurm [--dry-run]] [options]\n\n"
            "Expands an experiment config whose keys hold lists (the sweep axes) into one task\n"
            "per combination and seed: DIR/tasks/NNNN/config.cfg (plain, validated configs) and\n"
            "DIR/sweep.json. Seeds: `seeds = [1, 2, 3];` (or `seed = [1, 2, 3];`). A key that takes\n"
            "a list is swept with a list of lists: `hidden = ([64, 64], [32, 32, 32]);`.\n"
            "Then, with --run or --slurm, trains every task (`nerve train TASK/config.cfg --out\n"
            "TASK/run --resume`) and runs the analysis steps; `nerve collect DIR` merges the results.\n"
            "Writing, running and submitting again are safe: finished tasks are skipped.\n\n"
            "options:\n"
            "  --out DIR          sweep directory (default sweeps/<config name>)\n"
            "  --max-tasks N      refuse sweeps of more than N tasks (default %d)\n"
            "  --epochs N         train every task for N epochs instead of train.epochs (a quick\n"
            "                     try; the snapshot schedule follows, as with nerve train --epochs)\n"
            "  --run              run the tasks here, in parallel\n"
            "  --jobs N           with --run: tasks at once (default: the cores, or NERVE_THREADS)\n"
            "  --analyze[=VERBS]  after training, run `nerve VERB RUN` for each verb of the comma\n"
            "                     list (default: analyze); a verb not built yet is skipped\n"
            "  --device D         cpu | cuda: passed to nerve train (default: the config's)\n"
            "  --slurm            write and submit Slurm job arrays (training, then analysis with\n"
            "                     --dependency=aftercorr); needs sbatch on PATH\n"
            "  --dry-run          with --slurm: write DIR/slurm/*.sbatch, submit nothing\n"
            "  --gpu              with --slurm: one GPU per task (--gres=gpu:1, --device cuda)\n"
            "  --cpus N           with --slurm: --cpus-per-task (training threads; default 1)\n"
            "  --partition P, --time T, --mem M, --account A   passed to sbatch\n"
            "  -h, --help         this help\n",
            NV_SWEEP_DEFAULT_MAX_TASKS);
}

static void on_event(void *ctx, const nv_sweep_event *ev) {
    (void)ctx;
    switch (ev->kind) {
    case NV_SWEEP_EV_NOTE: fprintf(stderr, "nerve sweep: %s\n", ev->text); break;
    case NV_SWEEP_EV_START: printf("task %s: %s (log %s)\n", ev->task, ev->text, ev->log); break;
    case NV_SWEEP_EV_SKIP: printf("task %s: %s\n", ev->task, ev->text); break;
    case NV_SWEEP_EV_DONE: printf("task %s: done [%lld/%lld]\n", ev->task, (long long)ev->done, (long long)ev->total); break;
    case NV_SWEEP_EV_FAIL:
        fprintf(stderr, "task %s: FAILED (exit %d) [%lld/%lld]: %s\n  log: %s\n", ev->task, ev->exit_code,
                (long long)ev->done, (long long)ev->total, ev->text, ev->log);
        break;
    }
    fflush(stdout);
}

/* Splits "ph,stats" into steps (pointers into buf). */
static int parse_steps(char *buf, const char **steps) {
    int n = 0;
    for (char *save = NULL, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (!*s) continue;
        if (n == NV_SWEEP_MAX_STEPS) return -1;
        steps[n++] = s;
    }
    return n;
}

int nv_cmd_sweep(int argc, char **argv) {
    enum { O_MAX = 1000, O_EPOCHS, O_RUN, O_JOBS, O_ANALYZE, O_DEVICE, O_SLURM, O_DRY, O_GPU, O_CPUS, O_PART, O_TIME, O_MEM, O_ACCT };
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},      {"max-tasks", required_argument, 0, O_MAX},
        {"epochs", required_argument, 0, O_EPOCHS},
        {"run", no_argument, 0, O_RUN},          {"jobs", required_argument, 0, O_JOBS},
        {"analyze", optional_argument, 0, O_ANALYZE}, {"device", required_argument, 0, O_DEVICE},
        {"slurm", no_argument, 0, O_SLURM},      {"dry-run", no_argument, 0, O_DRY},
        {"gpu", no_argument, 0, O_GPU},          {"cpus", required_argument, 0, O_CPUS},
        {"partition", required_argument, 0, O_PART}, {"time", required_argument, 0, O_TIME},
        {"mem", required_argument, 0, O_MEM},    {"account", required_argument, 0, O_ACCT},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    const char *out = NULL, *device = NULL;
    long long max_tasks = NV_SWEEP_DEFAULT_MAX_TASKS, jobs = 0, cpus = 1;
    int run = 0, slurm = 0, dry = 0, gpu = 0, nsteps = 0;
    const char *steps[NV_SWEEP_MAX_STEPS];
    char stepbuf[512];
    nv_sweep_slurm_options so = {0};
    char epochs_override[64];
    long long epochs = -1;
    const char *overrides[1] = {epochs_override};
    int noverrides = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case O_MAX:
            if (nv_cli_int("sweep", "--max-tasks", optarg, 1, 100000000, &max_tasks)) return 2;
            break;
        case O_EPOCHS: {
            if (nv_cli_int("sweep", "--epochs", optarg, 0, 1000000, &epochs)) return 2;
            snprintf(epochs_override, sizeof epochs_override, "train: { epochs = %lld; };", epochs);
            noverrides = 1;
            break;
        }
        case O_RUN: run = 1; break;
        case O_JOBS:
            if (nv_cli_int("sweep", "--jobs", optarg, 1, 4096, &jobs)) return 2;
            break;
        case O_ANALYZE:
            snprintf(stepbuf, sizeof stepbuf, "%s", optarg ? optarg : "analyze");
            nsteps = parse_steps(stepbuf, steps);
            if (nsteps <= 0)
                return nv_cli_usage("sweep", "--analyze=VERBS: expected 1 to %d verbs separated by commas, like ph,stats",
                                    NV_SWEEP_MAX_STEPS);
            break;
        case O_DEVICE:
            if (strcmp(optarg, "cpu") && strcmp(optarg, "cuda") && strcmp(optarg, "auto"))
                return nv_cli_usage("sweep", "--device: expected auto, cpu or cuda, found '%s'", optarg);
            device = optarg;
            break;
        case O_SLURM: slurm = 1; break;
        case O_DRY: dry = 1; break;
        case O_GPU: gpu = 1; break;
        case O_CPUS:
            if (nv_cli_int("sweep", "--cpus", optarg, 1, 4096, &cpus)) return 2;
            break;
        case O_PART: so.partition = optarg; break;
        case O_TIME: so.time = optarg; break;
        case O_MEM: so.mem = optarg; break;
        case O_ACCT: so.account = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_getopt_fail("sweep", c, optind, argv, USAGE);
        }
    }
    if (optind != argc - 1) return nv_cli_usage("sweep", "expected one CONFIG file, found %d arguments", argc - optind);
    if (run && slurm) return nv_cli_usage("sweep", "--run and --slurm contradict each other: run here, or on Slurm");
    if (dry && !slurm) return nv_cli_usage("sweep", "--dry-run goes with --slurm (it writes the sbatch scripts only)");
    if (!slurm && (gpu || so.partition || so.time || so.mem || so.account || cpus != 1))
        return nv_cli_usage("sweep", "--gpu, --cpus, --partition, --time, --mem and --account go with --slurm");
    if (jobs && !run) return nv_cli_usage("sweep", "--jobs goes with --run");
    if (gpu && device && strcmp(device, "cuda")) return nv_cli_usage("sweep", "--gpu trains on the GPU: --device %s contradicts it", device);
    const char *config = argv[optind];
    char sbatch[PATH_MAX];
    /* Refuse before writing anything when Slurm is not there. */
    if (slurm && !dry && !nv_sweep_find_program("sbatch", sbatch, sizeof sbatch)) {
        fprintf(stderr, "nerve sweep: --slurm: no sbatch on PATH (is this a Slurm login node? `module load slurm`?); "
                        "--slurm --dry-run writes the scripts without submitting, --run runs the sweep here\n");
        return 2;
    }

    nv_error err = {0};
    nv_sweep_plan *plan = NULL;
    if (nv_sweep_plan_load_with(config, max_tasks, overrides, noverrides, &plan, &err))
        return nv_cli_report("sweep", &err);
    if (noverrides) printf("every task trains for %lld epochs (--epochs)\n", epochs);
    char outbuf[PATH_MAX];
    if (!out) {
        const char *base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
        snprintf(outbuf, sizeof outbuf, "sweeps/%.*s", (int)strcspn(base, "."), base);
        out = outbuf;
    }
    if (nv_sweep_write(plan, out, &err)) {
        nv_sweep_plan_free(plan);
        return nv_cli_report("sweep", &err);
    }
    long long nseeds = (long long)(plan->ntasks / plan->nconfigs);
    printf("sweep %s: %lld tasks (%lld configuration%s x %lld seed%s) in %s\n", config, (long long)plan->ntasks,
           (long long)plan->nconfigs, plan->nconfigs == 1 ? "" : "s", nseeds, nseeds == 1 ? "" : "s", out);
    for (int a = 0; a < plan->naxes; a++) {
        printf("  %-28s", plan->axes[a].key);
        for (int i = 0; i < plan->axes[a].nvalues; i++) printf("%s%s", i ? " | " : "", plan->axes[a].labels[i]);
        printf("\n");
    }
    if (plan->naxes == 0) printf("  (no lists in the config: one task)\n");
    int64_t ntasks = plan->ntasks;
    int digits = plan->digits;
    nv_sweep_plan_free(plan);
    fflush(stdout);

    char nerve[PATH_MAX], absdir[PATH_MAX], cwd[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", nerve, sizeof nerve - 1);
    if (n <= 0) {
        fprintf(stderr, "nerve sweep: cannot find the nerve binary (/proc/self/exe)\n");
        return 1;
    }
    nerve[n] = '\0';
    if (!realpath(out, absdir) || !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "nerve sweep: %s: cannot resolve the directory\n", out);
        return 1;
    }

    if (run) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        nv_sweep_local_options lo = {.nerve = nerve, .dir = absdir, .jobs = (int)jobs, .device = device,
                                     .nsteps = nsteps, .stop = &g_stop, .on_event = on_event};
        for (int i = 0; i < nsteps; i++) lo.steps[i] = steps[i];
        int64_t failed = 0;
        double t0 = nv_now();
        nv_status st = nv_sweep_run_local(&lo, &failed, &err);
        if (st) {
            if (err.status != NV_EINTERRUPTED)
                fprintf(stderr, "nerve sweep: %lld of %lld tasks failed; the first:\n", (long long)failed, (long long)ntasks);
            return nv_cli_report("sweep", &err);
        }
        printf("sweep finished: %lld tasks in %.1fs; merge them with: nerve collect %s\n", (long long)ntasks,
               nv_now() - t0, out);
        return 0;
    }
    if (slurm) {
        so.nerve = nerve, so.dir = absdir, so.workdir = cwd, so.cpus = (int)cpus, so.gpu = gpu;
        so.ntasks = ntasks, so.digits = digits, so.nsteps = nsteps;
        for (int i = 0; i < nsteps; i++) so.steps[i] = steps[i];
        if (nv_sweep_slurm_write(&so, &err)) return nv_cli_report("sweep", &err);
        printf("wrote %s/slurm/train.sbatch%s\n", out, nsteps ? " and analyze.sbatch" : "");
        if (dry) {
            printf("dry run: nothing submitted. Submit with:\n  jid=$(sbatch --parsable %s/slurm/train.sbatch)\n", absdir);
            if (nsteps) printf("  sbatch --dependency=aftercorr:$jid %s/slurm/analyze.sbatch\n", absdir);
            return 0;
        }
        char tj[64], aj[64];
        if (nv_sweep_slurm_submit(&so, tj, aj, sizeof tj, &err)) return nv_cli_report("sweep", &err);
        printf("submitted: training array job %s (%lld tasks)", tj, (long long)ntasks);
        if (aj[0]) printf(", analysis array job %s (aftercorr:%s)", aj, tj);
        printf("\nwatch with `squeue -j %s%s%s`; logs in %s/logs/; when done: nerve collect %s\n", tj, aj[0] ? "," : "",
               aj, out, out);
        return 0;
    }
    printf("tasks written; run them with --run (here) or --slurm (job arrays)\n");
    return 0;
}
