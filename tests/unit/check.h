/*
 * check.h: the smallest test harness that does the job.  CHECK(cond)
 * records a failure with file:line and the expression; RUN(fn) runs one
 * test function and prints exactly "ok - fn" or "not ok - fn";
 * check_failed() is main's exit status.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int	check_cur_failed;
static int	check_any_failed;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		printf("# %s:%d: CHECK(%s) failed\n", __FILE__,		\
		    __LINE__, #cond);					\
		check_cur_failed = 1;					\
	}								\
} while (0)

#define RUN(fn) do {							\
	check_cur_failed = 0;						\
	fn();								\
	printf("%s - %s\n", check_cur_failed ? "not ok" : "ok", #fn);	\
	fflush(stdout);							\
	if (check_cur_failed)						\
		check_any_failed = 1;					\
} while (0)

static inline int
check_failed(void)
{
	return check_any_failed;
}

#endif
