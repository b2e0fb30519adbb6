/*
 * budget_sim.c - the standby budget's policy against a Zipf trace, on
 * the scripted vm backend: the real lifecycle and lc_budget.c, no
 * guest, no libvirt, so that policies can be compared in seconds.
 *
 *	budget_sim [services budget wakes half-life...]
 *
 * 200 services, a budget of 10, wakes drawn from Zipf (s = 1.0) over
 * the services; halfway the hot set moves (the services are ranked
 * anew, at random).  Each wake finds its service down (reaped since its
 * last wake), is served by a budget standby ("warm") or by a create,
 * and the service is reaped at once; between wakes the reaper ticks
 * four times (two seconds at its 500 ms), which is when the budget
 * moves.  For each half-life given (in wakes), the share of wakes
 * served warm before the shift and after it (its first 100 wakes left
 * out), against the oracle's: the share an omniscient pool of the same
 * size serves (the budget highest-probability services).  Built with
 * the unit tests; run by bench/standby.sh, not by CI.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lifecycle.h"
#include "store.h"
#include "tests/vm_script.h"

#define TICKS_PER_WAKE	4
#define TICK_US		500000ULL
#define SKIP_AFTER	100	/* wakes after the shift left out */

static uint64_t now_us = 1000000;

static uint64_t
sim_mono_us(void *arg)
{
	return now_us;
}

static int64_t
sim_wall_ms(void *arg)
{
	return 1700000000000LL + (int64_t)(now_us / 1000);
}

/* A random number in [0, 1), reproducible. */
static double
rnd(unsigned long long *seed)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*seed >> 11) / 9007199254740992.0;
}

/* Zipf (s = 1.0) over n ranks: the cumulative weights, normalised. */
static double *
zipf_cdf(int n)
{
	double *cdf = calloc((size_t)n, sizeof(*cdf)), sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += 1.0 / (i + 1);
	for (i = 0; i < n; i++)
		cdf[i] = (i > 0 ? cdf[i - 1] : 0) + 1.0 / (i + 1) / sum;
	return cdf;
}

