/* cmd_train.c: `nerve train CONFIG`: trains the experiment's networks and fills
 * its run directory (include/nerve/run.h does the work; this file parses flags,
 * prints the resolved configuration, draws progress and keeps log.txt). */
#include <cblas.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "nerve/dynamics.h"
#include "nerve/run.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

typedef struct {
    FILE *log;
    const char *serve_port; /* --serve[=PORT]: start `nerve serve` on the run directory */
    pid_t server;           /* its process, once started */
    nv_progress bar;
    int bar_live;
    const nv_experiment *ex;
    int64_t next_line_epoch;
} printer;

static void say(printer *p, FILE *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(printer *p, FILE *f, const char *fmt, ...) {
    va_list ap;
    if (p->bar_live && p->bar.tty) fprintf(p->bar.f, "\r\033[K");
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fflush(f);
    if (p->log) {
        va_start(ap, fmt);
        vfprintf(p->log, fmt, ap);
        va_end(ap);
        fflush(p->log);
    }
}

extern char **environ;

/* `nerve train --serve`: the viewer is its own process, `nerve serve RUN --port P`
 * (this same program), started once the run directory exists. Training never
 * waits for it: it only reads files the run has published, at a lower priority
 * (nerve serve's --nice). It prints its own URL. */
static void start_viewer(printer *p, const char *dir) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        say(p, stderr, "nerve train: --serve: cannot find this program to start the viewer\n");
        return;
    }
    exe[n] = '\0';
    char *args[] = {exe, "serve", (char *)dir, "--port", (char *)p->serve_port, NULL};
    if (posix_spawn(&p->server, exe, NULL, NULL, args, environ)) {
        say(p, stderr, "nerve train: --serve: cannot start nerve serve\n");
        p->server = 0;
    }
}

static void on_event(void *ctx, const nv_train_event *ev) {
    printer *p = ctx;
    char extra[160];
    switch (ev->kind) {
    case NV_EV_DIR_READY: {
        /* the run directory was accepted: from now on everything also goes to log.txt */
        char path[NV_PATH_LEN + 16];
        snprintf(path, sizeof path, "%s/log.txt", ev->text);
        p->log = fopen(path, "a");
        if (p->serve_port) start_viewer(p, ev->text);
        break;
    }
    case NV_EV_NOTE:
        say(p, stderr, "%s\n", ev->text);
        break;
    case NV_EV_MODEL_START:
        say(p, stdout, "%s: %s at epoch %lld of %lld (train acc %.4f, test acc %.4f)\n", ev->model,
            ev->epoch == 0 ? "starting" : "resuming", (long long)ev->epoch, (long long)ev->epochs, ev->train_acc,
            ev->test_acc);
        nv_progress_start(&p->bar, stdout, ev->model, ev->epochs - ev->epoch);
        p->bar.every = 5.0;
        p->bar_live = 1;
        p->next_line_epoch = ev->epoch;
        break;
    case NV_EV_STEP:
        if (p->bar.tty && ev->step % 16 == 0) {
            snprintf(extra, sizeof extra, "epoch %lld/%lld loss %.4f", (long long)ev->epoch, (long long)ev->epochs,
                     (double)ev->train_loss);
            nv_progress_update(&p->bar, (ev->epoch - 1) - (p->bar.total - ev->epochs) * 0, extra);
        }
        break;
    case NV_EV_EPOCH: {
        snprintf(extra, sizeof extra, "epoch %lld/%lld: train loss %.4f acc %.4f | test loss %.4f acc %.4f",
                 (long long)ev->epoch, (long long)ev->epochs, ev->train_loss, ev->train_acc, ev->test_loss,
                 ev->test_acc);
        int64_t done = ev->epoch - (ev->epochs - p->bar.total);
        if (p->bar.tty) nv_progress_update(&p->bar, done, extra);
        else nv_progress_update(&p->bar, done, extra); /* plain line at most every 5 s */
        if (p->log) fprintf(p->log, "%s %s\n", ev->model, extra), fflush(p->log);
        break;
    }
    case NV_EV_SNAPSHOT:
        if (p->log) fprintf(p->log, "snapshot %s\n", ev->text), fflush(p->log);
        break;
    case NV_EV_MODEL_DONE:
        if (p->bar.tty) fprintf(p->bar.f, "\r\033[K");
        p->bar_live = 0;
        say(p, stdout, "%s: finished %lld epochs in %.2fs\n", ev->model, (long long)ev->epoch, nv_now() - p->bar.t0);
        break;
    }
}

