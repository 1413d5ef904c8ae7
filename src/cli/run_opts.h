/* run_opts.h: the options every RUN verb shares (`nerve ph RUN`, `pca`, `stats`,
 * `features`, `analyze`), parsed by one parser so that each has the same name, the
 * same syntax and the same checks in every verb:
 *
 *   --model(s) M,..   --layer(s) L,..   --split(s) S,..   --epoch(s) E,..
 *   --task I --tasks N   --force   --threads T   --device auto|cpu|cuda
 *
 * Lists are comma-separated and the options repeatable ("--model a --model b" is
 * "--model a,b"); "--opt value" and "--opt=value" both work. Every model, layer and
 * epoch is checked against what the run holds (the run index,
 * include/nerve/run_index.h), so a misspelt value is refused (exit 2) with a message
 * naming it and listing what the run has, before any work starts. A verb that
 * cannot honour an option (features makes every layer at once) refuses it with the
 * reason instead of ignoring it. The library side takes the plain selection
 * (nv_run_select) and numbers; nothing here reaches below src/cli/.
 */
#ifndef NERVE_CLI_RUN_OPTS_H
#define NERVE_CLI_RUN_OPTS_H

#include <stdio.h>

#include "nerve/mlp.h"       /* nv_device_kind */
#include "nerve/run_index.h" /* nv_run_select */

enum {
    NV_RO_MODELS = 1u << 0,
    NV_RO_LAYERS = 1u << 1,
    NV_RO_SPLITS = 1u << 2,
    NV_RO_EPOCHS = 1u << 3,
    NV_RO_TASKS = 1u << 4,  /* --task and --tasks */
    NV_RO_FORCE = 1u << 5,
    NV_RO_THREADS = 1u << 6,
    NV_RO_DEVICE = 1u << 7,
    NV_RO_NOPTS = 8
};
#define NV_RO_CAP 64
#define NV_RO_MAX_PASS 64

typedef struct {
    const char *verb;        /* "ph", "pca", ... (messages) */
    unsigned given;          /* NV_RO_* bits of the options given */
    const char *models[NV_RO_CAP];
    int n_models;
    const char *layers[NV_RO_CAP];
    int n_layers;
    const char *splits[3];   /* each of train, test, all at most once */
    int n_splits;
    int64_t epochs[NV_RO_CAP];
    int n_epochs;
    int task, tasks;         /* tasks 1 unless given */
    int force;
    int threads;             /* 0: the verb's default */
    nv_device_kind device;   /* NV_DEVICE_AUTO unless given */
    const char *device_name; /* as given ("auto" unless given) */
    /* What was given, for handing on (nerve analyze): canonical name and value. */
    const char *pass_name[NV_RO_MAX_PASS];
    const char *pass_val[NV_RO_MAX_PASS];
    unsigned pass_bit[NV_RO_MAX_PASS];
    int n_pass;
    char *owned[NV_RO_MAX_PASS]; /* copies the lists point into */
    int n_owned;
} nv_run_opts;

void nv_run_opts_init(nv_run_opts *o, const char *verb);
void nv_run_opts_free(nv_run_opts *o);

/* When argv[*i] is a shared option, consumes it (and its value, advancing *i) and
 * returns 1 with *rc 0, or 2 after printing a usage error (a bad value, a missing
 * value). Returns 0 (and leaves *i) for anything else. */
int nv_run_opts_take(nv_run_opts *o, int argc, char **argv, int *i, int *rc);

/* The checks before any work: every option given must be one the verb honours
 * (else refused with the reason), --task < --tasks, and the selection must exist in
 * the run (nv_run_index_read: the message names the value and what the run holds).
 * Prints a warning when the run's training has not finished. Returns 0, or the exit
 * code after printing the message (2 for bad input). */
int nv_run_opts_check(nv_run_opts *o, const char *run);

/* The options this verb honours (NV_RO_* bits). */
unsigned nv_run_opts_honoured(const char *verb);

/* The model, layer and epoch selection for the library. */
nv_run_select nv_run_opts_select(const nv_run_opts *o);

/* The shared options' help lines for this verb (with the reason for each it does not
 * take). */
void nv_run_opts_help(FILE *f, const char *verb);

/* Appends "--name value" pairs of the options given whose bit is in `which` to av
 * (from ac; at most cap entries); returns the new count. */
int nv_run_opts_argv(const nv_run_opts *o, unsigned which, char **av, int ac, int cap);

#endif
