/* cmd_query.c: `nerve query RUN [RUN2 ...] "SQL"`, `nerve query RUN --preset NAME`,
 * `nerve query --schema`: questions over training dynamics (include/nerve/query.h
 * does the work; docs/queries.md). This file parses, calls and prints: an aligned
 * table (the default), CSV or JSON.
 */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nerve/config.h"
#include "nerve/query.h"
#include "nerve/strbuf.h"

/* The usage lines, also printed under a bad option (nv_cli_getopt_fail). */
static const char *const USAGE =
    "usage: nerve query RUN [RUN2 ...] \"SQL\"            SQL over the runs' dynamics records\n"
    "       nerve query RUN [RUN2] --preset NAME [options]  one of the research questions\n"
    "       nerve query --schema                          every table and column, with its meaning\n";

static void usage(FILE *f) {
    fputs(USAGE, f);
    fprintf(f,
            "\n"
            "SQLite over virtual tables of each run's dynamics store (RUN/dynamics, recorded with\n"
            "dynamics.enabled) and its files, read in place, never copied and never written:\n"
            "  steps, layers, neurons, samples, contributions (each sample's contribution d_i[row] a_i[col]\n"
            "  to each weight's change, computed from the stored factors), weights (any step, from the\n"
            "  saved states and a replay), data, runs, metrics. Constraints on run, model, step, epoch,\n"
            "  layer, row/unit, col, sample_id and position are pushed down, so a question about one\n"
            "  weight reads only what it needs. Only statements that read run (SELECT, WITH, EXPLAIN).\n\n"
            "presets (docs/queries.md has each one's SQL):\n");
    for (int i = 0; nv_query_preset_names[i]; i++)
        fprintf(f, "  %-15s %s\n", nv_query_preset_names[i], nv_query_preset_summaries[i]);
    fprintf(f,
            "\noptions:\n"
            "  --format F      table (aligned; the default), csv or json\n"
            "  --model M       the model (default: expressive when recorded, else the first)\n"
            "  --preset NAME   answer a preset instead of SQL\n"
            "  --epoch X       top-samples: the epoch\n"
            "  --layer L       a layer (hidden1, ..., logits); top-samples: default the last\n"
            "  --weight R,C    one weight (C = the layer's input width: the bias); default: the whole layer\n"
            "  -k K            samples per weight / listed (default 10)\n"
            "  --by B          top-samples: rank by abs (|sum|, default), pos (sum) or neg (-sum)\n"
            "  --step N        compare-runs: the step (default: the last both recorded)\n"
            "  --loss X        compare-runs: the target loss for first_step (default 0.1)\n"
            "  --fraction F    pre-explosion: more than this fraction alarmed (default 0.1)\n"
            "  --alarm A       pre-explosion: any (default), abs or rel\n"
            "  --tolerance T   weight-to-zero: |w| <= T counts as zero (default 0: a sign change or 0)\n"
            "  --window W      weight-to-zero: steps searched up to the event (default one epoch)\n"
            "  --groups G      weight-groups: trajectory groups (default 4)\n"
            "  --limit N       weight-groups: weights listed (default 20; -1 all)\n"
            "  --show-sql      print the preset's SQL (parameters filled in) instead of answering\n"
            "  --sql           answer the preset by running its SQL (its main table only)\n"
            "  --sql-file F    read the SQL from file F (- for stdin) instead of the last argument\n"
            "  --device D      the batched kernels: auto (default), cpu or cuda\n"
            "  --threads N     threads of the batched kernels (default: the cores)\n"
            "  --time          print the time taken to stderr\n"
            "  -h, --help      this help\n\n"
            "Exit status: 0 done, 2 bad input (an SQL error, with SQLite's message; a run without the tier\n"
            "a question reads; an index out of range; an unknown preset; runs of different architectures).\n");
}

/* --- output -------------------------------------------------------------------------------- */
typedef enum { FMT_TABLE = 0, FMT_CSV, FMT_JSON } out_fmt;

typedef struct {
    nv_qsink base;
    out_fmt fmt;
    int ntables;        /* begun so far */
    int multi;          /* more than one table may come: name them */
    int ncols;
    char **cols;
    /* table format: every cell as text */
    int64_t nrows, cap;
    char **cells;
    int *right;         /* numeric column */
    int json_first_row;
    nv_strbuf line; /* csv: the row being assembled */
} out_sink;

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static nv_status o_begin(nv_qsink *s_, const char *table, int ncols, const char *const *cols, nv_error *err) {
    out_sink *s = (out_sink *)s_;
    s->ncols = ncols;
    s->cols = calloc((size_t)ncols, sizeof(char *));
    s->right = calloc((size_t)ncols, sizeof(int));
    if (!s->cols || !s->right) return nv_fail(err, NV_ENOMEM, "out of memory");
    for (int i = 0; i < ncols; i++) s->cols[i] = strdup(cols[i]);
    s->nrows = 0;
    switch (s->fmt) {
    case FMT_TABLE:
        if (s->multi) printf("%s%s\n", s->ntables ? "\n" : "", table);
        break;
    case FMT_CSV:
        if (s->multi) printf("%s# %s\n", s->ntables ? "\n" : "", table);
        for (int i = 0; i < ncols; i++) {
            if (i) putchar(',');
            fputs(cols[i], stdout);
        }
        putchar('\n');
        break;
    case FMT_JSON:
        if (s->multi) {
            printf("%s\n    ", s->ntables ? "," : "");
            json_str(stdout, table);
            printf(": [");
        } else {
            printf("[");
        }
        s->json_first_row = 1;
        break;
    }
    s->ntables++;
    return NV_OK;
}

static nv_status o_row(nv_qsink *s_, const nv_qvalue *v, nv_error *err) {
    out_sink *s = (out_sink *)s_;
    char buf[512];
    switch (s->fmt) {
    case FMT_TABLE:
        if (s->nrows == s->cap) {
            int64_t cap = s->cap ? 2 * s->cap : 256;
            char **c = realloc(s->cells, sizeof(char *) * (size_t)(cap * s->ncols));
            if (!c) return nv_fail(err, NV_ENOMEM, "out of memory (%lld rows; use --format csv for large results)",
                                   (long long)s->nrows);
            s->cells = c;
            s->cap = cap;
        }
        for (int i = 0; i < s->ncols; i++) {
            if (v[i].type == NV_QINT || v[i].type == NV_QREAL) s->right[i] = 1;
            s->cells[s->nrows * s->ncols + i] = strdup(v[i].type == NV_QNULL ? "NULL" : nv_qvalue_text(&v[i], 0, buf, sizeof buf));
        }
        s->nrows++;
        break;
    case FMT_CSV:
        /* the row is assembled, then written at once: one stdio call per row rather
         * than two per field (a whole-layer answer has tens of thousands of rows) */
        nv_sb_clear(&s->line);
        for (int i = 0; i < s->ncols; i++) {
            if (i) nv_sb_put(&s->line, ",", 1);
            const char *t = nv_qvalue_text(&v[i], 1, buf, sizeof buf);
            if (v[i].type == NV_QTEXT && strpbrk(t, ",\"\n\r")) {
                nv_sb_put(&s->line, "\"", 1);
                for (const char *p = t; *p; p++) {
                    if (*p == '"') nv_sb_put(&s->line, "\"", 1);
                    nv_sb_put(&s->line, p, 1);
                }
                nv_sb_put(&s->line, "\"", 1);
            } else {
                nv_sb_puts(&s->line, t);
            }
        }
        nv_sb_put(&s->line, "\n", 1);
        if (s->line.oom) return nv_fail(err, NV_ENOMEM, "out of memory (a row of the result)");
        fwrite(nv_sb_str(&s->line), 1, s->line.len, stdout);
        break;
    case FMT_JSON:
        printf("%s\n%s{", s->json_first_row ? "" : ",", s->multi ? "      " : "  ");
        s->json_first_row = 0;
        for (int i = 0; i < s->ncols; i++) {
            if (i) printf(", ");
            json_str(stdout, s->cols[i]);
            printf(": ");
            if (v[i].type == NV_QNULL || (v[i].type == NV_QREAL && !isfinite(v[i].f))) printf("null");
            else if (v[i].type == NV_QTEXT) json_str(stdout, v[i].s ? v[i].s : "");
            else fputs(nv_qvalue_text(&v[i], 1, buf, sizeof buf), stdout);
        }
        printf("}");
        s->nrows++;
        break;
    }
    return NV_OK;
}

