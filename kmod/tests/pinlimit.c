// SPDX-License-Identifier: GPL-2.0
/*
 * pinlimit: the RLIMIT_MEMLOCK charge of watches (run as an unprivileged
 * user, under the limit the scenario sets with ulimit -l).
 *
 *   pinlimit STRIDE MAX
 *
 * 1. 64 watches on one page: one charge, all must succeed.
 * 2. One watch per STRIDE bytes of a fresh anonymous mapping (2 MiB
 *    aligned, so with THP each touch makes a 2 MiB folio) until a watch
 *    fails or MAX succeeded; prints "filled N err=E" and "charged_kb=K"
 *    (the module's pinned_pages, all users).
 * 3. A forked child (its own device file) tries one more watch on a fresh
 *    page; prints "child err=E": the limit is per user, so fork does not
 *    reset it.
 * 4. The parent cancels one watch; the child's retry must succeed:
 *    prints "after-cancel err=E".
 */
#include <sys/mman.h>
#include <sys/wait.h>
#include "vt_common.h"

static long same[64];

static int watch(const char *name, void *p, __u64 *id)
{
	watch_arg wa;

	memset(&wa, 0, sizeof(wa));
	vmon_copy_name(wa.name, name, sizeof(wa.name));
	wa.ptr = p;
	wa.length_byte = 8;
	wa.threshold = 1L << 40;
	wa.greater_flag = 1;
	wa.time_ns = 10 * 1000 * 1000;
	return start_watch_id(wa, id);
}

/* pinned_pages of /proc/variable_monitor/stats, in KiB (-1: not shown) */
static long pinned_kb(void)
{
	FILE *f = fopen("/proc/variable_monitor/stats", "r");
	char line[128];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "pinned_pages %ld", &v) == 1)
			v *= getpagesize() / 1024;
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long stride, max, n, i;
	int err = 0, pfd[2], cfd[2], st;
	__u64 first_id = 0;
	char *base, c;
	pid_t pid;

	if (argc != 3)
		VT_FAIL("usage: pinlimit STRIDE MAX");
	stride = strtoul(argv[1], NULL, 0);
	max = strtoul(argv[2], NULL, 0);
	for (i = 0; i < 64; i++) {
		same[i] = 0;
		err = watch("same", &same[i], NULL);
		if (err)
			VT_FAIL("watch %lu on one page: %s", i, vmon_strerror(err));
	}
	printf("same-page 64 ok\n");

	/* 2 MiB aligned, so THP (where enabled) backs each touched stride */
	base = mmap(NULL, (max + 2) * stride + (2UL << 20), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		VT_FAIL("mmap: %s", strerror(errno));
	base = (char *)(((unsigned long)base + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	for (n = 0; n < max; n++) {
		base[n * stride] = 1;
		err = watch("fill", base + n * stride, n ? NULL : &first_id);
		if (err)
			break;
	}
	printf("filled %lu err=%d %s\n", n, -err, err ? vmon_strerror(err) : "");
	printf("charged_kb=%ld\n", pinned_kb());
	fflush(stdout);

	if (pipe(pfd) || pipe(cfd))
		VT_FAIL("pipe");
	pid = fork();
	if (pid == 0) {
		char *p = base + (n + 1) * stride;

		close(vmon_user_fd);	/* a device file of its own */
		vmon_user_fd = -1;
		p[0] = 1;
		err = watch("child", p, NULL);
		printf("child err=%d %s\n", -err, err ? vmon_strerror(err) : "");
		fflush(stdout);
		if (write(cfd[1], "x", 1) != 1 || read(pfd[0], &c, 1) != 1)
			_exit(2);
		if (err)
			err = watch("child", p, NULL);
		printf("after-cancel err=%d %s\n", -err, err ? vmon_strerror(err) : "");
		fflush(stdout);
		_exit(err ? 1 : 0);
	}
	if (read(cfd[0], &c, 1) != 1)
		VT_FAIL("child");
	if (first_id && cancel_watch_id(first_id))
		VT_FAIL("cancel");
	if (write(pfd[1], "x", 1) != 1)
		VT_FAIL("pipe write");
	waitpid(pid, &st, 0);
	return 0;
}
