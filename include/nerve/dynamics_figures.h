/* dynamics_figures.h: the figures `nerve report` draws from a run's training-dynamics
 * record (analysis/runs/dynamics_figures.c; the record: include/nerve/dynamics.h,
 * docs/dynamics.md): per-layer gradient and update norms over steps (log scale),
 * every unit's influence over training as a heat map (layer blocks x step), the
 * dead-unit fraction, and the per-sample gradient-norm distribution per epoch, the
 * recorded models side by side (expressive, then bottleneck).
 */
#ifndef NERVE_DYNAMICS_FIGURES_H
#define NERVE_DYNAMICS_FIGURES_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Draws RUN/analysis/figures/dynamics_{norms,influence,dead,samples}.{png,svg}
 * (those whose tiers were recorded); *nfigures gets how many. A run without a
 * dynamics record draws nothing and returns NV_OK. */
nv_status nv_dynamics_figures(const char *run_dir, int *nfigures, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
