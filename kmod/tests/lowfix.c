// SPDX-License-Identifier: GPL-2.0
/*
 * lowfix: programs for the scenarios of issue 11's small findings.
 *
 *   lowfix hello TRIALS THREADS  THREADS threads make the first read() of a
 *	fresh fd at once, TRIALS times: exactly one intact HELLO per fd
 *	(CAP_PERFMON or root)
 *   lowfix breachtime THREADS  THREADS sleeping threads; watch a breaches
 *	(its dump describes them all), 5 ms later watch b breaches; prints
 *	"b_time=NS" (CLOCK_BOOTTIME just before b's write) (root)
 *   lowfix longpath  maps a copy of itself, executable, from a directory
 *	whose path is longer than PATH_MAX, then breaches (root)
 *   lowfix remote N FILE  N watches on a forked child's memory (a remote
 *	watch each), prints "ready", holds them until FILE exists
 *   lowfix exits N  forks N children that exit at once; prints the time
 *   lowfix shared FILE STOP  watch an int in a MAP_SHARED, writable mapping of
 *	FILE, write 100 to it, hold the watch until STOP exists
 *   lowfix ioctlsize  VMON_IOC_WATCH/VERSION with the command number of a
 *	larger struct (a newer caller): accepted, or E2BIG for a non-zero tail
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "vt_common.h"

#define MS 1000000UL

static unsigned long long boot_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ------------------------------------------------------------- hello */

static pthread_barrier_t bar;
static int hfd;

struct hres {
	ssize_t n;
	unsigned char buf[4096];
};

static void *hello_reader(void *arg)
{
	struct hres *r = arg;

	pthread_barrier_wait(&bar);
	r->n = read(hfd, r->buf, sizeof(r->buf));
	return NULL;
}