static int
draw(const double *cdf, int n, unsigned long long *seed)
{
	double u = rnd(seed);
	int lo = 0, hi = n - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A random permutation: which service holds each rank. */
static void
shuffle(int *perm, int n, unsigned long long *seed)
{
	int i, j, t;

	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n - 1; i > 0; i--) {
		j = (int)(rnd(seed) * (i + 1));
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

static struct lifecycle *lc;
static struct event_base *base;

static void
turn(void)
{
	int i;

	for (i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static const char *
sname(int i)
{
	static char name[16];

	snprintf(name, sizeof(name), "s%03d", i);
	return name;
}

/* One wake of service i: warm (a budget standby took it) or not. */
static int
wake(int i)
{
	struct lc_info before, after;
	int t;

	lifecycle_info(lc, sname(i), &before);
	lifecycle_wake(lc, sname(i), LC_SRC_DNS);
	lifecycle_info(lc, sname(i), &after);
	turn();
	lifecycle_stop(lc, sname(i), "manual");
	for (t = 0; t < 100 && (after.state == LC_STARTING ||
	    after.state == LC_STOPPING); t++) {
		turn();
		lifecycle_info(lc, sname(i), &after);
	}
	for (t = 0; t < TICKS_PER_WAKE; t++) {
		now_us += TICK_US;
		lifecycle_tick(lc);
		turn();
	}
	return after.served[LC_BY_STANDBY] > before.served[LC_BY_STANDBY];
}

static void
run(int nsvc, int budget, int nwakes, unsigned half_life, const double *cdf,
    double oracle)
{
	struct clock_source cs = { sim_mono_us, sim_wall_ms, NULL };
	char dir[64], path[128], err[256], *text;
	unsigned long long seed = 42;
	struct config *cfg;
	struct store *st;
	int *perm = calloc((size_t)nsvc, sizeof(int));
	int w, warm[2] = { 0, 0 }, counted[2] = { 0, 0 }, half, nerr;
	size_t len = 0, cap = 4096 + (size_t)nsvc * 160;

	clock_set_source(&cs);
	snprintf(dir, sizeof(dir), "/tmp/budget_sim.XXXXXX");
	if (mkdtemp(dir) == NULL || (text = malloc(cap)) == NULL)
		exit(1);
	len += (size_t)snprintf(text + len, cap - len,
	    "[summond]\nstate = %s/state.db\nhypervisor = script:///\n"
	    "serial-dir = %s\nmax-instances = 1000\nmemory-budget = 100G\n"
	    "standby-budget = %d\nstandby-half-life = %u\n"
	    "[dns]\nlisten =\n[metrics]\nlisten =\n[network]\nmode = user\n"
	    "user-ports = 20000-29999\n", dir, dir, budget, half_life);
	for (w = 0; w < nsvc; w++)
		len += (size_t)snprintf(text + len, cap - len,
		    "[service \"%s\"]\nkernel = /k\naddress = 127.2.%d.%d\n"
		    "ports = 80\ntemplate = /t.xml\nready = serial:R\n",
		    sname(w), w / 250, 1 + w % 250);
	if ((cfg = config_load_string("sim.conf", text, stderr, &nerr)) ==
	    NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if ((st = store_open(path, err, sizeof(err))) == NULL ||
	    (base = event_base_new()) == NULL ||
	    (lc = lifecycle_new(base, cfg, st, &vm_script_ops, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "budget_sim: %s\n", err);
		exit(1);
	}
	shuffle(perm, nsvc, &seed);
	for (w = 0; w < 2 * nwakes; w++) {
		half = w >= nwakes;
		if (w == nwakes)
			shuffle(perm, nsvc, &seed);	/* the shift */
		if (wake(perm[draw(cdf, nsvc, &seed)]) &&
		    (!half || w >= nwakes + SKIP_AFTER))
			warm[half]++;
		if (!half || w >= nwakes + SKIP_AFTER)
			counted[half]++;
	}
	printf("%-10u %6.1f %%  %6.1f %%  %5.2f  %5.2f\n", half_life,
	    100.0 * warm[0] / counted[0], 100.0 * warm[1] / counted[1],
	    (double)warm[0] / counted[0] / oracle,
	    (double)warm[1] / counted[1] / oracle);
	lifecycle_free(lc);
	event_base_free(base);
	store_close(st);
	config_free(cfg);
	free(text);
	free(perm);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		exit(1);
	clock_set_source(NULL);
}

int
main(int argc, char *argv[])
{
	int nsvc = argc > 1 ? atoi(argv[1]) : 200;
	int budget = argc > 2 ? atoi(argv[2]) : 10;
	int nwakes = argc > 3 ? atoi(argv[3]) : 2000;
	static const unsigned dflt[] = { 1, 5, 10, 20, 50, 100, 200, 1000 };
	double *cdf = zipf_cdf(nsvc), oracle;
	int i;

	oracle = cdf[budget - 1];
	printf("%d services, budget %d, Zipf 1.0, %d wakes, then the hot set "
	    "moves and %d more (the first %d after it not counted)\n",
	    nsvc, budget, nwakes, nwakes, SKIP_AFTER);
	printf("oracle (the %d most likely, known): %.1f %% warm\n\n", budget,
	    100 * oracle);
	printf("half-life  before     after      x oracle\n");
	if (argc > 4)
		for (i = 4; i < argc; i++)
			run(nsvc, budget, nwakes, (unsigned)atoi(argv[i]), cdf,
			    oracle);
	else
		for (i = 0; i < (int)(sizeof(dflt) / sizeof(dflt[0])); i++)
			run(nsvc, budget, nwakes, dflt[i], cdf, oracle);
	free(cdf);
	return 0;
}