static const char *const USAGE = "usage: nerve train CONFIG [options]\n";

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve train CONFIG [options]\n\n"
            "Trains the experiment's pair of networks (expressive and bottlenecked) and the\n"
            "linear baseline on the same data, order and seed, writing the run directory:\n"
            "resolved config, data, per-epoch metrics, activation snapshots, checkpoints,\n"
            "summary.json (see README.md).\n\n"
            "options:\n"
            "  --out DIR        run directory (default runs/<experiment>)\n"
            "  --device D       auto | cpu | cuda (default: the config's, else auto)\n"
            "  --seed N         override the experiment seed\n"
            "  --epochs N       override train.epochs (the snapshot schedule follows)\n"
            "  --set TEXT       override any keys, libconfig syntax: --set 'train: { lr = 0.01; };'\n"
            "  --resume         continue a killed run from its checkpoints (same bytes as\n"
            "                   an uninterrupted run)\n"
            "  --force          start over in a directory holding another run\n"
            "  --threads N      BLAS threads for training (default: the config's train.threads)\n"
            "  --serve[=PORT]   also start the web viewer on the run (nerve serve RUN --port PORT,\n"
            "                   default 8050) in its own process; it stops with the training,\n"
            "                   or, on a terminal, when you press Ctrl-C after it\n"
            "  -h, --help       this help\n");
}

/* The library blames an override by its text ("command-line override 'TEXT'"); name
 * the flag the user typed instead: --set 'TEXT', --epochs, --seed. */
static void blame_flag(nv_error *err, const char *const *overrides, const char *const *origin, int n) {
    for (int i = 0; i < n; i++) {
        char was[600], now[600];
        snprintf(was, sizeof was, "command-line override '%s'", overrides[i]);
        char *at = strstr(err->msg, was);
        if (!at) continue;
        if (!strcmp(origin[i], "--set")) snprintf(now, sizeof now, "--set '%s'", overrides[i]);
        else snprintf(now, sizeof now, "%s (%s)", origin[i], overrides[i]);
        char rest[sizeof err->msg];
        snprintf(rest, sizeof rest, "%s", at + strlen(was));
        size_t head = (size_t)(at - err->msg);
        snprintf(at, sizeof err->msg - head, "%s%s", now, rest);
        return;
    }
}

/* The closing lines: each model's final test accuracy, from the run's summary.json. */
static void final_accuracy(const char *dir) {
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    json_t *models = j ? json_object_get(j, "models") : NULL;
    if (!json_is_object(models)) {
        if (j) json_decref(j);
        return;
    }
    const char *keys[NV_MAX_MODELS];
    char vals[NV_MAX_MODELS][96];
    const char *pv[NV_MAX_MODELS];
    int n = 0;
    const char *name;
    json_t *m;
    json_object_foreach(models, name, m) {
        if (n == NV_MAX_MODELS) break;
        keys[n] = name;
        snprintf(vals[n], sizeof vals[n], "%.2f%% (train %.2f%%)",
                 100 * json_number_value(json_object_get(m, "test_acc")),
                 100 * json_number_value(json_object_get(m, "train_acc")));
        pv[n] = vals[n];
        n++;
    }
    nv_cli_table(stdout, "final test accuracy", keys, pv, n);
    json_decref(j);
}

