// SPDX-License-Identifier: GPL-2.0
/*
 * vmtest: watch lifecycle checks; each mode asserts and exits non-zero
 * with a reason on failure.
 *
 *   vmtest exit            watches end when the owner exits without cancel
 *   vmtest hold N SECS [INTERVAL_NS [THRESHOLD]]  N watches, "ready", sleep
 *   vmtest toggle MS       flip a watched variable every 2 ms for MS ms
 *   vmtest dumpbench K     K sleeping threads, then one breach (one dump)
 *   vmtest fork            COW: the child's writes never reach the parent's
 *                          watch; the child's own watch ends with the child
 *   vmtest exec            exec ends the watches (fd kept open across exec)
 *   vmtest munmap          after munmap the watch stays on the old page
 *   vmtest remote          watch a child's variable; ends when it exits
 *   vmtest isolate         two processes cannot see or cancel each other's
 *   vmtest kwatch SYM THRESHOLD SECS   kernel watch (root), print breaches
 *   vmtest unpriv          as an unprivileged user: what may and may not
 */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <pthread.h>
#include "vt_common.h"

#define MS 1000000UL

static int vars[64];

static long long hold_threshold = 1000000;

static void watch_n(int n, const char *prefix, unsigned long interval)
{
	char name[16];
	int ret;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		ret = start_watch(vt_arg(name, &vars[i % 64], 4, hold_threshold, interval));
		if (ret)
			VT_FAIL("start_watch %s: %s", name, vmon_strerror(ret));
	}
}

static int mode_exit(void)
{
	pid_t c = fork();
	int st;

	if (c == 0) {
		watch_n(5, "ex", MS);
		if (vt_watches(getpid(), "ex", NULL, NULL) != 5)
			_exit(3);
		_exit(0);	/* no cancel_watch() */
	}
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		VT_FAIL("child failed to register");
	if (vt_wait_count(c, NULL, 0, 20000))
		VT_FAIL("watches of exited process %d still listed", c);
	printf("ok exit\n");
	return 0;
}

static int mode_hold(int n, int secs, unsigned long interval)
{
	watch_n(n, "hold", interval);
	printf("ready %d\n", n);
	fflush(stdout);
	vt_sleep_ms(secs * 1000L);
	return 0;
}

static int mode_toggle(int ms)
{
	int ret = start_watch(vt_arg("toggle", &vars[0], 4, 50, MS));

	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	for (int t = 0; t < ms; t += 2) {
		vars[0] = vars[0] ? 0 : 100;
		vt_sleep_ms(2);
	}
	printf("toggled for %d ms\n", ms);
	return cancel_watch() ? 1 : 0;
}

static void *sleeper(void *arg)
{
	vt_sleep_ms(60000);
	return arg;
}

static long long stat_of(const char *key)
{
	FILE *f = fopen("/proc/variable_monitor/stats", "r");
	char k[64];
	long long v, r = -1;

	while (f && fscanf(f, "%63s %lld", k, &v) == 2)
		if (!strcmp(k, key))
			r = v;
	if (f)
		fclose(f);
	return r;
}

static int mode_dumpbench(int k)
{
	long long d0 = stat_of("dumps");
	pthread_t th;
	int ret;

	for (int i = 0; i < k; i++)
		if (pthread_create(&th, NULL, sleeper, NULL))
			VT_FAIL("pthread_create %d", i);
	ret = start_watch(vt_arg("dumpbench", &vars[0], 4, 50, MS));
	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	vt_sleep_ms(20);
	vars[0] = 100;
	for (int t = 0; t < 500 && stat_of("dumps") == d0; t++)
		vt_sleep_ms(10);
	if (stat_of("dumps") == d0)
		VT_FAIL("no dump");
	vt_sleep_ms(200);	/* let the work finish this event */
	printf("dumped with %d extra threads\n", k);
	exit(0);
}

static int mode_fork(void)
{
	long long b;
	pid_t c;
	int st, ret;

	vars[0] = 0;
	ret = start_watch(vt_arg("parent", &vars[0], 4, 10, MS));
	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	c = fork();
	if (c == 0) {
		vars[0] = 100;	/* COW: the child's copy */
		ret = start_watch(vt_arg("child", &vars[1], 4, 10, MS));
		if (ret)
			_exit(3);
		vars[1] = 100;
		if (vt_wait_breaches(getpid(), "child", 1, 20000) < 1)
			_exit(4);
		_exit(0);
	}
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		VT_FAIL("child failed (%d)", WEXITSTATUS(st));
	if (vt_wait_count(c, NULL, 0, 20000))
		VT_FAIL("child's watch outlived the child");
	vt_sleep_ms(50);
	if (vt_watches(getpid(), "parent", &b, NULL) != 1)
		VT_FAIL("parent's watch disappeared");
	if (b)
		VT_FAIL("child's write after fork reached the parent's watch");
	vars[0] = 100;
	if (vt_wait_breaches(getpid(), "parent", 1, 20000) < 1)
		VT_FAIL("parent's own write not seen after fork");
	cancel_watch();
	printf("ok fork\n");
	return 0;
}

