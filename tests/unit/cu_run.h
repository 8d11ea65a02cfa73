/* cu_run.h — the one way every CUnit binary runs its suites.
 *
 * Prints the basic runner's summary and turns failures into the exit code:
 * CU_basic_run_tests() itself reports success even when tests fail.
 * Usage: int main(void) { return cu_run(register_fn); } where register_fn adds
 * suites with CU_add_suite/CU_add_test, or a table of tests at a time with
 * ADD_TESTS(name, init, table) where table is a struct cu_test[] of T(fn).
 */
#ifndef OVERSTAP_CU_RUN_H
#define OVERSTAP_CU_RUN_H

#include <CUnit/Basic.h>
#include <stddef.h>
#include <stdio.h>

struct cu_test {
	const char *name;
	CU_TestFunc fn;
};
#define T(fn) { #fn, fn }

/* One suite (init may be NULL) with every test of a table. */
static inline void cu_add_tests(const char *name, CU_InitializeFunc init, const struct cu_test *tests, size_t n)
{
	CU_pSuite s = CU_add_suite(name, init, NULL);
	for (size_t i = 0; s && i < n; i++)
		CU_add_test(s, tests[i].name, tests[i].fn);
}
#define ADD_TESTS(name, init, table) cu_add_tests(name, init, table, sizeof table / sizeof table[0])

static inline int cu_run(void (*register_suites)(void))
{
	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		return 2;
	}
	register_suites();
	if (CU_get_error() != CUE_SUCCESS) {
		fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
	int error = CU_get_error();
	CU_cleanup_registry();
	if (error != CUE_SUCCESS)
		return 2;
	return failed ? 1 : 0;
}

#endif
