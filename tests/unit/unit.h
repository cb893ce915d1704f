/*
 * A tiny unit-test framework.
 *
 *   UNIT_TEST(name) { ... CHECK(cond); CHECK_EQ(a, b); ... }
 *   int main(int argc, char **argv) { return unit_main(argc, argv); }
 *
 * Tests register themselves (constructor functions) and run in the order
 * they appear in the file.  A CHECK that fails reports file:line, the
 * expression and, for the comparing forms, the expected and actual values;
 * the test goes on.  A REQUIRE that fails ends the current test at once
 * (longjmp back to the runner), for checks the rest of the test depends on.
 * Every test runs; the summary line is "N passed, N failed" and the exit
 * status is 1 if any test failed.  Arguments name tests to run (substring
 * match); none runs them all.  UNIT_VERBOSE=1 prints each passing check.
 */
#ifndef NVMPFS_UNIT_H
#define NVMPFS_UNIT_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
	const char *file;
	int line;
};

#define UNIT_MAX_TESTS 256

struct unit_state {
	struct unit_test tests[UNIT_MAX_TESTS];
	int ntests;
	const char *current;
	int checks;           /* checks run in the current test */
	int failures;         /* failed checks in the current test */
	jmp_buf bail;
	bool verbose;
};

/* One instance per program (the header is included by one test file). */
static struct unit_state unit_g;

static inline void unit_register(const char *name, void (*fn)(void),
				 const char *file, int line)
{
	if (unit_g.ntests == UNIT_MAX_TESTS) {
		fprintf(stderr, "unit: too many tests (max %d)\n", UNIT_MAX_TESTS);
		exit(2);
	}
	unit_g.tests[unit_g.ntests++] =
		(struct unit_test){ name, fn, file, line };
}