static int mode_exec(char *self)
{
	int fd = open(VMON_DEVICE_PATH, O_RDWR);	/* no O_CLOEXEC */
	char fds[16];

	if (fd < 0)
		VT_FAIL("open: %s", strerror(errno));
	vmon_user_fd = fd;
	watch_n(3, "exec", MS);
	snprintf(fds, sizeof(fds), "%d", fd);
	(void)self;
	execl("/proc/self/exe", "vmtest", "execd", fds, (char *)NULL);
	VT_FAIL("exec: %s", strerror(errno));
}

static int mode_execd(int fd)
{
	if (fcntl(fd, F_GETFD) < 0)
		VT_FAIL("fd %d did not survive exec", fd);
	if (vt_wait_count(getpid(), NULL, 0, 20000))
		VT_FAIL("watches survived exec");
	printf("ok exec\n");
	return 0;
}

static int mode_munmap(void)
{
	long long b;
	int *p, *q, ret;

	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		VT_FAIL("mmap");
	p[10] = 0;
	ret = START_WATCH_INT("unmapped", &p[10], 10);
	if (ret)
		VT_FAIL("watch: %s", vmon_strerror(ret));
	munmap(p, 4096);
	q = mmap(p, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (q != p)
		VT_FAIL("remap at the same address failed");
	q[10] = 100;
	vt_sleep_ms(200);
	if (vt_watches(getpid(), "unmapped", &b, NULL) != 1)
		VT_FAIL("watch vanished at munmap (documented: it stays until cancel/exit)");
	if (b)
		VT_FAIL("watch followed the address into a new mapping");
	if (cancel_watch() || vt_watches(getpid(), NULL, NULL, NULL))
		VT_FAIL("cancel after munmap");
	printf("ok munmap\n");
	return 0;
}

static int mode_remote(void)
{
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	watch_arg wa;
	pid_t c;
	int ret;

	shared[0] = 0;
	c = fork();
	if (c == 0) {
		while (!__atomic_load_n(&shared[0], __ATOMIC_SEQ_CST))
			vt_sleep_ms(5);
		vars[5] = 77;	/* the child's own private page */
		vt_sleep_ms(60000);
		_exit(0);
	}
	vars[5] = 0;
	wa = vt_arg("remote", &vars[5], 4, 50, MS);
	wa.task_id = c;
	ret = start_watch(wa);
	if (ret)
		VT_FAIL("remote watch on %d: %s", c, vmon_strerror(ret));
	vars[5] = 99;	/* our copy: must not count */
	vt_sleep_ms(50);
	if (vt_wait_breaches(getpid(), "remote", 1, 100) >= 1)
		VT_FAIL("remote watch saw the watcher's own memory");
	__atomic_store_n(&shared[0], 1, __ATOMIC_SEQ_CST);
	if (vt_wait_breaches(getpid(), "remote", 1, 20000) < 1)
		VT_FAIL("remote watch did not see the child's write");
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	if (vt_wait_count(getpid(), "remote", 0, 20000))
		VT_FAIL("remote watch outlived the watched process");
	printf("ok remote\n");
	return 0;
}

static int mode_isolate(void)
{
	int to_child[2], to_parent[2], st;
	__u64 ids[3], child_id;
	pid_t c;

	if (pipe(to_child) || pipe(to_parent))
		VT_FAIL("pipe");
	c = fork();
	if (c == 0) {
		__u64 id;
		char x;

		for (int i = 0; i < 3; i++)
			if (start_watch_id(vt_arg("iso_b", &vars[10 + i], 4, 5, MS), &id))
				_exit(3);
		if (write(to_parent[1], &id, sizeof(id)) != sizeof(id))
			_exit(4);
		if (read(to_child[0], &x, 1) != 1)	/* parent checked */
			_exit(5);
		vars[10] = 100;	/* only B's watch may fire */
		vt_sleep_ms(100);
		_exit(cancel_watch() ? 6 : 0);
	}
	for (int i = 0; i < 3; i++)
		if (start_watch_id(vt_arg("iso_a", &vars[20 + i], 4, 5, MS), &ids[i]))
			VT_FAIL("A register");
	if (read(to_parent[0], &child_id, sizeof(child_id)) != sizeof(child_id))
		VT_FAIL("child did not register");
	if (cancel_watch_id(child_id) != -ENOENT)
		VT_FAIL("A could cancel B's watch");
	if (vt_watches(c, "iso_b", NULL, NULL) != 3 || vt_watches(getpid(), "iso_a", NULL, NULL) != 3)
		VT_FAIL("wrong watch counts before B cancels");
	if (write(to_child[1], "x", 1) != 1)
		VT_FAIL("pipe write");
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		VT_FAIL("B failed (%d)", WEXITSTATUS(st));
	{
		long long b;

		if (vt_watches(getpid(), "iso_a", &b, NULL) != 3)
			VT_FAIL("B's cancel_watch removed A's watches");
		if (b)
			VT_FAIL("B's variable breached A's watch");
	}
	if (cancel_watch_id(ids[1]) || vt_watches(getpid(), "iso_a", NULL, NULL) != 2)
		VT_FAIL("cancel by id");
	cancel_watch();
	printf("ok isolate\n");
	return 0;
}

static int mode_kwatch(const char *sym, long long thr, int secs)
{
	struct vmon_watch_req req;
	int fd = vmon_device_fd();
	long long b;

	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = VMON_WATCH_KERNEL | VMON_WATCH_UNSIGNED | VMON_WATCH_GREATER;
	req.length = 8;
	req.threshold = thr;
	req.interval_ns = 10 * MS;
	strcpy(req.name, "load1");
	snprintf(req.ksym, sizeof(req.ksym), "%s", sym);
	if (fd < 0 || ioctl(fd, VMON_IOC_WATCH, &req))
		VT_FAIL("kernel watch on %s: %s", sym, vmon_strerror(-errno));
	printf("ready kernel watch %s id=%llu\n", sym, (unsigned long long)req.id);
	fflush(stdout);
	for (int t = 0; t < secs * 10; t++) {
		vt_watches(getpid(), "load1", &b, NULL);
		if (b)
			break;
		vt_sleep_ms(100);
	}
	printf("breaches %lld\n", b);
	return b ? 0 : 1;
}

/* Run as a user without capabilities. */
static int mode_unpriv(void)
{
	struct vmon_watch_req req;
	char buf[256];
	int fd, ret;
	watch_arg wa;

	ret = START_WATCH_INT("unpriv_def", &vars[0], 10);
	if (ret)
		VT_FAIL("own watch with the default interval refused: %s", vmon_strerror(ret));
	ret = start_watch(vt_arg("unpriv_fast", &vars[1], 4, 10, 20000));
	if (ret != -EACCES)
		VT_FAIL("explicit 20us interval: got %d, want -EACCES", ret);
	ret = start_watch(vt_arg("unpriv_slow", &vars[2], 4, 10, 10 * MS));
	if (ret)
		VT_FAIL("explicit 10ms interval refused: %s", vmon_strerror(ret));
	wa = vt_arg("unpriv_init", &vars[3], 4, 10, 10 * MS);
	wa.task_id = 1;
	ret = start_watch(wa);
	if (ret != -EPERM)
		VT_FAIL("watch on pid 1: got %d, want -EPERM", ret);
	memset(&req, 0, sizeof(req));
	req.size = sizeof(req);
	req.flags = VMON_WATCH_KERNEL | VMON_WATCH_GREATER;
	req.length = 8;
	strcpy(req.ksym, "avenrun");
	fd = vmon_device_fd();
	if (ioctl(fd, VMON_IOC_WATCH, &req) == 0 || errno != EPERM)
		VT_FAIL("kernel watch: want EPERM, got %s", strerror(errno));
	if (read(fd, buf, sizeof(buf)) >= 0 || errno != EPERM)
		VT_FAIL("read() without CAP_PERFMON: want EPERM");
	if (open("/proc/variable_monitor/watches", O_RDONLY) >= 0)
		VT_FAIL("watches list readable by an unprivileged user");
	printf("ok unpriv pid=%d\n", getpid());
	fflush(stdout);
	vt_sleep_ms(1500);	/* the scenario inspects our intervals now */
	return cancel_watch() ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(m, "exit"))
		return mode_exit();
	if (!strcmp(m, "hold") && argc > 5)
		hold_threshold = atoll(argv[5]);
	if (!strcmp(m, "toggle") && argc > 2)
		return mode_toggle(atoi(argv[2]));
	if (!strcmp(m, "dumpbench") && argc > 2)
		return mode_dumpbench(atoi(argv[2]));
	if (!strcmp(m, "hold") && argc >= 4)
		return mode_hold(atoi(argv[2]), atoi(argv[3]),
				 argc > 4 ? strtoul(argv[4], NULL, 0) : MS);
	if (!strcmp(m, "fork"))
		return mode_fork();
	if (!strcmp(m, "exec"))
		return mode_exec(argv[0]);
	if (!strcmp(m, "execd") && argc > 2)
		return mode_execd(atoi(argv[2]));
	if (!strcmp(m, "munmap"))
		return mode_munmap();
	if (!strcmp(m, "remote"))
		return mode_remote();
	if (!strcmp(m, "isolate"))
		return mode_isolate();
	if (!strcmp(m, "kwatch") && argc > 4)
		return mode_kwatch(argv[2], atoll(argv[3]), atoi(argv[4]));
	if (!strcmp(m, "unpriv"))
		return mode_unpriv();
	fprintf(stderr, "usage: see the comment at the top of vmtest.c\n");
	return 2;
}