static nv_status o_end(nv_qsink *s_, nv_error *err) {
    (void)err;
    out_sink *s = (out_sink *)s_;
    if (s->fmt == FMT_TABLE) {
        int *w = calloc((size_t)s->ncols, sizeof(int));
        if (w) {
            for (int i = 0; i < s->ncols; i++) w[i] = (int)strlen(s->cols[i]);
            for (int64_t r = 0; r < s->nrows; r++)
                for (int i = 0; i < s->ncols; i++) w[i] = NV_MAX(w[i], (int)strlen(s->cells[r * s->ncols + i]));
            for (int i = 0; i < s->ncols; i++) printf("%s%*s", i ? "  " : "", s->right[i] ? w[i] : -w[i], s->cols[i]);
            putchar('\n');
            for (int i = 0; i < s->ncols; i++) {
                printf("%s", i ? "  " : "");
                for (int j = 0; j < w[i]; j++) putchar('-');
            }
            putchar('\n');
            for (int64_t r = 0; r < s->nrows; r++) {
                for (int i = 0; i < s->ncols; i++) {
                    const char *c = s->cells[r * s->ncols + i];
                    if (i == s->ncols - 1 && !s->right[i]) printf("%s%s", i ? "  " : "", c);
                    else printf("%s%*s", i ? "  " : "", s->right[i] ? w[i] : -w[i], c);
                }
                putchar('\n');
            }
            printf("(%lld row%s)\n", (long long)s->nrows, s->nrows == 1 ? "" : "s");
            free(w);
        }
        for (int64_t i = 0; i < s->nrows * s->ncols; i++) free(s->cells[i]);
        free(s->cells);
        s->cells = NULL;
        s->cap = 0;
    } else if (s->fmt == FMT_JSON) {
        printf("%s]", s->json_first_row ? "" : (s->multi ? "\n    " : "\n"));
        if (!s->multi) printf("\n");
    }
    for (int i = 0; i < s->ncols; i++) free(s->cols[i]);
    free(s->cols);
    free(s->right);
    s->cols = NULL;
    s->right = NULL;
    fflush(stdout);
    return NV_OK;
}

/* What a table begun and never ended holds (a statement that failed part-way:
 * the engine stops without calling end). */
static void sink_release(out_sink *s) {
    for (int64_t i = 0; s->cells && i < s->nrows * s->ncols; i++) free(s->cells[i]);
    free(s->cells);
    for (int i = 0; s->cols && i < s->ncols; i++) free(s->cols[i]);
    free(s->cols);
    free(s->right);
    nv_sb_free(&s->line);
    s->cells = NULL;
    s->cols = NULL;
    s->right = NULL;
}

static void sink_init(out_sink *s, out_fmt fmt, int multi) {
    memset(s, 0, sizeof *s);
    s->base.begin = o_begin;
    s->base.row = o_row;
    s->base.end = o_end;
    s->fmt = fmt;
    s->multi = multi;
}

/* A preset's answer: its note, then its tables. */
static nv_status print_result(const nv_qresult *r, const char *preset, out_fmt fmt, nv_error *err) {
    out_sink s;
    sink_init(&s, fmt, fmt == FMT_JSON || r->ntables > 1);
    if (fmt == FMT_JSON) {
        printf("{\n  \"preset\": ");
        json_str(stdout, preset ? preset : "");
        printf(",\n  \"note\": ");
        json_str(stdout, r->note);
        printf(",\n  \"tables\": {");
    } else if (r->note[0]) {
        printf("%s%s\n%s", fmt == FMT_CSV ? "# " : "", r->note, fmt == FMT_TABLE ? "\n" : "");
    }
    nv_status st = nv_qresult_emit(r, &s.base, err);
    if (fmt == FMT_JSON) printf("\n  }\n}\n");
    sink_release(&s);
    return st;
}

static char *read_all(FILE *f) {
    nv_strbuf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) nv_sb_put(&b, buf, n);
    if (b.oom) {
        nv_sb_free(&b);
        return NULL;
    }
    return nv_sb_take(&b);
}