static int mode_hello(int trials, int threads)
{
	struct hres *res = calloc(threads, sizeof(*res));
	pthread_t *tid = calloc(threads, sizeof(*tid));
	int dup = 0, garbled = 0, missing = 0;

	if (!res || !tid || threads < 2)
		VT_FAIL("hello: bad arguments");
	for (int t = 0; t < trials; t++) {
		int hellos = 0;

		hfd = open(VMON_DEVICE_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (hfd < 0)
			VT_FAIL("open: %s", strerror(errno));
		pthread_barrier_init(&bar, NULL, threads);
		for (int i = 0; i < threads; i++)
			pthread_create(&tid[i], NULL, hello_reader, &res[i]);
		for (int i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
		pthread_barrier_destroy(&bar);
		for (int i = 0; i < threads; i++) {
			struct vmon_rec_hello h;

			if (res[i].n < (ssize_t)sizeof(struct vmon_rec_hdr))
				continue;
			memcpy(&h, res[i].buf, sizeof(h) < (size_t)res[i].n ?
			       sizeof(h) : (size_t)res[i].n);
			if (h.hdr.type != VMON_REC_HELLO)
				continue;
			hellos++;
			if (res[i].n < (ssize_t)sizeof(h) ||
			    h.hdr.magic != VMON_RECORD_MAGIC ||
			    h.hdr.len != sizeof(h) ||
			    h.abi_version != VMON_ABI_VERSION ||
			    !memchr(h.release, 0, sizeof(h.release)) ||
			    !h.release[0])
				garbled++;
		}
		if (hellos > 1)
			dup++;
		if (!hellos)
			missing++;
		close(hfd);
	}
	printf("hello trials=%d threads=%d duplicated=%d garbled=%d missing=%d\n",
	       trials, threads, dup, garbled, missing);
	return dup || garbled || missing;
}

/* -------------------------------------------------------- breachtime */

static volatile int va, vb;

static void *sleeper(void *arg)
{
	vt_sleep_ms(30000);
	return arg;
}

static int mode_breachtime(int threads)
{
	pthread_attr_t at;
	unsigned long long t;
	int ret;

	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 << 10);
	for (int i = 0; i < threads; i++) {
		pthread_t tid;

		if (pthread_create(&tid, &at, sleeper, NULL))
			VT_FAIL("pthread_create %d", i);
	}
	ret = start_watch(vt_arg("bt_a", (void *)&va, 4, 50, MS));
	if (!ret)
		ret = start_watch(vt_arg("bt_b", (void *)&vb, 4, 50, MS));
	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	vt_sleep_ms(100);
	va = 100;		/* a dump of every thread begins */
	vt_sleep_ms(5);
	t = boot_ns();
	vb = 100;		/* its dump waits behind a's */
	printf("b_time=%llu\n", t);
	fflush(stdout);
	vt_sleep_ms(5000);
	return cancel_watch() ? 1 : 0;
}

/* ---------------------------------------------------------- longpath */

static int mode_longpath(void)
{
	char name[201], buf[65536];
	int in, out, depth = 0;
	size_t len = strlen("/tmp");
	static int v;
	ssize_t n;
	void *m;
	int ret;

	memset(name, 'd', 200);
	name[200] = 0;
	if (chdir("/tmp"))
		VT_FAIL("chdir /tmp");
	while (len <= 4096 + 200) {
		if (mkdir(name, 0755) && errno != EEXIST)
			VT_FAIL("mkdir at depth %d: %s", depth, strerror(errno));
		if (chdir(name))
			VT_FAIL("chdir at depth %d: %s", depth, strerror(errno));
		len += 201;
		depth++;
	}
	in = open("/proc/self/exe", O_RDONLY);
	out = open("lp.bin", O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		VT_FAIL("copy self: %s", strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			VT_FAIL("write lp.bin");
	close(in);
	close(out);
	in = open("lp.bin", O_RDONLY);
	m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, in, 0);
	if (m == MAP_FAILED)
		VT_FAIL("mmap lp.bin executable: %s", strerror(errno));
	printf("mapped lp.bin at %p, path %zu bytes, depth %d\n", m, len + 7, depth);
	ret = start_watch(vt_arg("longpath", &v, 4, 50, MS));
	if (ret)
		VT_FAIL("start_watch: %s", vmon_strerror(ret));
	vt_sleep_ms(50);
	v = 100;
	vt_sleep_ms(2000);
	return cancel_watch() ? 1 : 0;
}

/* ------------------------------------------------------- remote, exits */

static int rvar[1024];

static int mode_remote(int n, const char *stop)
{
	pid_t child = fork();
	int ret;

	if (child < 0)
		VT_FAIL("fork");
	if (!child) {
		rvar[0] = 1;	/* its own copy of the page */
		pause();
		_exit(0);
	}
	vt_sleep_ms(100);
	for (int i = 0; i < n; i++) {
		watch_arg wa = vt_arg("rhash", &rvar[i % 1024], 4, 1000000, 100 * MS);

		wa.task_id = child;
		ret = start_watch(wa);
		if (ret) {
			kill(child, SIGKILL);
			VT_FAIL("remote watch %d on pid %d: %s", i, child,
				vmon_strerror(ret));
		}
	}
	printf("ready %d remote watches on pid %d\n", n, child);
	fflush(stdout);
	while (access(stop, F_OK))
		vt_sleep_ms(50);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return cancel_watch() ? 1 : 0;
}

static int mode_exits(int n)
{
	unsigned long long t0 = boot_ns();

	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p < 0)
			VT_FAIL("fork");
		if (!p)
			_exit(0);
		waitpid(p, NULL, 0);
	}
	printf("exits %d in %llu us\n", n, (boot_ns() - t0) / 1000);
	return 0;
}

/* ------------------------------------------------------------ shared */

