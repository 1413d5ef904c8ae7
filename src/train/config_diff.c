/* config_diff.c: the first setting in which two config texts differ (config.h,
 * nv_config_diff), read with libconfig, so that `nerve train --resume` against a run
 * of another config can name the key and both values instead of a line number, and
 * so that two texts that hold the same settings (written by different nerve
 * versions, with other comments or number formatting) count as the same config. */
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/config.h"

/* A number as the shortest text that reads back to the same double, with a decimal
 * point (libconfig tells floats from integers by it). */
static void put_double(double v, char *out, size_t len) {
    nv_fmt_shortest(out, len, v, 1, 0);
    if (isfinite(v) && !strpbrk(out, ".eEn")) snprintf(out + strlen(out), len - strlen(out), ".0");
}

/* The value of a setting in libconfig syntax. */
static void put_value(const config_setting_t *s, char *out, size_t len) {
    if (!out || !len) return;
    out[0] = '\0';
    if (!s) {
        snprintf(out, len, "(not set)");
        return;
    }
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: snprintf(out, len, "%d", config_setting_get_int(s)); break;
    case CONFIG_TYPE_INT64: snprintf(out, len, "%lld", (long long)config_setting_get_int64(s)); break;
    case CONFIG_TYPE_FLOAT: put_double(config_setting_get_float(s), out, len); break;
    case CONFIG_TYPE_BOOL: snprintf(out, len, "%s", config_setting_get_bool(s) ? "true" : "false"); break;
    case CONFIG_TYPE_STRING: nv_config_quote(config_setting_get_string(s), out, len); break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        int list = config_setting_type(s) == CONFIG_TYPE_LIST;
        snprintf(out, len, "%s", list ? "(" : "[");
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            char item[256];
            put_value(config_setting_get_elem(s, (unsigned)i), item, sizeof item);
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%s", i ? ", " : "", item);
        }
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s", list ? ")" : "]");
        break;
    }
    case CONFIG_TYPE_GROUP: snprintf(out, len, "{ ... }"); break;
    default: snprintf(out, len, "?"); break;
    }
}

/* 1 when two scalar or aggregate settings hold the same value. */
static int same_value(const config_setting_t *a, const config_setting_t *b) {
    int ta = config_setting_type(a), tb = config_setting_type(b);
    int na = ta == CONFIG_TYPE_INT || ta == CONFIG_TYPE_INT64, nb = tb == CONFIG_TYPE_INT || tb == CONFIG_TYPE_INT64;
    if (na && nb) return config_setting_get_int64(a) == config_setting_get_int64(b);
    if (ta != tb) return 0;
    switch (ta) {
    case CONFIG_TYPE_FLOAT: return config_setting_get_float(a) == config_setting_get_float(b);
    case CONFIG_TYPE_BOOL: return config_setting_get_bool(a) == config_setting_get_bool(b);
    case CONFIG_TYPE_STRING: return !strcmp(config_setting_get_string(a), config_setting_get_string(b));
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        int n = config_setting_length(a);
        if (n != config_setting_length(b)) return 0;
        for (int i = 0; i < n; i++)
            if (!same_value(config_setting_get_elem(a, (unsigned)i), config_setting_get_elem(b, (unsigned)i)))
                return 0;
        return 1;
    }
    default: return 0;
    }
}

typedef struct {
    char *key, *va, *vb;
    size_t klen, vlen;
} diff_out;

static int report(diff_out *o, const char *prefix, const char *name, const config_setting_t *a,
                  const config_setting_t *b) {
    snprintf(o->key, o->klen, "%s%s%s", prefix, *prefix ? "." : "", name);
    put_value(a, o->va, o->vlen);
    put_value(b, o->vb, o->vlen);
    return 1;
}

/* A group one side lacks altogether (a newer nerve's section, or one a config left
 * out) is reported at its first setting, so the message names a key that --set can
 * give ("dynamics.enabled is true there and not set here"), not "{ ... }". */
static int report_one_side(diff_out *o, const char *prefix, const config_setting_t *s, int in_a) {
    const char *name = config_setting_name(s);
    if (config_setting_is_group(s) && config_setting_length(s) > 0) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", prefix, *prefix ? "." : "", name);
        return report_one_side(o, sub, config_setting_get_elem(s, 0), in_a);
    }
    return in_a ? report(o, prefix, name, s, NULL) : report(o, prefix, name, NULL, s);
}

/* Walks group a (in its order), then b's settings that a lacks. */
static int diff_group(const config_setting_t *a, const config_setting_t *b, const char *prefix, diff_out *o) {
    int n = config_setting_length(a);
    for (int i = 0; i < n; i++) {
        const config_setting_t *sa = config_setting_get_elem(a, (unsigned)i);
        const char *name = config_setting_name(sa);
        const config_setting_t *sb = config_setting_get_member(b, name);
        if (!sb) return report_one_side(o, prefix, sa, 1);
        int ga = config_setting_is_group(sa), gb = config_setting_is_group(sb);
        if (ga && gb) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s%s%s", prefix, *prefix ? "." : "", name);
            if (diff_group(sa, sb, sub, o)) return 1;
        } else if (ga || gb || !same_value(sa, sb)) {
            return report(o, prefix, name, sa, sb);
        }
    }
    n = config_setting_length(b);
    for (int i = 0; i < n; i++) {
        const config_setting_t *sb = config_setting_get_elem(b, (unsigned)i);
        const char *name = config_setting_name(sb);
        if (!config_setting_get_member(a, name)) return report_one_side(o, prefix, sb, 0);
    }
    return 0;
}

int nv_config_diff(const char *a, const char *b, char *key, size_t klen, char *va, char *vb, size_t vlen) {
    config_t ca, cb;
    config_init(&ca);
    config_init(&cb);
    int rc = -1;
    diff_out o = {key, va, vb, klen, vlen};
    if (key && klen) key[0] = '\0';
    if (va && vb && vlen) va[0] = vb[0] = '\0';
    if (config_read_string(&ca, a) == CONFIG_TRUE && config_read_string(&cb, b) == CONFIG_TRUE)
        rc = diff_group(config_root_setting(&ca), config_root_setting(&cb), "", &o);
    config_destroy(&ca);
    config_destroy(&cb);
    return rc;
}

void nv_config_quote(const char *v, char *out, size_t len) {
    if (!len) return;
    size_t n = 0;
    char piece[8];
#define PUT(str)                                                   \
    do {                                                           \
        size_t k = strlen(str);                                    \
        if (n + k + 1 > len) goto full;                            \
        memcpy(out + n, str, k);                                   \
        n += k;                                                    \
    } while (0)
    PUT("\"");
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (*c == '\\' || *c == '"') snprintf(piece, sizeof piece, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f) snprintf(piece, sizeof piece, "\\x%02x", *c);
        else snprintf(piece, sizeof piece, "%c", *c);
        PUT(piece);
    }
    PUT("\"");
#undef PUT
full:
    out[n] = '\0';
}

void nv_config_set_text(const char *key, const char *value, char *out, size_t len) {
    /* "a.b.c" = v  ->  "a: { b: { c = v; }; };" */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", key);
    int depth = 0;
    size_t used = 0;
    out[0] = '\0';
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
        char *next = save && *save ? save : NULL;
        if (next) {
            used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s: { ", part);
            depth++;
        } else {
            used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s = %s;", part, value);
        }
    }
    for (int d = 0; d < depth; d++) used += (size_t)snprintf(out + used, used < len ? len - used : 0, " };");
}