int nv_cmd_query(int argc, char **argv) {
    enum { O_FORMAT = 256, O_MODEL, O_PRESET, O_EPOCH, O_LAYER, O_WEIGHT, O_BY, O_STEP, O_LOSS, O_FRACTION, O_ALARM,
           O_TOL, O_WINDOW, O_GROUPS, O_LIMIT, O_SHOWSQL, O_SQL, O_SQLFILE, O_DEVICE, O_THREADS, O_TIME, O_SCHEMA };
    static const struct option opts[] = {
        {"format", required_argument, 0, O_FORMAT}, {"model", required_argument, 0, O_MODEL},
        {"preset", required_argument, 0, O_PRESET}, {"epoch", required_argument, 0, O_EPOCH},
        {"layer", required_argument, 0, O_LAYER},   {"weight", required_argument, 0, O_WEIGHT},
        {"by", required_argument, 0, O_BY},         {"step", required_argument, 0, O_STEP},
        {"loss", required_argument, 0, O_LOSS},     {"fraction", required_argument, 0, O_FRACTION},
        {"alarm", required_argument, 0, O_ALARM},   {"tolerance", required_argument, 0, O_TOL},
        {"window", required_argument, 0, O_WINDOW}, {"groups", required_argument, 0, O_GROUPS},
        {"limit", required_argument, 0, O_LIMIT},   {"show-sql", no_argument, 0, O_SHOWSQL},
        {"sql", no_argument, 0, O_SQL},             {"sql-file", required_argument, 0, O_SQLFILE},
        {"device", required_argument, 0, O_DEVICE}, {"threads", required_argument, 0, O_THREADS},
        {"time", no_argument, 0, O_TIME},           {"schema", no_argument, 0, O_SCHEMA},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    nv_preset_args a;
    nv_preset_args_init(&a);
    out_fmt fmt = FMT_TABLE;
    int show_sql = 0, via_sql = 0, timing = 0, schema = 0;
    const char *sql_file = NULL;
    nv_query_options qo = {0, NV_DEVICE_AUTO};
    long long v;
    double x;
    optind = 1;
    opterr = 0; /* nv_cli_getopt_fail says it, with the usage lines */
    int c;
    while ((c = getopt_long(argc, argv, ":k:h", opts, NULL)) != -1) {
        switch (c) {
        case O_FORMAT:
            if (!strcmp(optarg, "table")) fmt = FMT_TABLE;
            else if (!strcmp(optarg, "csv")) fmt = FMT_CSV;
            else if (!strcmp(optarg, "json")) fmt = FMT_JSON;
            else return nv_cli_usage("query", "--format %s: expected table, csv or json", optarg);
            break;
        case O_MODEL: a.model = optarg; break;
        case O_PRESET: a.preset = optarg; break;
        case O_EPOCH:
            if (nv_cli_int("query", "--epoch", optarg, 1, INT64_MAX, &v)) return 2;
            a.epoch = v;
            break;
        case O_LAYER: a.layer = optarg; break;
        case O_WEIGHT: {
            long long r, cc;
            char tail;
            if (sscanf(optarg, "%lld,%lld%c", &r, &cc, &tail) != 2 || r < 0 || cc < 0)
                return nv_cli_usage("query", "--weight %s: expected ROW,COL (two integers >= 0, e.g. 3,5)", optarg);
            a.row = r;
            a.col = cc;
            break;
        }
        case 'k':
            if (nv_cli_int("query", "-k", optarg, 1, NV_TOPK_MAX, &v)) return 2;
            a.k = (int)v;
            break;
        case O_BY:
            if (!strcmp(optarg, "abs")) a.by = NV_RANK_ABS;
            else if (!strcmp(optarg, "pos")) a.by = NV_RANK_POS;
            else if (!strcmp(optarg, "neg")) a.by = NV_RANK_NEG;
            else return nv_cli_usage("query", "--by %s: expected abs, pos or neg", optarg);
            break;
        case O_STEP:
            if (nv_cli_int("query", "--step", optarg, 0, INT64_MAX, &v)) return 2;
            a.step = v;
            break;
        case O_LOSS:
            if (nv_cli_double("query", "--loss", optarg, 0, INFINITY, &x)) return 2;
            a.loss = x;
            break;
        case O_FRACTION:
            if (nv_cli_double("query", "--fraction", optarg, 0, 0.999999, &x)) return 2;
            a.fraction = x;
            break;
        case O_ALARM:
            if (!strcmp(optarg, "any")) a.alarm = NV_ALARM_ANY;
            else if (!strcmp(optarg, "abs")) a.alarm = NV_ALARM_ABS;
            else if (!strcmp(optarg, "rel")) a.alarm = NV_ALARM_REL;
            else return nv_cli_usage("query", "--alarm %s: expected any, abs or rel", optarg);
            break;
        case O_TOL:
            if (nv_cli_double("query", "--tolerance", optarg, 0, INFINITY, &x)) return 2;
            a.tolerance = x;
            break;
        case O_WINDOW:
            if (nv_cli_int("query", "--window", optarg, 1, INT64_MAX, &v)) return 2;
            a.window = v;
            break;
        case O_GROUPS:
            if (nv_cli_int("query", "--groups", optarg, 1, 256, &v)) return 2;
            a.groups = (int)v;
            break;
        case O_LIMIT:
            if (nv_cli_int("query", "--limit", optarg, -1, INT64_MAX, &v)) return 2;
            a.limit = v == 0 ? -1 : v;
            break;
        case O_SHOWSQL: show_sql = 1; break;
        case O_SQL: via_sql = 1; break;
        case O_SQLFILE: sql_file = optarg; break;
        case O_DEVICE: {
            int d = nv_device_parse(optarg);
            if (d < 0) return nv_cli_usage("query", "--device %s: expected auto, cpu or cuda", optarg);
            qo.device = (nv_device_kind)d;
            break;
        }
        case O_THREADS:
            if (nv_cli_int("query", "--threads", optarg, 1, 4096, &v)) return 2;
            qo.threads = (int)v;
            break;
        case O_TIME: timing = 1; break;
        case O_SCHEMA: schema = 1; break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_getopt_fail("query", c, optind, argv, USAGE);
        }
    }
    nv_error err = {0};
    double t0 = nv_now();
    if (schema) {
        nv_qresult r;
        if (nv_query_schema(&r, &err)) return nv_cli_report("query", &err);
        nv_status st = print_result(&r, "schema", fmt, &err);
        nv_qresult_free(&r);
        return st ? nv_cli_report("query", &err) : 0;
    }
    const int npos = argc - optind;
    const int preset = a.preset != NULL;
    if ((show_sql || via_sql) && !preset) return nv_cli_usage("query", "--show-sql and --sql go with --preset NAME");
    if (preset && sql_file) return nv_cli_usage("query", "--preset and --sql-file: give one of them");
    int nruns = preset || sql_file ? npos : npos - 1;
    if (nruns < 1)
        return nv_cli_usage("query", preset ? "expected RUN [RUN2 ...] before --preset's answer" :
                                              "expected RUN [RUN2 ...] \"SQL\" (or --preset NAME, or --schema)");
    char *sql_text = NULL;
    if (!preset) {
        if (sql_file) {
            FILE *f = strcmp(sql_file, "-") ? fopen(sql_file, "r") : stdin;
            if (!f) return nv_cli_usage("query", "--sql-file %s: cannot open", sql_file);
            sql_text = read_all(f);
            if (f != stdin) fclose(f);
        } else {
            sql_text = strdup(argv[argc - 1]);
        }
        if (!sql_text) {
            nv_fail(&err, NV_ENOMEM, "out of memory");
            return nv_cli_report("query", &err);
        }
    }
    /* the BLAS threads training used, so replayed weights sum in its order (as nerve dynamics) */
    {
        char cfg[NV_PATH_LEN + 32];
        snprintf(cfg, sizeof cfg, "%s/config.cfg", argv[optind]);
        nv_experiment *ex = calloc(1, sizeof *ex);
        nv_error ignore = {0};
        if (ex && nv_config_load(cfg, NULL, 0, ex, &ignore) == NV_OK && ex->threads > 0)
            openblas_set_num_threads(ex->threads);
        free(ex);
    }
    nv_query *q = NULL;
    if (nv_query_open((const char *const *)argv + optind, nruns, &qo, &q, &err)) {
        free(sql_text);
        return nv_cli_report("query", &err);
    }
    nv_status st = NV_OK;
    if (preset && (show_sql || via_sql)) {
        char *text = NULL;
        st = nv_query_preset_sql(q, &a, &text, &err);
        if (!st && show_sql) fputs(text, stdout);
        if (!st && via_sql) {
            out_sink s;
            sink_init(&s, fmt, 0);
            st = nv_query_sql(q, text, &s.base, &err);
            sink_release(&s);
        }
        free(text);
    } else if (preset) {
        nv_qresult r;
        st = nv_query_preset(q, &a, &r, &err);
        if (!st) {
            st = print_result(&r, a.preset, fmt, &err);
            nv_qresult_free(&r);
        }
    } else {
        out_sink s;
        sink_init(&s, fmt, 0);
        /* several statements: name each table */
        s.multi = 0;
        const char *p = sql_text;
        int nstmt = 0;
        for (; *p; p++) nstmt += *p == ';';
        if (fmt == FMT_JSON && nstmt > 1) {
            s.multi = 1;
            printf("{");
        } else if (fmt != FMT_JSON && nstmt > 1) {
            s.multi = 1;
        }
        st = nv_query_sql(q, sql_text, &s.base, &err);
        sink_release(&s);
        if (fmt == FMT_JSON && s.multi) printf("\n}\n");
        if (fmt == FMT_JSON && !s.multi && s.ntables == 0 && !st) printf("[]\n");
    }
    nv_query_close(q);
    free(sql_text);
    if (timing) fprintf(stderr, "query: %.3f s\n", nv_now() - t0);
    return st ? nv_cli_report("query", &err) : 0;
}