static int mode_shared(const char *file, const char *stop)
{
	int fd = open(file, O_RDWR);
	volatile int *p;
	int ret;

	if (fd < 0)
		VT_FAIL("open %s: %s", file, strerror(errno));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		VT_FAIL("mmap shared: %s", strerror(errno));
	p[0] = 0;
	ret = start_watch(vt_arg("shared", (void *)p, 4, 50, MS));
	if (ret) {
		printf("refused: %s\n", vmon_strerror(ret));
		return 1;
	}
	vt_sleep_ms(50);
	p[0] = 100;
	printf("ready\n");
	fflush(stdout);
	while (access(stop, F_OK))
		vt_sleep_ms(50);
	return cancel_watch() ? 1 : 0;
}

/* --------------------------------------------------------- ioctlsize */

struct watch_req_next {			/* a newer caller's larger struct */
	struct vmon_watch_req r;
	__u64 newer_field;
};

struct version_next {
	struct vmon_version v;
	__u64 newer_field;
};

#define IOC_WATCH_NEXT	_IOWR(VMON_IOC_MAGIC, 1, struct watch_req_next)
#define IOC_VERSION_NEXT _IOWR(VMON_IOC_MAGIC, 0, struct version_next)

static int fails;

static void expect(const char *what, long ret, int want)
{
	int got = ret < 0 ? errno : 0;

	printf("%s %-52s errno %d (%s), want %d\n", got == want ? "ok  " : "FAIL",
	       what, got, strerror(got), want);
	fails += got != want;
}

static int mode_ioctlsize(void)
{
	struct watch_req_next x;
	struct version_next v;
	static int var;
	int fd = open(VMON_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		VT_FAIL("open: %s", strerror(errno));
	memset(&x, 0, sizeof(x));
	x.r.size = sizeof(x);
	x.r.flags = VMON_WATCH_GREATER;
	x.r.length = 4;
	x.r.addr = (unsigned long)&var;
	x.r.threshold = 1000;
	x.r.interval_ns = 1000000;
	strcpy(x.r.name, "ioc_next");
	expect("WATCH, newer caller's command, zero tail", ioctl(fd, IOC_WATCH_NEXT, &x), 0);
	if (!fails && !x.r.id) {
		printf("FAIL no id returned\n");
		fails++;
	}
	x.newer_field = 1;
	expect("WATCH, newer caller's command, non-zero tail", ioctl(fd, IOC_WATCH_NEXT, &x), E2BIG);
	memset(&v, 0, sizeof(v));
	v.v.size = sizeof(v);
	expect("VERSION, newer caller's command", ioctl(fd, IOC_VERSION_NEXT, &v), 0);
	if (v.v.abi_version != VMON_ABI_VERSION) {
		printf("FAIL VERSION abi %u\n", v.v.abi_version);
		fails++;
	}
	expect("WATCH number without direction bits", ioctl(fd, _IO(VMON_IOC_MAGIC, 1), &x), ENOTTY);
	expect("WATCH number, write-only direction", ioctl(fd, _IOW(VMON_IOC_MAGIC, 1, struct watch_req_next), &x), ENOTTY);
	expect("CANCEL with a size", ioctl(fd, _IOW(VMON_IOC_MAGIC, 2, int), 0), ENOTTY);
	x.r.size = sizeof(x.r);
	expect("old WATCH command (control)", ioctl(fd, VMON_IOC_WATCH, &x.r), 0);
	expect("cancel all", ioctl(fd, VMON_IOC_CANCEL, 0), 0);
	close(fd);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && !strcmp(argv[1], "hello"))
		return mode_hello(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "breachtime"))
		return mode_breachtime(atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "longpath"))
		return mode_longpath();
	if (argc >= 4 && !strcmp(argv[1], "remote"))
		return mode_remote(atoi(argv[2]), argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "exits"))
		return mode_exits(atoi(argv[2]));
	if (argc >= 4 && !strcmp(argv[1], "shared"))
		return mode_shared(argv[2], argv[3]);
	if (argc >= 2 && !strcmp(argv[1], "ioctlsize"))
		return mode_ioctlsize();
	fprintf(stderr, "usage: see the comment at the top of lowfix.c\n");
	return 2;
}
