/* test_serve.c: the viewer's security rules one by one (src/serve/paths.c,
 * docs/CONTRACTS.md section 4), each with the cases that must pass and the ones an
 * attacker would try: names, integers, relative paths (dot segments, hidden files,
 * empty segments, odd characters), the realpath check with a link out of the root,
 * the Host check against DNS rebinding, the manifest rule on a real manifest, and
 * the constant-time token comparison. */
#include "testutil.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/serve_internal.h"

static void test_names_and_ints(void **state) {
    (void)state;
    assert_true(sv_name_ok("expressive"));
    assert_true(sv_name_ok("hidden_2-a"));
    assert_false(sv_name_ok(""));
    assert_false(sv_name_ok(NULL));
    assert_false(sv_name_ok("a/b"));
    assert_false(sv_name_ok(".."));
    assert_false(sv_name_ok("a b"));
    char long_name[80];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_false(sv_name_ok(long_name)); /* 64 characters: one too many */
    long_name[63] = '\0';
    assert_true(sv_name_ok(long_name));

    int64_t v = -7;
    assert_true(sv_int_ok("12", 0, 100, &v));
    assert_int_equal(v, 12);
    assert_true(sv_int_ok("-3", -5, 5, &v));
    assert_int_equal(v, -3);
    assert_false(sv_int_ok("101", 0, 100, &v));
    assert_false(sv_int_ok("-", 0, 100, &v));
    assert_false(sv_int_ok("", 0, 100, &v));
    assert_false(sv_int_ok(NULL, 0, 100, &v));
    assert_false(sv_int_ok("1e3", 0, 10000, &v));
    assert_false(sv_int_ok(" 1", 0, 100, &v));
    assert_false(sv_int_ok("0x10", 0, 100, &v));
    assert_false(sv_int_ok("99999999999999999999", 0, INT64_MAX, &v)); /* 20 digits: refused, no overflow */
}

static void test_rel_paths(void **state) {
    (void)state;
    assert_true(sv_rel_path_ok("snapshots/expressive/epoch_0001.h5", 0));
    assert_true(sv_rel_path_ok("analysis/figures/pca_grid+x.png", 0));
    assert_true(sv_rel_path_ok("", 1));
    assert_false(sv_rel_path_ok("", 0));
    const char *bad[] = {"/etc/passwd", "../x", "a/../b", "a/./b", "./a", "a//b", "a/", ".hidden",
                         "a/.tmp-123", "a\\b", "a%2e%2e/b", "a b", "a\nb", "a;b"};
    for (size_t i = 0; i < NV_ARRAY_LEN(bad); i++)
        if (sv_rel_path_ok(bad[i], 1)) fail_msg("accepted '%s'", bad[i]);
}

static char root[PATH_MAX];

static void make_tree(void) {
    char tmpl[] = "/tmp/nerve-test-serve-XXXXXX", p[PATH_MAX + 64];
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, root));
    snprintf(p, sizeof p, "%s/root", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/root/run", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/root/run/snapshots", root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/root/run/snapshots/manifest.json", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"format\": \"nerve-manifest\", \"format_version\": 1, \"files\": ["
          "{\"model\": \"expressive\", \"epoch\": 1, \"path\": \"expressive/epoch_0001.h5\"}]}",
          f);
    assert_int_equal(fclose(f), 0);
    snprintf(p, sizeof p, "%s/secret", root);
    f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    char target[PATH_MAX + 16], link[PATH_MAX + 32];
    snprintf(target, sizeof target, "%s/secret", root);
    snprintf(link, sizeof link, "%s/root/run/leak", root);
    assert_int_equal(symlink(target, link), 0);
}

static void test_resolve_under(void **state) {
    (void)state;
    make_tree();
    char r[PATH_MAX + 16], out[SV_PATH_LEN];
    snprintf(r, sizeof r, "%s/root", root);
    assert_int_equal(sv_resolve_under(r, "run/snapshots/manifest.json", out), 0);
    assert_true(strncmp(out, r, strlen(r)) == 0);
    assert_int_equal(sv_resolve_under(r, "", out), 0);
    assert_string_equal(out, r);
    assert_int_equal(sv_resolve_under(r, "run/missing", out), -1); /* 404 */
    assert_int_equal(sv_resolve_under(r, "run/leak", out), -2);    /* a link out: 403 */
    /* a root that is a prefix of a sibling's name is not that sibling's parent */
    char sib[PATH_MAX + 32];
    snprintf(sib, sizeof sib, "%s/rootx", root);
    assert_int_equal(mkdir(sib, 0755), 0);
    char link[PATH_MAX + 32];
    snprintf(link, sizeof link, "%s/root/run/sib", root);
    assert_int_equal(symlink(sib, link), 0);
    assert_int_equal(sv_resolve_under(r, "run/sib", out), -2);
}

static void test_manifest_rule(void **state) {
    (void)state;
    char run[PATH_MAX + 16];
    snprintf(run, sizeof run, "%s/root/run", root);
    assert_true(sv_is_run_dir(run));
    assert_true(sv_run_file_allowed(run, "snapshots/manifest.json"));
    assert_true(sv_run_file_allowed(run, "snapshots/expressive/epoch_0001.h5")); /* listed */
    assert_false(sv_run_file_allowed(run, "snapshots/expressive/epoch_0002.h5")); /* not (yet) listed */
    assert_true(sv_run_file_allowed(run, "metrics/expressive.csv"));
    assert_false(sv_run_file_allowed(run, "metrics/sub/x.csv"));
    assert_true(sv_run_file_allowed(run, "analysis/ph/summary.csv"));
    assert_false(sv_run_file_allowed(run, "analysis/"));
    assert_false(sv_run_file_allowed(run, "log.txt"));                    /* appended as it runs */
    assert_false(sv_run_file_allowed(run, "checkpoints/expressive.h5"));
    assert_false(sv_run_file_allowed(run, "snapshots/../config.cfg"));
    assert_true(sv_run_file_allowed(run, "dynamics/expressive.h5"));      /* the index: renamed into place */
    assert_true(sv_run_file_allowed(run, "dynamics/expressive/manifest.json"));
    assert_false(sv_run_file_allowed(run, "dynamics/expressive/chunk_000001.h5")); /* no dynamics manifest */
    assert_false(sv_run_file_allowed(run, "dynamics/a/b/c.h5"));
}

static void test_host(void **state) {
    (void)state;
    assert_true(sv_host_ok("127.0.0.1:8050", "127.0.0.1", 8050, NULL));
    assert_true(sv_host_ok("localhost:8050", "127.0.0.1", 8050, NULL));
    assert_true(sv_host_ok("LOCALHOST:8050", "127.0.0.1", 8050, NULL));
    assert_true(sv_host_ok("[::1]:8050", "127.0.0.1", 8050, NULL));
    assert_true(sv_host_ok("localhost", "127.0.0.1", 80, NULL));
    assert_false(sv_host_ok("localhost", "127.0.0.1", 8050, NULL));          /* port 80 implied */
    assert_false(sv_host_ok("localhost:8051", "127.0.0.1", 8050, NULL));
    assert_false(sv_host_ok("evil.example:8050", "127.0.0.1", 8050, NULL));  /* DNS rebinding */
    assert_false(sv_host_ok("localhost.evil.example:8050", "127.0.0.1", 8050, NULL));
    assert_false(sv_host_ok("", "127.0.0.1", 8050, NULL));
    assert_false(sv_host_ok(NULL, "127.0.0.1", 8050, NULL));
    assert_false(sv_host_ok("::1:8050", "127.0.0.1", 8050, NULL));           /* a bare IPv6 address */
    assert_false(sv_host_ok("[::1:8050", "127.0.0.1", 8050, NULL));
    assert_false(sv_host_ok("localhost:80x", "127.0.0.1", 80, NULL));
    const char *extra[] = {"viewer.lab", NULL};
    assert_true(sv_host_ok("viewer.lab:8050", "10.0.0.5", 8050, extra));
    assert_true(sv_host_ok("10.0.0.5:8050", "10.0.0.5", 8050, NULL));
    assert_false(sv_host_ok("localhost:8050", "10.0.0.5", 8050, NULL)); /* bound to another address */
    assert_true(sv_host_ok("192.168.1.9:8050", "0.0.0.0", 8050, NULL)); /* any IP literal when bound to all */
    assert_false(sv_host_ok("attacker.example:8050", "0.0.0.0", 8050, NULL));
    assert_true(nv_serve_bind_is_loopback("127.0.0.1"));
    assert_true(nv_serve_bind_is_loopback("127.3.2.1"));
    assert_true(nv_serve_bind_is_loopback("::1"));
    assert_false(nv_serve_bind_is_loopback("0.0.0.0"));
    assert_false(nv_serve_bind_is_loopback("10.0.0.5"));
}

static void test_secret(void **state) {
    (void)state;
    assert_true(sv_secret_eq("abc123", "abc123"));
    assert_false(sv_secret_eq("abc123", "abc124"));
    assert_false(sv_secret_eq("abc123", "abc12"));
    assert_false(sv_secret_eq("abc", ""));
    assert_true(sv_secret_eq("", ""));
    char p[SV_PATH_LEN];
    assert_int_equal(sv_path(p, "/a", "b/%d", 3), 0);
    assert_string_equal(p, "/a/b/3");
    char longdir[SV_PATH_LEN];
    memset(longdir, 'x', sizeof longdir - 1);
    longdir[sizeof longdir - 1] = '\0';
    assert_int_equal(sv_path(p, longdir, "y"), -1);
    assert_string_equal(p, "");
}

static int teardown(void **state) {
    (void)state;
    if (root[0]) {
        char cmd[PATH_MAX + 32];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root); /* rm -rf never follows the links */
        if (system(cmd) != 0) return 1;
    }
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_ints), cmocka_unit_test(test_rel_paths),
        cmocka_unit_test(test_resolve_under),  cmocka_unit_test(test_manifest_rule),
        cmocka_unit_test(test_host),           cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
