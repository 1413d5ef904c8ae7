/* engine.c: a query session (include/nerve/query.h): the runs, their recorded
 * models (each opened on first use: a preset reads one model, SQL every one), and
 * SQLite in memory with the virtual tables (vtab.c) and two ordinary tables,
 * `runs` and `metrics`, set up before the first statement.
 *
 * Nothing here writes to a run. The database is ":memory:"; once the session's own
 * tables are filled, only statements that SQLite says leave every database as it
 * is (sqlite3_stmt_readonly) run, so INSERT, CREATE, VACUUM INTO 'file' and the
 * like are refused before they start; ATTACH (which sqlite3_stmt_readonly lets
 * through, and which could create a file) is refused by the authorizer and by a
 * limit of 0 attached databases. Extension loading stays off (SQLite's default)
 * and the connection runs in SQLite's defensive mode.
 */
#include "query_internal.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int authorize(void *ctx, int action, const char *a, const char *b, const char *c, const char *d) {
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    nv_query *q = ctx;
    if (action == SQLITE_ATTACH || action == SQLITE_DETACH) {
        q->attach_seen = 1;
        return SQLITE_DENY;
    }
    return SQLITE_OK;
}

static nv_status exec(nv_query *q, const char *sql, nv_error *err) {
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nv_status st = nv_fail(err, NV_EINTERNAL, "sqlite: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    return NV_OK;
}

/* runs: one row per recorded model of each run (a run without a record: one row,
 * model NULL); metrics: RUN/metrics/<model>.csv. */
static nv_status fill_tables(nv_query *q, nv_error *err) {
    nv_status st;
    if ((st = exec(q, "CREATE TABLE runs(run TEXT, model TEXT, experiment TEXT, seed INTEGER, order_seed INTEGER, "
                      "optimizer TEXT, lr REAL, momentum REAL, weight_decay REAL, batch_size INTEGER, n_train INTEGER, "
                      "steps_per_epoch INTEGER, epochs INTEGER, last_step INTEGER, nparams INTEGER, widths TEXT, "
                      "layers TEXT, tiers TEXT);"
                      "CREATE TABLE metrics(run TEXT, model TEXT, epoch INTEGER, train_loss REAL, train_accuracy REAL, "
                      "test_loss REAL, test_accuracy REAL);BEGIN;",
                   err)))
        return st;
    sqlite3_stmt *ins = NULL, *met = NULL;
    if (sqlite3_prepare_v2(q->db, "INSERT INTO runs VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL) ||
        sqlite3_prepare_v2(q->db, "INSERT INTO metrics VALUES(?,?,?,?,?,?,?)", -1, &met, NULL)) {
        st = nv_fail(err, NV_EINTERNAL, "sqlite: %s", sqlite3_errmsg(q->db));
        goto done;
    }
    for (int r = 0; r < q->nruns; r++) {
        qrun *run = q->runs[r];
        int any = 0;
        for (int i = 0; i < q->nsrc; i++) {
            qsrc *s = q->src[i];
            if (s->run != run) continue;
            any = 1;
            const nv_dyn_info *in = s->info;
            char widths[512] = "", layers[1024] = "", tiers[128] = "";
            for (int k = 0; k <= in->spec.nlayers; k++)
                snprintf(widths + strlen(widths), sizeof widths - strlen(widths), "%s%lld", k ? "-" : "",
                         (long long)in->spec.widths[k]);
            for (int k = 0; k < in->spec.nlayers; k++)
                snprintf(layers + strlen(layers), sizeof layers - strlen(layers), "%s%s", k ? "," : "", in->layer_names[k]);
            for (int t = 0; t < NV_DYN_TIERS; t++)
                if (in->rows[t])
                    snprintf(tiers + strlen(tiers), sizeof tiers - strlen(tiers), "%s%s", tiers[0] ? "," : "",
                             nv_dyn_tier_name(t));
            sqlite3_bind_text(ins, 1, run->name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, s->model, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 3, run->experiment, -1, SQLITE_TRANSIENT);
            if (run->have_config) {
                sqlite3_bind_int64(ins, 4, (sqlite3_int64)run->seed);
                sqlite3_bind_int64(ins, 5, (sqlite3_int64)run->order_seed);
            } else {
                sqlite3_bind_null(ins, 4);
                sqlite3_bind_null(ins, 5);
            }
            sqlite3_bind_text(ins, 6, in->opt.kind == NV_OPT_ADAM ? "adam" : "sgd", -1, SQLITE_STATIC);
            sqlite3_bind_double(ins, 7, in->opt.lr);
            sqlite3_bind_double(ins, 8, in->opt.momentum);
            sqlite3_bind_double(ins, 9, in->opt.weight_decay);
            sqlite3_bind_int64(ins, 10, in->batch_size);
            sqlite3_bind_int64(ins, 11, in->n_train);
            sqlite3_bind_int64(ins, 12, in->steps_per_epoch);
            sqlite3_bind_int64(ins, 13, in->epochs);
            sqlite3_bind_int64(ins, 14, in->last_step);
            sqlite3_bind_int64(ins, 15, in->nparams);
            sqlite3_bind_text(ins, 16, widths, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 17, layers, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 18, tiers, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(ins) != SQLITE_DONE) {
                st = nv_fail(err, NV_EINTERNAL, "sqlite: %s", sqlite3_errmsg(q->db));
                goto done;
            }
            sqlite3_reset(ins);
        }
        if (!any) {
            sqlite3_bind_text(ins, 1, run->name, -1, SQLITE_TRANSIENT);
            for (int c = 2; c <= 18; c++) sqlite3_bind_null(ins, c);
            sqlite3_bind_text(ins, 3, run->experiment, -1, SQLITE_TRANSIENT);
            if (run->have_config) {
                sqlite3_bind_int64(ins, 4, (sqlite3_int64)run->seed);
                sqlite3_bind_int64(ins, 5, (sqlite3_int64)run->order_seed);
            }
            sqlite3_bind_text(ins, 18, "", -1, SQLITE_STATIC);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        char pat[NV_PATH_LEN + 32];
        snprintf(pat, sizeof pat, "%s/metrics/*.csv", run->path);
        glob_t g;
        if (glob(pat, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *p = g.gl_pathv[i], *slash = strrchr(p, '/');
                char model[64];
                snprintf(model, sizeof model, "%.*s", (int)(strlen(slash + 1) - 4), slash + 1);
                FILE *f = fopen(p, "r");
                if (!f) continue;
                char line[512];
                if (!fgets(line, sizeof line, f)) {
                    fclose(f);
                    continue;
                }
                long long e;
                double v[4];
                while (fgets(line, sizeof line, f))
                    if (sscanf(line, "%lld,%lf,%lf,%lf,%lf", &e, v, v + 1, v + 2, v + 3) == 5) {
                        sqlite3_bind_text(met, 1, run->name, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_text(met, 2, model, -1, SQLITE_TRANSIENT);
                        sqlite3_bind_int64(met, 3, e);
                        for (int j = 0; j < 4; j++) sqlite3_bind_double(met, 4 + j, v[j]);
                        sqlite3_step(met);
                        sqlite3_reset(met);
                    }
                fclose(f);
            }
            globfree(&g);
        }
    }
    st = exec(q, "COMMIT;", err);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(met);
    return st;
}

static int cmp_name(const void *a, const void *b) { return strcmp(a, b); }

nv_status nv_query_open(const char *const *runs, int nruns, const nv_query_options *opt, nv_query **out,
                        nv_error *err) {
    *out = NULL;
    nv_query *q = nv_calloc(1, sizeof *q, err);
    if (!q) return NV_ENOMEM;
    if (opt) q->opt = *opt;
    nv_status st = NV_OK;
    q->runs = nv_calloc((size_t)(nruns ? nruns : 1), sizeof(qrun *), err);
    q->src = nv_calloc((size_t)(8 * (nruns ? nruns : 1)), sizeof(qsrc *), err);
    if (!q->runs || !q->src) {
        st = NV_ENOMEM;
        goto fail;
    }
    for (int i = 0; i < nruns; i++) {
        qrun *r = nv_calloc(1, sizeof *r, err);
        if (!r) {
            st = NV_ENOMEM;
            goto fail;
        }
        q->runs[q->nruns++] = r;
        snprintf(r->name, sizeof r->name, "%s", runs[i]);
        size_t l = strlen(r->name);
        while (l > 1 && r->name[l - 1] == '/') r->name[--l] = '\0';
        snprintf(r->path, sizeof r->path, "%s", r->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(q->runs[j]->name, r->name)) {
                st = nv_fail(err, NV_EINPUT, "%s: named twice", r->name);
                goto fail;
            }
        char p[NV_PATH_LEN + 32];
        snprintf(p, sizeof p, "%s/config.cfg", r->path);
        struct stat sb;
        if (stat(r->path, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(p, R_OK) != 0) {
            st = nv_fail(err, NV_EINPUT, "%s: not a run directory (no config.cfg); give the --out directory of nerve train",
                         r->path);
            goto fail;
        }
        nv_experiment *ex = calloc(1, sizeof *ex);
        nv_error ignore = {0};
        if (ex && nv_config_load(p, NULL, 0, ex, &ignore) == NV_OK) {
            r->have_config = 1;
            r->seed = ex->seed;
            r->order_seed = ex->order_seed;
            snprintf(r->experiment, sizeof r->experiment, "%s", ex->experiment);
        }
        free(ex);
        if ((st = nv_dyn_models(r->path, r->models, 8, &r->nmodels, err))) goto fail;
        qsort(r->models, (size_t)r->nmodels, sizeof r->models[0], cmp_name);
    }
    *out = q;
    return NV_OK;
fail:
    nv_query_close(q);
    return st;
}

/* The source of (run r, model), opened now if it was not yet. */
static nv_status source_of(nv_query *q, qrun *r, const char *model, qsrc **out, nv_error *err) {
    for (int i = 0; i < q->nsrc; i++)
        if (q->src[i]->run == r && !strcmp(q->src[i]->model, model)) {
            *out = q->src[i];
            return NV_OK;
        }
    nv_status st = qsrc_open(r, model, out, err);
    if (!st) q->src[q->nsrc++] = *out;
    return st;
}

nv_status qsession_sql(nv_query *q, nv_error *err) {
    if (q->db) return NV_OK;
    /* every source, in the order the tables list them: runs as given, models by name */
    qsrc **all = nv_calloc((size_t)(8 * (q->nruns ? q->nruns : 1)), sizeof(qsrc *), err);
    if (!all) return NV_ENOMEM;
    nv_status st = NV_OK;
    int n = 0;
    for (int i = 0; i < q->nruns && !st; i++)
        for (int m = 0; m < q->runs[i]->nmodels && !st; m++) st = source_of(q, q->runs[i], q->runs[i]->models[m], &all[n++], err);
    if (st) {
        free(all);
        return st;
    }
    memcpy(q->src, all, sizeof(qsrc *) * (size_t)n); /* the same sources, reordered */
    q->nsrc = n;
    free(all);
    q->nlayer_names = 0;
    for (int i = 0; i < q->nsrc; i++) {
        const qsrc *s = q->src[i];
        for (int k = 0; k < s->L; k++) {
            int have = 0;
            for (int j = 0; j < q->nlayer_names; j++) have |= !strcmp(q->layer_names[j], s->info->layer_names[k]);
            if (!have && q->nlayer_names < NV_MAX_LAYERS)
                snprintf(q->layer_names[q->nlayer_names++], 16, "%s", s->info->layer_names[k]);
        }
    }
    if (sqlite3_open_v2(":memory:", &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY, NULL) !=
        SQLITE_OK) {
        st = nv_fail(err, NV_EINTERNAL, "sqlite: cannot open an in-memory database");
        goto fail;
    }
    if ((st = fill_tables(q, err)) || (st = qvtab_register(q, err))) goto fail;
    sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_set_authorizer(q->db, authorize, q);
    return NV_OK;
fail:
    sqlite3_close(q->db); /* accepts NULL */
    q->db = NULL;
    return st;
}

void nv_query_close(nv_query *q) {
    if (!q) return;
    if (q->db) sqlite3_close(q->db);
    for (int i = 0; i < q->nsrc; i++) qsrc_close(q->src[i]);
    for (int i = 0; i < q->nruns; i++) {
        free(q->runs[i]->samples);
        free(q->runs[i]);
    }
    free(q->src);
    free(q->runs);
    free(q);
}

nv_status nv_query_sql(nv_query *q, const char *sql, nv_qsink *sink, nv_error *err) {
    const char *tail = sql;
    int n = 0;
    nv_status st = qsession_sql(q, err);
    while (tail && *tail && !st) {
        sqlite3_stmt *stmt = NULL;
        q->attach_seen = 0;
        int rc = sqlite3_prepare_v2(q->db, tail, -1, &stmt, &tail);
        if (rc != SQLITE_OK) {
            if (q->attach_seen)
                return nv_fail(err, NV_EINPUT, "SQL error: ATTACH and DETACH are refused: nerve query reads the runs "
                               "named on its command line and never opens or writes another database file");
            return nv_fail(err, NV_EINPUT, "SQL error: %s", sqlite3_errmsg(q->db));
        }
        if (!stmt) continue; /* a comment or white space */
        n++;
        if (!sqlite3_stmt_readonly(stmt)) {
            const char *full = sqlite3_sql(stmt);
            char text[120];
            snprintf(text, sizeof text, "%.100s%s", full, strlen(full) > 100 ? "..." : "");
            sqlite3_finalize(stmt);
            return nv_fail(err, NV_EINPUT, "SQL statement %d (\"%s\") would write: nerve query runs statements that "
                           "only read (SELECT, WITH, EXPLAIN); queries never write to a run", n, text);
        }
        const int ncols = sqlite3_column_count(stmt);
        const char *names[512];
        nv_qvalue vals[512];
        if (ncols > 512) {
            sqlite3_finalize(stmt);
            return nv_fail(err, NV_EINPUT, "SQL statement %d returns %d columns (at most 512)", n, ncols);
        }
        for (int c = 0; c < ncols; c++) names[c] = sqlite3_column_name(stmt, c);
        char tname[32];
        snprintf(tname, sizeof tname, n == 1 ? "result" : "result%d", n);
        if (ncols > 0 && (st = sink->begin(sink, tname, ncols, names, err))) {
            sqlite3_finalize(stmt);
            return st;
        }
        for (;;) {
            rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) {
                st = nv_fail(err, NV_EINPUT, "SQL error: %s", sqlite3_errmsg(q->db));
                break;
            }
            for (int c = 0; c < ncols; c++) {
                switch (sqlite3_column_type(stmt, c)) {
                case SQLITE_INTEGER: vals[c] = qv_int(sqlite3_column_int64(stmt, c)); break;
                case SQLITE_FLOAT: vals[c] = qv_real(sqlite3_column_double(stmt, c)); break;
                case SQLITE_NULL: vals[c] = qv_null(); break;
                default: vals[c] = qv_text((const char *)sqlite3_column_text(stmt, c)); break;
                }
            }
            if ((st = sink->row(sink, vals, err))) break;
        }
        if (!st && ncols > 0) st = sink->end(sink, err);
        sqlite3_finalize(stmt);
    }
    return st;
}

nv_status nv_query_schema(nv_qresult *out, nv_error *err) {
    memset(out, 0, sizeof *out);
    static const char *const cols[] = {"table", "column", "type", "meaning"};
    nv_status st = qtable_init(&out->table[0], "schema", 4, cols, err);
    out->ntables = 1;
    const qschema_row *rows;
    int n = qvtab_schema(&rows);
    for (int i = 0; i < n && !st; i++) {
        nv_qvalue v[4] = {qv_text(rows[i].table), qv_text(rows[i].column), qv_text(rows[i].type),
                          qv_text(rows[i].meaning)};
        st = qtable_add(&out->table[0], v, err);
    }
    if (st) nv_qresult_free(out);
    return st;
}

nv_status qsession_source(nv_query *q, int run, const char *model, qsrc **out, nv_error *err) {
    *out = NULL;
    if (run >= q->nruns) return nv_fail(err, NV_EINPUT, "this preset needs %d run(s); %d given", run + 1, q->nruns);
    qrun *r = q->runs[run];
    if (r->nmodels == 0)
        return nv_fail(err, NV_EINPUT, "%s: no dynamics record (no %s/dynamics/<model>.h5): train with dynamics.enabled "
                       "= true (experiments/spheres_dynamics.cfg, docs/dynamics.md)", r->name, r->name);
    const char *want = r->models[0]; /* without --model: the expressive net, else the first by name */
    char list[600] = "";
    int found = 0;
    for (int m = 0; m < r->nmodels; m++) {
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", r->models[m]);
        if (model ? !strcmp(r->models[m], model) : !strcmp(r->models[m], "expressive")) want = r->models[m], found = 1;
    }
    if (model && !found) return nv_fail(err, NV_EINPUT, "--model %s: not recorded in %s (recorded: %s)", model, r->name, list);
    return source_of(q, r, want, out, err);
}
