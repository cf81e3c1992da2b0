/*
 * heap.c: sizing Node's heap to the machine.  The memory tend may give is
 * its cgroup's limit (v2 memory.max, else v1 memory.limit_in_bytes), never
 * more than MemTotal; --max-old-space-size gets a share of it.  A user's
 * own --max-old-space-size in NODE_OPTIONS always wins.
 *
 * Every path is read below a sysroot ("" on a real system) so that tests
 * can point it at a fake /proc and /sys.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

#define MIB		(1024ULL * 1024)
#define HEAP_MIN_MIB	16

static int
read_line(const char *path, char *buf, size_t len)
{
	FILE	*f;
	int	 r = -1;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, (int)len, f) != NULL) {
		buf[strcspn(buf, "\n")] = '\0';
		r = 0;
	}
	fclose(f);
	return r;
}

static int
meminfo_total(const char *sysroot, uint64_t *bytes)
{
	char			 path[4096], line[256];
	unsigned long long	 kb;
	FILE			*f;
	int			 r = -1;

	snprintf(path, sizeof(path), "%s/proc/meminfo", sysroot);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			*bytes = (uint64_t)kb * 1024;
			r = 0;
			break;
		}
	fclose(f);
	if (r != 0)
		errno = EINVAL;
	return r;
}

/* The cgroup limit, or 0 when there is none. */
static uint64_t
cgroup_limit(const char *sysroot, char *src, size_t srclen)
{
	char			 path[8192], line[4096], val[64], *p;
	unsigned long long	 v;
	FILE			*f;
	uint64_t		 limit = 0;

	snprintf(path, sizeof(path), "%s/proc/self/cgroup", sysroot);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (limit == 0 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(path, sizeof(path), "%s/sys/fs/cgroup%s/memory.max",
			    sysroot, line + 3);
			if (read_line(path, val, sizeof(val)) == 0 &&
			    sscanf(val, "%llu", &v) == 1 && v > 0) {
				limit = v;
				snprintf(src, srclen, "cgroup memory.max");
			}
		} else if ((p = strstr(line, ":memory:")) != NULL) {
			snprintf(path, sizeof(path),
			    "%s/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
			    sysroot, p + 8);
			/* v1 says "unlimited" with a huge page-rounded number. */
			if (read_line(path, val, sizeof(val)) == 0 &&
			    sscanf(val, "%llu", &v) == 1 && v > 0 &&
			    v < (1ULL << 62)) {
				limit = v;
				snprintf(src, srclen, "cgroup memory.limit_in_bytes");
			}
		}
	}
	fclose(f);
	return limit;
}

int
heap_memory_limit(const char *sysroot, uint64_t *bytes, char *src,
    size_t srclen)
{
	uint64_t	total, limit;

	if (meminfo_total(sysroot, &total) != 0)
		return -1;
	limit = cgroup_limit(sysroot, src, srclen);
	if (limit == 0 || limit >= total) {
		snprintf(src, srclen, "MemTotal");
		*bytes = total;
	} else
		*bytes = limit;
	return 0;
}

uint64_t
heap_mib(uint64_t mem, unsigned pct, unsigned instances)
{
	uint64_t	mib;

	if (instances == 0)
		instances = 1;
	/* mem * pct / 100 without overflow or early truncation. */
	mib = (mem / 100 * pct + mem % 100 * pct / 100) / instances / MIB;
	return mib < HEAP_MIN_MIB ? HEAP_MIN_MIB : mib;
}

int
node_options_has_heap(const char *s)
{
	static const char *const opts[] = {
		"--max-old-space-size", "--max_old_space_size"
	};
	const char	*p;
	size_t		 i, n;

	if (s == NULL)
		return 0;
	for (i = 0; i < 2; i++) {
		n = strlen(opts[i]);
		for (p = s; (p = strstr(p, opts[i])) != NULL; p += n)
			if ((p == s || p[-1] == ' ' || p[-1] == '\t') &&
			    (p[n] == '=' || p[n] == ' '))
				return 1;
	}
	return 0;
}

char *
node_options_add_heap(const char *old, uint64_t mib)
{
	char	*s;

	if (asprintf(&s, "%s%s--max-old-space-size=%llu", old ? old : "",
	    old && *old ? " " : "", (unsigned long long)mib) < 0)
		return NULL;
	return s;
}
