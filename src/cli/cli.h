/* cli.h: the command-line layer shared by every verb (src/cli/). This is the only
 * code that prints to the user and chooses exit codes: 0 success, 2 bad input
 * (docs/CONTRACTS.md), 69 a GPU was required and there is none (NV_ENODEVICE),
 * 130 interrupted, 1 any other failure. */
#ifndef NERVE_CLI_H
#define NERVE_CLI_H

#include <stdio.h>
#include "nerve/common.h"

/* The verbs; each gets argv with argv[0] = the verb name. */
int nv_cmd_data(int argc, char **argv);
int nv_cmd_train(int argc, char **argv);
int nv_cmd_info(int argc, char **argv);
int nv_cmd_ph(int argc, char **argv);
int nv_cmd_ph_run(int argc, char **argv);   /* `nerve ph RUN`: cmd_ph.c hands run directories here */
int nv_cmd_pca(int argc, char **argv);
int nv_cmd_stats(int argc, char **argv);
int nv_cmd_features(int argc, char **argv);
int nv_cmd_analyze(int argc, char **argv);
int nv_cmd_report(int argc, char **argv);
int nv_cmd_sweep(int argc, char **argv);
int nv_cmd_collect(int argc, char **argv);
int nv_cmd_verify(int argc, char **argv);
int nv_cmd_dynamics(int argc, char **argv);
int nv_cmd_query(int argc, char **argv);
int nv_cmd_serve(int argc, char **argv);

/* Prints "nerve <verb>: <message>" (and a hint for some statuses) to stderr and
 * returns the exit code for err->status. */
int nv_cli_report(const char *verb, const nv_error *err);
/* A usage error: prints the message and "try 'nerve VERB --help'", returns 2. */
int nv_cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses integers / floats from option values, with a usage error naming the
 * option on failure (returns 0 on success, 2 otherwise). */
int nv_cli_int(const char *verb, const char *opt, const char *val, long long lo, long long hi,
               long long *out);
int nv_cli_double(const char *verb, const char *opt, const char *val, double lo, double hi,
                  double *out);

/* A two-column table of the resolved configuration, printed once at start. */
void nv_cli_table(FILE *f, const char *title, const char *const *keys, const char *const *vals,
                  int n);

/* Progress: a redrawn bar on a terminal, plain lines at most every `every` seconds
 * otherwise (logs, CI, Slurm). */
typedef struct {
    FILE *f;
    int tty;
    const char *label;
    int64_t total;
    double t0, last;
    double every;
    int width;
} nv_progress;
void nv_progress_start(nv_progress *p, FILE *f, const char *label, int64_t total);
void nv_progress_update(nv_progress *p, int64_t done, const char *extra);
void nv_progress_finish(nv_progress *p, const char *extra);

#endif
