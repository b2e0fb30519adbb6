/*
 * check_main.h - the main() every Check unit test program shares.
 */
#ifndef SUMMON_CHECK_MAIN_H
#define SUMMON_CHECK_MAIN_H

#include <check.h>

/* Run the suite make_suite() returns; exit 0 only if every test passed. */
#define CHECK_MAIN(make_suite)						\
int									\
main(void)								\
{									\
	SRunner *sr = srunner_create(make_suite());			\
	int failed;							\
									\
	srunner_run_all(sr, CK_ENV);					\
	failed = srunner_ntests_failed(sr);				\
	srunner_free(sr);						\
	return failed == 0 ? 0 : 1;					\
}

#endif
