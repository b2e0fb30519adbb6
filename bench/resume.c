/*
 * bench/resume.c - what one resume costs through libvirt, call by call:
 * the lookup by name that every job starts with, virDomainResume(), and
 * the lookup and virDomainGetState() that used to follow it.  Each run
 * suspends the domain, waits, then times the three.  Built and run by
 * bench/resume.sh; not run by CI.
 *
 * usage: resume DOMAIN RUNS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
row(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%-34s %8.2f %8.2f %8.2f\n", what, v[n / 2],
	    v[(n * 9 + 9) / 10 - 1], v[n - 1]);
}

int
main(int argc, char **argv)
{
	virConnectPtr c;
	virDomainPtr d;
	double *look, *res, *st;
	int i, n, state, reason;

	if (argc != 3 || (n = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: resume DOMAIN RUNS\n");
		return 2;
	}
	look = calloc((size_t)n, sizeof(double));
	res = calloc((size_t)n, sizeof(double));
	st = calloc((size_t)n, sizeof(double));
	if (look == NULL || res == NULL || st == NULL ||
	    (c = virConnectOpen("qemu:///system")) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		double t0, t1, t2, t3;

		if ((d = virDomainLookupByName(c, argv[1])) == NULL ||
		    virDomainSuspend(d) == -1)
			return 1;
		virDomainFree(d);
		usleep(200000);
		t0 = now_ms();
		d = virDomainLookupByName(c, argv[1]);
		t1 = now_ms();
		if (d == NULL || virDomainResume(d) == -1)
			return 1;
		t2 = now_ms();
		virDomainFree(d);
		d = virDomainLookupByName(c, argv[1]);
		if (d == NULL || virDomainGetState(d, &state, &reason, 0) == -1)
			return 1;
		t3 = now_ms();
		virDomainFree(d);
		look[i] = t1 - t0;
		res[i] = t2 - t1;
		st[i] = t3 - t2;
		usleep(100000);
	}
	printf("%-34s %8s %8s %8s\n", "call (ms)", "p50", "p90", "max");
	row("virDomainLookupByName", look, n);
	row("virDomainResume", res, n);
	row("lookup + virDomainGetState", st, n);
	virConnectClose(c);
	return 0;
}
