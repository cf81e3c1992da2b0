/* test-heap.c: memory limit from a fake cgroup tree; NODE_OPTIONS. */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"
#include "check.h"

static char	root[64];

static void
put(const char *rel, const char *text)
{
	char	path[512], *slash;
	FILE	*f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (slash = strchr(path + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
fresh(void)
{
	char	cmd[128];

	if (root[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			return;
	}
	snprintf(root, sizeof(root), "/tmp/tend-heap-XXXXXX");
	if (mkdtemp(root) == NULL)
		root[0] = '\0';
	put("/proc/meminfo", "MemTotal:        8388608 kB\nMemFree: 1 kB\n");
}

static void
test_cgroup_v2(void)
{
	uint64_t	b = 0;
	char		src[64];

	fresh();
	put("/proc/self/cgroup", "0::/system.slice/tend.service\n");
	put("/sys/fs/cgroup/system.slice/tend.service/memory.max", "2147483648\n");
	CHECK(heap_memory_limit(root, &b, src, sizeof(src)) == 0);
	CHECK(b == 2147483648ULL);
	CHECK(strcmp(src, "cgroup memory.max") == 0);
	CHECK(heap_mib(b, 75, 2) == 768);
	CHECK(heap_mib(b, 75, 1) == 1536);
}

static void
test_unlimited_falls_back(void)
{
	uint64_t	b = 0;
	char		src[64];

	fresh();
	put("/proc/self/cgroup", "0::/x\n");
	put("/sys/fs/cgroup/x/memory.max", "max\n");
	CHECK(heap_memory_limit(root, &b, src, sizeof(src)) == 0);
	CHECK(b == 8ULL << 30 && strcmp(src, "MemTotal") == 0);
}

static void
test_cgroup_v1_and_cap(void)
{
	uint64_t	b = 0;
	char		src[64];

	fresh();
	put("/proc/self/cgroup", "4:memory:/box\n0::/\n");
	put("/sys/fs/cgroup/memory/box/memory.limit_in_bytes", "1073741824\n");
	CHECK(heap_memory_limit(root, &b, src, sizeof(src)) == 0);
	CHECK(b == 1ULL << 30);
	fresh();
	put("/proc/self/cgroup", "0::/big\n");
	put("/sys/fs/cgroup/big/memory.max", "68719476736\n");	/* 64G */
	CHECK(heap_memory_limit(root, &b, src, sizeof(src)) == 0);
	CHECK(b == 8ULL << 30);	/* capped by MemTotal */
}

static void
test_node_options(void)
{
	char	*s;

	CHECK(node_options_has_heap("--max-old-space-size=300"));
	CHECK(node_options_has_heap("--enable-source-maps --max_old_space_size=1"));
	CHECK(!node_options_has_heap("--enable-source-maps"));
	CHECK(!node_options_has_heap(NULL));
	CHECK(!node_options_has_heap("--max-old-space-sizes=3"));
	s = node_options_add_heap(NULL, 768);
	CHECK(s != NULL && strcmp(s, "--max-old-space-size=768") == 0);
	free(s);
	s = node_options_add_heap("", 768);
	CHECK(s != NULL && strcmp(s, "--max-old-space-size=768") == 0);
	free(s);
	s = node_options_add_heap("--enable-source-maps", 100);
	CHECK(s != NULL && strcmp(s, "--enable-source-maps "
	    "--max-old-space-size=100") == 0);
	free(s);
	CHECK(heap_mib(10 << 20, 50, 4) == 16);	/* never below 16 MiB */
}

int
main(void)
{
	char	cmd[128];

	RUN(test_cgroup_v2);
	RUN(test_unlimited_falls_back);
	RUN(test_cgroup_v1_and_cap);
	RUN(test_node_options);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (root[0] != '\0' && system(cmd) != 0)
		return 1;
	return check_failed();
}
