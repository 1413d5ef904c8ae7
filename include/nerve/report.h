/* report.h: `nerve report RUN`, one self-contained HTML page (analysis/report.html)
 * with everything a run and its analyses produced: the summary, the training
 * curves of both nets and the linear baseline, the study's chart of Betti numbers,
 * persistence diagrams, PCA projections, intrinsic dimension and probe accuracy,
 * CKA maps and feature images, opened by sentences generated from the run's numbers.
 * Figures are embedded (SVG inline, PNG as data URIs) up to a size limit (5 MB by
 * default): a larger figure is shown as a preview linked to its file under
 * analysis/figures/, and galleries link what does not fit. Stages that have not run
 * are named in the page with the command that adds them.
 */
#ifndef NERVE_REPORT_H
#define NERVE_REPORT_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int max_diagram_figures;   /* persistence-diagram figures embedded (0 = default 60) */
    size_t max_bytes;          /* the page's size limit (0 = 5 MB): larger figures are shown
                                  as previews linked to their files, and the galleries
                                  link what does not fit */
} nv_report_options;

/* Draws the training-curve figure (analysis/figures/training.{png,svg}) from the
 * run's metrics and writes analysis/report.html (temporary name + rename). The
 * page's path goes to out_path. */
nv_status nv_report_write(const char *run_dir, const nv_report_options *opt, char *out_path,
                          size_t out_len, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
