/*
 * main.c - summond(8): command line, then hand over to daemon.c.
 */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "build_config.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: summond [-f FILE] [-d] [-v]... [-n] [--version] [--help]\n"
	    "  -f FILE   configuration (default %s/summond.conf)\n"
	    "  -d        foreground, log to stderr (else journald/syslog)\n"
	    "  -v        more verbose (repeatable)\n"
	    "  -n        check the configuration, print every error, exit\n",
	    SUMMON_SYSCONFDIR);
}

/*
 * One listening socket per service port, plus clients and relays: take
 * every descriptor the hard limit allows (the unit sets LimitNOFILE).
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
}

/*
 * glibc raises its mmap and trim thresholds to the size of any large
 * block the process frees (up to 32 MB and 64 MB), after which the free
 * memory at the top of the heap is kept rather than given back.  summond
 * frees large blocks while starting (the configuration parser's tables)
 * and then lives with bursts: a 'list' or a /metrics scrape of 10,000
 * services builds megabytes of text that is freed once sent.  Fixed
 * thresholds at glibc's defaults give those back (1.6 MB after a list of
 * 10,000 services) and keep large tables in their own mappings, which a
 * reload then unmaps whole.
 */
static void
tune_malloc(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
#endif
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = SUMMON_SYSCONFDIR "/summond.conf";
	int ch, foreground = 0, verbose = 0, check = 0, nerr = 0, rc;
	struct config *cfg;
	struct daemon *d;

	while ((ch = getopt_long(argc, argv, "f:dvn", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'v':
			verbose++;
			break;
		case 'n':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("summond %s\n", SUMMON_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	tune_malloc();
	cfg = config_load(path, stderr, &nerr);
	/* What the file names must be there too: templates, kernels. */
	if (cfg != NULL &&
	    (nerr = config_check_files(cfg, NULL, stderr, NULL)) > 0) {
		config_free(cfg);
		cfg = NULL;
	}
	if (check) {
		if (cfg == NULL) {
			fprintf(stderr, "%s: %d error%s\n", path, nerr,
			    nerr == 1 ? "" : "s");
			return 1;
		}
		printf("%s: configuration OK (%zu services)\n", path,
		    cfg->nservices);
		config_free(cfg);
		return 0;
	}
	if (cfg == NULL)
		return 1;

	log_init("summond", foreground, verbose);
	raise_fd_limit();
	if ((d = daemon_new(path, cfg)) == NULL)
		return 1;
	rc = daemon_run(d);
	daemon_free(d);
	log_info("summond exited");
	return rc;
}