int nv_cmd_train(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},    {"device", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 's'},   {"epochs", required_argument, 0, 'e'},
        {"set", required_argument, 0, 'S'},    {"resume", no_argument, 0, 'r'},
        {"force", no_argument, 0, 'f'},        {"threads", required_argument, 0, 't'},
        {"serve", optional_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *out = NULL, *device = NULL;
    char obuf[NV_MAX_OVERRIDES][512];
    const char *overrides[NV_MAX_OVERRIDES];
    int nover = 0;
    int resume = 0, force = 0;
    const char *serve_port = NULL;
    long long threads = -1, v;
    optind = 1;
    int c;
    const char *origin[NV_MAX_OVERRIDES]; /* the flag that made each override */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:d:s:e:S:rft:h", opts, NULL)) != -1) {
        if ((c == 's' || c == 'e' || c == 'S') && nover == NV_MAX_OVERRIDES)
            return nv_cli_usage("train", "too many overrides (at most %d)", NV_MAX_OVERRIDES);
        switch (c) {
        case 'o': out = optarg; break;
        case 'd':
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "cuda"))
                return nv_cli_usage("train", "--device: expected auto, cpu or cuda, found '%s'", optarg);
            device = optarg;
            break;
        case 's':
            if (nv_cli_int("train", "--seed", optarg, 0, INT64_MAX, &v)) return 2;
            snprintf(obuf[nover], sizeof obuf[nover], "seed = %lld;", v);
            origin[nover] = "--seed";
            overrides[nover] = obuf[nover], nover++;
            break;
        case 'e':
            if (nv_cli_int("train", "--epochs", optarg, 0, 1000000, &v)) return 2;
            snprintf(obuf[nover], sizeof obuf[nover], "train: { epochs = %lld; };", v);
            origin[nover] = "--epochs";
            overrides[nover] = obuf[nover], nover++;
            break;
        case 'S': origin[nover] = "--set"; overrides[nover++] = optarg; break;
        case 'r': resume = 1; break;
        case 'V':
            if (optarg && nv_cli_int("train", "--serve", optarg, 0, 65535, &v)) return 2;
            serve_port = optarg ? optarg : "8050";
            break;
        case 'f': force = 1; break;
        case 't':
            if (nv_cli_int("train", "--threads", optarg, 1, 4096, &threads)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_getopt_fail("train", c, optind, argv, USAGE);
        }
    }
    if (optind != argc - 1) return nv_cli_usage("train", "expected one CONFIG file, found %d arguments", argc - optind);
    if (resume && force) return nv_cli_usage("train", "--resume and --force contradict each other");
    nv_experiment ex;
    nv_error err = {0};
    if (nv_config_load(argv[optind], overrides, nover, &ex, &err)) {
        blame_flag(&err, overrides, origin, nover);
        return nv_cli_report("train", &err);
    }
    if (device) ex.device = !strcmp(device, "cpu") ? NV_DEVICE_CPU : !strcmp(device, "cuda") ? NV_DEVICE_CUDA : NV_DEVICE_AUTO;
    if (threads > 0) ex.threads = (int)threads;
    openblas_set_num_threads(ex.threads > 0 ? ex.threads : 1);

    char outbuf[NV_PATH_LEN];
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "runs/%s", ex.experiment);
        out = outbuf;
    }
    /* the resolved configuration, once, as a table */
    char vals[19][256];
    const char *keys[19], *pv[19];
    int n = 0;
    char hidden[128] = "";
    for (int i = 0; i < ex.nhidden; i++)
        snprintf(hidden + strlen(hidden), sizeof hidden - strlen(hidden), "%s%lld", i ? "-" : "", (long long)ex.hidden[i]);
    char snaps[256] = "";
    for (int64_t i = 0; i < ex.nsnap && strlen(snaps) < 200; i++)
        snprintf(snaps + strlen(snaps), sizeof snaps - strlen(snaps), "%s%lld", i ? "," : "", (long long)ex.snap_epochs[i]);
