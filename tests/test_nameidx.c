/*
 * test_nameidx.c - the name index against a plain array, through growth
 * and deletions in an order that exercises the backward shift.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nameidx.h"
#include "check_main.h"

#define N 5000

static char names[N][16];
static int present[N];

static void
check_all(const struct nameidx *x)
{
	size_t i, count = 0;

	for (i = 0; i < N; i++) {
		void *v = nameidx_get(x, names[i]);
		ck_assert_ptr_eq(v, present[i] ? (void *)&names[i] : NULL);
		count += (size_t)present[i];
	}
	ck_assert_uint_eq(x->count, count);
}

START_TEST(put_get_delete)
{
	struct nameidx x = NAMEIDX_INIT(0);	/* a value is its name */
	unsigned seed = 7;
	size_t i, k;

	ck_assert_ptr_null(nameidx_get(&x, "nothing"));
	nameidx_del(&x, "nothing");		/* an empty index */
	for (i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "s%zu", i);
		ck_assert_int_eq(nameidx_put(&x, names[i]), 0);
		present[i] = 1;
	}
	check_all(&x);
	/* Replacing keeps the count. */
	ck_assert_int_eq(nameidx_put(&x, names[3]), 0);
	ck_assert_uint_eq(x.count, N);
	/* Delete about half, in a scattered order, twice over. */
	for (k = 0; k < N; k++) {
		seed = seed * 1103515245u + 12345u;
		i = (seed >> 8) % N;
		nameidx_del(&x, names[i]);
		present[i] = 0;
	}
	check_all(&x);
	/* Put some back. */
	for (i = 0; i < N; i += 3) {
		ck_assert_int_eq(nameidx_put(&x, names[i]), 0);
		present[i] = 1;
	}
	check_all(&x);
	for (i = 0; i < N; i++) {
		nameidx_del(&x, names[i]);
		present[i] = 0;
	}
	check_all(&x);
	nameidx_clear(&x);
	ck_assert_ptr_null(nameidx_get(&x, "s1"));
	/* Room made first: that many puts succeed without growing. */
	ck_assert_int_eq(nameidx_reserve(&x, N), 0);
	k = x.size;
	for (i = 0; i < N; i++)
		ck_assert_int_eq(nameidx_put(&x, names[i]), 0);
	ck_assert_uint_eq(x.size, k);
	nameidx_clear(&x);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("nameidx");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, put_get_delete);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
