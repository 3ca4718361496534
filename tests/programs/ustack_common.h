/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the C and C++ user-stack programs: thread naming and the
 * readiness handshake.  A program announces "ready" only once every thread
 * it started is where the checks expect it (blocked in its syscall, seen in
 * /proc/self/task/TID/syscall, or spinning), so the dump never races the
 * threads' way into their state.  The watch itself is vmon-capture's
 * (--watch PID:ustack_ready>0): the program knows nothing of vmon.
 */
#ifndef USTACK_COMMON_H
#define USTACK_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* A real call frame at every level: no inlining, no clones (.constprop
 * names), and work after the call so no tail call removes the caller. */
#define USTACK_FN __attribute__((noinline, noclone))
#define USTACK_KEEP() __asm__ volatile("" ::: "memory")

#define USTACK_MAX 16

struct ustack_thread {
	const char *name;
	long want_syscall; /* -1: spinning in user code */
	volatile int tid;
	volatile int spinning;
};

static struct ustack_thread ustack_threads[USTACK_MAX];
static int ustack_nthreads;

static inline void ustack_die(const char *what)
{
	fprintf(stderr, "FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Called first in each thread: names it (its comm is what the checks
 * select on) and publishes its tid. */
static inline void ustack_enter(struct ustack_thread *t)
{
	prctl(PR_SET_NAME, t->name, 0, 0, 0);
	__atomic_store_n(&t->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
}

static inline struct ustack_thread *ustack_add(const char *name, long nr)
{
	struct ustack_thread *t = &ustack_threads[ustack_nthreads++];

	t->name = name;
	t->want_syscall = nr;
	return t;
}

/* First field of /proc/self/task/TID/syscall: the syscall it is blocked
 * in, or -2 when running / not blocked in a syscall. */
static inline long ustack_syscall_of(int tid)
{
	char path[64], buf[256];
	FILE *f;
	long nr = -2;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return -2;
	if (fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9')
		nr = strtol(buf, NULL, 10);
	fclose(f);
	return nr;
}

/* Waits (up to 120 s: TCG is slow) until every thread is in its state. */
static inline void ustack_wait_all(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (int i = 0; i < 6000; i++) {
		int ok = 1;

		for (int j = 0; j < ustack_nthreads; j++) {
			struct ustack_thread *t = &ustack_threads[j];
			int tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE);

			if (!tid)
				ok = 0;
			else if (t->want_syscall < 0)
				ok &= t->spinning;
			else
				ok &= ustack_syscall_of(tid) == t->want_syscall;
		}
		if (ok)
			return;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "FAIL: threads did not reach their states\n");
	exit(1);
}

/* "ready pid=P" then "thread NAME TID" per thread, for the scenario. */
static inline void ustack_announce(void)
{
	printf("ready pid=%d threads=%d\n", getpid(), ustack_nthreads + 1);
	for (int j = 0; j < ustack_nthreads; j++)
		printf("thread %s %d\n", ustack_threads[j].name, ustack_threads[j].tid);
	fflush(stdout);
}

/*
 * With USTACK_TOGGLE in the environment, one more thread ("toggler") flips
 * ustack_ready every 50 ms for ever, so a capture gets a breach every
 * 100 ms (scenario capture_ustack_size: bytes per task sample).  It sleeps
 * in nanosleep between flips, built like the rest of the program.
 */
extern int ustack_ready;

USTACK_FN static long ustack_toggle_sleep(long ns)
{
	struct timespec ts = { 0, ns };
	int r = nanosleep(&ts, NULL);

	USTACK_KEEP();
	return r;
}

USTACK_FN static void *ustack_toggler(void *arg)
{
	prctl(PR_SET_NAME, "toggler", 0, 0, 0);
	for (;;) {
		ustack_toggle_sleep(50 * 1000 * 1000);
		__atomic_store_n(&ustack_ready, !__atomic_load_n(&ustack_ready, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
	}
	return arg;
}

static inline void ustack_maybe_toggle(void)
{
	pthread_t th;

	if (getenv("USTACK_TOGGLE") && pthread_create(&th, NULL, ustack_toggler, NULL))
		ustack_die("pthread_create");
}

#endif