#define UNIT_TEST(name)                                                     \
	static void unit_test_##name(void);                                 \
	__attribute__((constructor)) static void unit_reg_##name(void)      \
	{                                                                   \
		unit_register(#name, unit_test_##name, __FILE__, __LINE__); \
	}                                                                   \
	static void unit_test_##name(void)

static inline void unit_fail_head(const char *file, int line)
{
	fprintf(stderr, "  FAIL %s:%d [%s]: ", file, line,
		unit_g.current ? unit_g.current : "?");
}

static inline bool unit_note(bool ok, const char *file, int line,
			     const char *expr)
{
	unit_g.checks++;
	if (!ok)
		unit_g.failures++;
	else if (unit_g.verbose)
		fprintf(stderr, "  ok   %s:%d: %s\n", file, line, expr);
	return ok;
}

/* Ends the current test (after a failed REQUIRE). */
static inline void unit_bail(void)
{
	longjmp(unit_g.bail, 1);
}

/* ---- the checks ---- */

#define UNIT_CHECK_(cond, fatal)                                            \
	do {                                                                \
		if (!unit_note(!!(cond), __FILE__, __LINE__, #cond)) {      \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "%s is false\n", #cond);            \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

/* Signed comparison (errno results, sizes, offsets). */
#define UNIT_CMP_(exp, act, op, fatal)                                      \
	do {                                                                \
		long long unit_e_ = (long long)(exp);                       \
		long long unit_a_ = (long long)(act);                       \
		if (!unit_note(unit_e_ op unit_a_, __FILE__, __LINE__,      \
			       #exp " " #op " " #act)) {                    \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "expected %s " #op " %s: "          \
				"expected %lld (0x%llx), actual %lld (0x%llx)\n", \
				#exp, #act, unit_e_, (unsigned long long)unit_e_, \
				unit_a_, (unsigned long long)unit_a_);      \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

/* Unsigned comparison (block counts, inode numbers). */
#define UNIT_UCMP_(exp, act, op, fatal)                                     \
	do {                                                                \
		unsigned long long unit_e_ = (unsigned long long)(exp);     \
		unsigned long long unit_a_ = (unsigned long long)(act);     \
		if (!unit_note(unit_e_ op unit_a_, __FILE__, __LINE__,      \
			       #exp " " #op " " #act)) {                    \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "expected %s " #op " %s: "          \
				"expected %llu, actual %llu\n", #exp, #act, \
				unit_e_, unit_a_);                          \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

#define UNIT_STR_(exp, act, fatal)                                          \
	do {                                                                \
		const char *unit_e_ = (exp), *unit_a_ = (act);              \
		bool unit_ok_ = unit_e_ && unit_a_ && strcmp(unit_e_, unit_a_) == 0; \
		if (!unit_note(unit_ok_, __FILE__, __LINE__, #exp " == " #act)) { \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "strings differ: expected \"%s\", " \
				"actual \"%s\"\n", unit_e_ ? unit_e_ : "(null)", \
				unit_a_ ? unit_a_ : "(null)");              \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

#define UNIT_CONTAINS_(hay, needle, fatal)                                  \
	do {                                                                \
		const char *unit_h_ = (hay), *unit_n_ = (needle);           \
		bool unit_ok_ = unit_h_ && strstr(unit_h_, unit_n_);        \
		if (!unit_note(unit_ok_, __FILE__, __LINE__,                \
			       #hay " contains " #needle)) {                \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "expected \"%s\" to contain \"%s\"\n", \
				unit_h_ ? unit_h_ : "(null)", unit_n_);     \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

static inline size_t unit_first_diff(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return i;
	return n;
}

#define UNIT_MEM_(exp, act, len, fatal)                                     \
	do {                                                                \
		const unsigned char *unit_e_ = (const void *)(exp);         \
		const unsigned char *unit_a_ = (const void *)(act);         \
		size_t unit_n_ = (len);                                     \
		size_t unit_d_ = unit_first_diff(unit_e_, unit_a_, unit_n_); \
		if (!unit_note(unit_d_ == unit_n_, __FILE__, __LINE__,      \
			       #exp " == " #act)) {                         \
			unit_fail_head(__FILE__, __LINE__);                 \
			fprintf(stderr, "%s and %s (%zu bytes) differ first " \
				"at byte %zu: expected 0x%02x, actual 0x%02x\n", \
				#exp, #act, unit_n_, unit_d_, unit_e_[unit_d_], \
				unit_a_[unit_d_]);                          \
			if (fatal)                                          \
				unit_bail();                                \
		}                                                           \
	} while (0)

#define CHECK(c)              UNIT_CHECK_(c, false)
#define CHECK_EQ(e, a)        UNIT_CMP_(e, a, ==, false)
#define CHECK_NE(e, a)        UNIT_CMP_(e, a, !=, false)
#define CHECK_LT(e, a)        UNIT_CMP_(e, a, <, false)
#define CHECK_LE(e, a)        UNIT_CMP_(e, a, <=, false)
#define CHECK_GT(e, a)        UNIT_CMP_(e, a, >, false)
#define CHECK_GE(e, a)        UNIT_CMP_(e, a, >=, false)
#define CHECK_UEQ(e, a)       UNIT_UCMP_(e, a, ==, false)
#define CHECK_ULE(e, a)       UNIT_UCMP_(e, a, <=, false)
#define CHECK_UGE(e, a)       UNIT_UCMP_(e, a, >=, false)
#define CHECK_STR(e, a)       UNIT_STR_(e, a, false)
#define CHECK_CONTAINS(h, n)  UNIT_CONTAINS_(h, n, false)
#define CHECK_MEM(e, a, n)    UNIT_MEM_(e, a, n, false)

#define REQUIRE(c)            UNIT_CHECK_(c, true)
#define REQUIRE_EQ(e, a)      UNIT_CMP_(e, a, ==, true)
#define REQUIRE_GE(e, a)      UNIT_CMP_(e, a, >=, true)
#define REQUIRE_GT(e, a)      UNIT_CMP_(e, a, >, true)
#define REQUIRE_CONTAINS(h, n) UNIT_CONTAINS_(h, n, true)

/* Fails the test with a message and ends it. */
#define FAIL(...)                                                           \
	do {                                                                \
		unit_note(false, __FILE__, __LINE__, "FAIL");               \
		unit_fail_head(__FILE__, __LINE__);                         \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		unit_bail();                                                \
	} while (0)

/*
 * Cleanup hook run after each test, whether it passed, failed or bailed
 * (the test file sets it, e.g. to remove pool files).
 */
static void (*unit_after_each)(void);

static inline double unit_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline bool unit_selected(int argc, char **argv, const char *name)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

static int unit_by_line(const void *a, const void *b)
{
	const struct unit_test *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	return c ? c : x->line - y->line;
}

static inline int unit_main(int argc, char **argv)
{
	qsort(unit_g.tests, (size_t)unit_g.ntests, sizeof(unit_g.tests[0]),
	      unit_by_line);
	const char *v = getenv("UNIT_VERBOSE");
	unit_g.verbose = v && *v && strcmp(v, "0") != 0;
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < unit_g.ntests; i++)
			printf("%s\n", unit_g.tests[i].name);
		return 0;
	}
	int passed = 0, failed = 0;
	double start = unit_now();
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < unit_g.ntests; i++) {
		struct unit_test *t = &unit_g.tests[i];
		if (!unit_selected(argc, argv, t->name))
			continue;
		unit_g.current = t->name;
		unit_g.checks = 0;
		unit_g.failures = 0;
		double t0 = unit_now();
		volatile bool bailed = false;
		if (setjmp(unit_g.bail) == 0)
			t->fn();
		else
			bailed = true;
		if (unit_after_each)
			unit_after_each();
		double dt = unit_now() - t0;
		if (unit_g.failures == 0) {
			passed++;
			printf("PASS %-36s %4d checks  %6.2f s\n", t->name,
			       unit_g.checks, dt);
		} else {
			failed++;
			printf("FAIL %-36s %d of %d checks failed%s  %6.2f s\n",
			       t->name, unit_g.failures, unit_g.checks,
			       bailed ? " (stopped)" : "", dt);
		}
		fflush(stderr);
	}
	unit_g.current = NULL;
	printf("total time %.1f s\n", unit_now() - start);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif
