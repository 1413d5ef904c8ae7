/* cmd_serve.c: `nerve serve RUN|SWEEP_DIR`: the live web viewer of a run (or of
 * every run below a sweep directory). include/nerve/serve.h does the work; this
 * file parses flags, prints the URL and the warnings, lowers its own priority so
 * a training on the same machine comes first, and waits for Ctrl-C.
 * docs/serve.md describes the page, the API and the security rules. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "nerve/serve.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve serve RUN|SWEEP_DIR [options]\n\n"
            "A live web viewer of a run: the network lit by activations and gradients, each\n"
            "neuron's feature images over the epochs, training curves, topology and PCA. It\n"
            "reads only (files a manifest lists, or that nerve publishes whole) and follows a\n"
            "training as it runs. Open the printed URL in a browser; Ctrl-C stops it.\n\n"
            "options:\n"
            "  --port N             port (default %d; 0: any free port)\n"
            "  --bind ADDR          address to listen on (default 127.0.0.1, this machine only;\n"
            "                       anything else is reachable from the network: a warning says so)\n"
            "  --token T|auto       require this access token on every request (auto: a random\n"
            "                       one); the printed URL carries it. Use it on shared machines\n"
            "  --allow-host NAME    also accept this Host name (a proxy or an SSH tunnel's name)\n"
            "  --web DIR            the page's folder (default: found next to the program)\n"
            "  --max-connections N  at most N connections at once (default 128)\n"
            "  --poll-ms N          how often new files are looked for (default 250)\n"
            "  --nice N             lower the server's priority by N (default 10, so a training on\n"
            "                       the same machine comes first; 0 keeps it)\n"
            "  -h, --help           this help\n",
            NV_SERVE_DEFAULT_PORT);
}

static int random_token(char *buf, size_t len) {
    unsigned char b[24];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, b, sizeof b);
    close(fd);
    if (n != (ssize_t)sizeof b || len < 2 * sizeof b + 1) return -1;
    for (size_t i = 0; i < sizeof b; i++) snprintf(buf + 2 * i, 3, "%02x", b[i]);
    return 0;
}

int nv_cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},  {"bind", required_argument, 0, 'b'},
        {"token", required_argument, 0, 'T'}, {"allow-host", required_argument, 0, 'A'},
        {"web", required_argument, 0, 'w'},   {"max-connections", required_argument, 0, 'm'},
        {"poll-ms", required_argument, 0, 'P'}, {"nice", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    nv_serve_opts o = {.port = NV_SERVE_DEFAULT_PORT};
    const char *hosts[17] = {0};
    int nh = 0;
    long long v, nice_by = 10;
    char token[64];
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "p:b:T:A:w:m:P:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (nv_cli_int("serve", "--port", optarg, 0, 65535, &v)) return 2;
            o.port = (int)v;
            break;
        case 'b': o.bind = optarg; break;
        case 'T':
            if (!strcmp(optarg, "auto")) {
                if (random_token(token, sizeof token)) {
                    fprintf(stderr, "nerve serve: cannot read /dev/urandom for a token\n");
                    return 1;
                }
                o.token = token;
            } else {
                o.token = optarg;
            }
            break;
        case 'A':
            if (nh == 16) return nv_cli_usage("serve", "--allow-host: at most 16 names");
            hosts[nh++] = optarg;
            break;
        case 'w': o.web_dir = optarg; break;
        case 'm':
            if (nv_cli_int("serve", "--max-connections", optarg, 4, 100000, &v)) return 2;
            o.max_connections = (int)v;
            break;
        case 'P':
            if (nv_cli_int("serve", "--poll-ms", optarg, 20, 10000, &v)) return 2;
            o.poll_seconds = (double)v / 1000.0;
            break;
        case 'n':
            if (nv_cli_int("serve", "--nice", optarg, 0, 19, &nice_by)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: return nv_cli_usage("serve", "unknown option");
        }
    }
    if (optind != argc - 1) return nv_cli_usage("serve", "expected one RUN or SWEEP_DIR, found %d arguments", argc - optind);
    o.root = argv[optind];
    o.allow_hosts = hosts;
    if (nice_by > 0) {
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, 0);
        if (errno == 0) setpriority(PRIO_PROCESS, 0, cur + (int)nice_by);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    nv_server *s = NULL;
    nv_error err = {0};
    if (nv_serve_start(&o, &s, &err)) return nv_cli_report("serve", &err);
    const char *bind = o.bind && *o.bind ? o.bind : "127.0.0.1";
    if (!nv_serve_bind_is_loopback(bind)) {
        fprintf(stderr,
                "nerve serve: WARNING: listening on %s, not only on this machine: anyone who can reach "
                "port %d can read this run%s\n",
                bind, nv_serve_port(s), o.token && *o.token ? " with the token" : " (add --token auto)");
    }
    if (!nv_serve_has_frontend(s))
        fprintf(stderr, "nerve serve: note: the page's front end (d3, uPlot) is not installed in %s; the page says "
                        "how to install it (make web), the API works\n",
                nv_serve_web_dir(s)[0] ? nv_serve_web_dir(s) : "any web folder");
    const char *shown = strchr(bind, ':') ? NULL : bind;
    if (shown && !strcmp(shown, "0.0.0.0")) shown = "127.0.0.1";
    char url[512];
    if (shown) snprintf(url, sizeof url, "http://%s:%d/", shown, nv_serve_port(s));
    else snprintf(url, sizeof url, "http://[%s]:%d/", bind, nv_serve_port(s));
    if (o.token && *o.token) snprintf(url + strlen(url), sizeof url - strlen(url), "?token=%s", o.token);
    printf("nerve serve: %s  (serving %s; Ctrl-C stops)\n", url, o.root);
    fflush(stdout);
    while (!g_stop) usleep(100000);
    int64_t answered, refused;
    nv_serve_counts(s, &answered, &refused);
    nv_serve_stop(s);
    printf("nerve serve: stopped (%lld requests answered, %lld refused)\n", (long long)answered, (long long)refused);
    return 0;
}
