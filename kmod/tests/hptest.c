// SPDX-License-Identifier: GPL-2.0
/*
 * hptest: watch variables that live on huge pages, in the tail of the huge
 * page (not its first 4 KiB page), and check each one breaches.
 *
 *   hptest thp|hugetlb
 * thp needs transparent_hugepage enabled (always or madvise); hugetlb needs
 * free huge pages (vm.nr_hugepages).  Prints "SKIP ..." and exits 77 when
 * the kernel cannot give the huge page.
 */
#include <sys/mman.h>
#include "vt_common.h"

#define HP (2UL << 20)

/* Does /proc/self/smaps show addr inside a mapping backed by huge pages? */
static int huge_backed(void *addr, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	unsigned long lo, hi, a = (unsigned long)addr;
	int in = 0, found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && !strncmp(line, field, strlen(field))) {
			long kb = atol(line + strlen(field));

			found = kb >= 2048;
		}
	}
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	int thp = argc > 1 && !strcmp(argv[1], "thp");
	char *base, *p;
	long *var;
	long long br;
	int ret;

	if (argc < 2 || (!thp && strcmp(argv[1], "hugetlb")))
		VT_FAIL("usage: hptest thp|hugetlb");
	if (thp) {
		base = mmap(NULL, 2 * HP, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED)
			VT_FAIL("mmap: %s", strerror(errno));
		p = (char *)(((unsigned long)base + HP - 1) & ~(HP - 1));
		if (madvise(p, HP, MADV_HUGEPAGE))
			VT_FAIL("madvise(MADV_HUGEPAGE): %s", strerror(errno));
		memset(p, 1, HP);
		if (!huge_backed(p, "AnonHugePages:")) {
			printf("SKIP thp: the region did not get a transparent huge page\n");
			return 77;
		}
	} else {
		p = mmap(NULL, HP, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (p == MAP_FAILED) {
			printf("SKIP hugetlb: mmap(MAP_HUGETLB): %s (set vm.nr_hugepages)\n",
			       strerror(errno));
			return 77;
		}
		memset(p, 1, HP);
		if (!huge_backed(p, "Private_Hugetlb:"))
			VT_FAIL("MAP_HUGETLB region not reported as hugetlb in smaps");
	}
	/* deep inside the huge page: the pin must return the right subpage */
	var = (long *)(p + HP / 2 + 4096 * 7 + 24);
	*var = 0;
	ret = START_WATCH_LONG(thp ? "hp_thp" : "hp_hugetlb", var, 1000);
	if (ret)
		VT_FAIL("START_WATCH_LONG: %s", vmon_strerror(ret));
	vt_sleep_ms(50);
	vt_watches(getpid(), "hp_", &br, NULL);
	if (br)
		VT_FAIL("breach before the variable changed");
	*var = 5000;
	br = vt_wait_breaches(getpid(), "hp_", 1, 20000);
	if (br < 1)
		VT_FAIL("no breach seen for the variable on the %s page", argv[1]);
	if (thp && !huge_backed(p, "AnonHugePages:"))
		VT_FAIL("THP was split while watched");
	cancel_watch();
	printf("ok %s breaches=%lld\n", argv[1], br);
	return 0;
}