#define ROW(k, ...) (keys[n] = k, snprintf(vals[n], sizeof vals[n], __VA_ARGS__), pv[n] = vals[n], n++)
    ROW("config", "%.200s", argv[optind]);
    ROW("run directory", "%.200s", out);
    ROW("experiment / seed", "%s / %llu", ex.experiment, (unsigned long long)ex.seed);
    ROW("data", "%s", nv_data_source_name(ex.data.source));
    ROW("expressive hidden", "%s (%s, %s init)", hidden, nv_activation_name(ex.activation),
        ex.init == NV_INIT_HE ? "he" : "xavier");
    ROW("bottleneck", "hidden layer %d -> width %lld", ex.bottleneck_layer, (long long)ex.bottleneck_width);
    ROW("linear baseline", "%s", ex.linear_baseline ? "yes" : "no");
    char lr[40], mom[40], wd[40];
    ROW("optimiser", "%s lr %s momentum %s weight decay %s", ex.optim.kind == NV_OPT_ADAM ? "adam" : "sgd",
        nv_cli_float(lr, ex.optim.lr), nv_cli_float(mom, ex.optim.momentum), nv_cli_float(wd, ex.optim.weight_decay));
    ROW("epochs / batch", "%lld / %lld", (long long)ex.epochs, (long long)ex.batch_size);
    if (ex.optim.lr_half_life > 0) ROW("lr half-life", "%lld steps", (long long)ex.optim.lr_half_life);
    if (ex.stop_train_acc > 0.0)
        ROW("stop", "at the first epoch with train accuracy >= %g, checked every %lld epoch%s", ex.stop_train_acc,
            (long long)ex.stop_check_every, ex.stop_check_every > 1 ? "s" : "");
    ROW("snapshot epochs", "%s", snaps);
    ROW("snapshot layers", "%s%s", ex.snap_all_layers ? "all" : "selected",
        ex.preactivations ? " (+ pre-activations)" : "");
    if (ex.dynamics.enabled) {
        char tiers[200] = "";
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            if (!ex.dynamics.on[t]) continue;
            char sc[64];
            nv_dyn_schedule_text(&ex.dynamics.sched[t], sc, sizeof sc);
            snprintf(tiers + strlen(tiers), sizeof tiers - strlen(tiers), "%s%s (%s)", tiers[0] ? ", " : "",
                     nv_dyn_tier_name(t), sc);
        }
        ROW("dynamics", "%s", tiers);
    }
    ROW("device / threads", "%s / %d", ex.device == NV_DEVICE_CPU ? "cpu" : ex.device == NV_DEVICE_CUDA ? "cuda" : "auto",
        ex.threads);
    ROW("mode", "%s", resume ? "resume" : force ? "force (start over)" : "new run");
#undef ROW
    nv_cli_table(stdout, "nerve train: resolved configuration", keys, pv, n);
    fflush(stdout);

    printer pr = {.ex = &ex, .serve_port = serve_port};
    char cmdline[2048] = "";
    for (int i = -1; i < argc; i++)
        snprintf(cmdline + strlen(cmdline), sizeof cmdline - strlen(cmdline), "%s%s", i < 0 ? "nerve" : " ",
                 i < 0 ? "" : argv[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    nv_train_options opt = {.out_dir = out, .resume = resume, .force = force, .stop = &g_stop,
                            .on_event = on_event, .ctx = &pr, .command_line = cmdline,
                            .recorder = ex.dynamics.enabled ? nv_dyn_hooks() : NULL};
    nv_status st = nv_train_run(&ex, &opt, &err);
    if (pr.log) fclose(pr.log);
    if (pr.server > 0) {
        /* on a terminal the viewer outlives the training until Ctrl-C; in a script it stops */
        if (!st && isatty(0) && isatty(1)) {
            printf("training finished; the viewer keeps running: Ctrl-C stops it\n");
            fflush(stdout);
            while (!g_stop) usleep(100000);
        }
        kill(pr.server, SIGTERM);
        waitpid(pr.server, NULL, 0);
    }
    if (st) return nv_cli_report("train", &err);
    final_accuracy(out);
    printf("run complete: %s (summary.json, metrics/, snapshots/manifest.json)\n", out);
    return 0;
}
