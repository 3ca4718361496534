// SPDX-License-Identifier: GPL-2.0
/*
 * ustack_fp: C built -O2 -fno-omit-frame-pointer, dynamically linked
 * against Debian's glibc (which has no frame pointers).  Each thread goes
 * three levels down its own distinctive chain and blocks in glibc:
 *
 *   ustack_fp (main)  main -> fp_main_l1 -> fp_main_l2 -> pause
 *   fp_sleep          fp_sleep_entry -> fp_sleep_l1 -> fp_sleep_l2 -> fp_sleep_l3 -> nanosleep
 *   fp_pipe           fp_pipe_entry -> fp_pipe_l1 -> fp_pipe_l2 -> fp_pipe_l3 -> read (a pipe nobody writes)
 *   fp_cond           fp_cond_entry -> fp_cond_l1 -> fp_cond_l2 -> fp_cond_l3 -> pthread_cond_wait
 *   fp_mutex          fp_mutex_entry -> fp_mutex_l1 -> fp_mutex_l2 -> fp_mutex_l3 -> pthread_mutex_lock
 *                     (the mutex is held by main for ever)
 *   fp_epoll          fp_epoll_entry -> fp_epoll_l1 -> fp_epoll_l2 -> fp_epoll_l3 -> epoll_wait
 *
 * Once all are blocked it sets ustack_ready = 1 and prints "ready"; the
 * scenario then runs vmon-capture --watch PID:ustack_ready>0, which breaches
 * at once.  It never exits by itself: the scenario kills it.
 */
#include <sys/epoll.h>
#include "ustack_common.h"

int ustack_ready;

static int pipefd[2];
static int epfd;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

USTACK_FN int fp_sleep_l3(int d)
{
	struct timespec ts = { 1000000, 0 };
	int r = nanosleep(&ts, NULL);

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_sleep_l2(int d) { int r = fp_sleep_l3(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN int fp_sleep_l1(int d) { int r = fp_sleep_l2(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN void *fp_sleep_entry(void *arg)
{
	ustack_enter(arg);
	long r = fp_sleep_l1(0);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN int fp_pipe_l3(int d)
{
	char c;
	int r = (int)read(pipefd[0], &c, 1);

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_pipe_l2(int d) { int r = fp_pipe_l3(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN int fp_pipe_l1(int d) { int r = fp_pipe_l2(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN void *fp_pipe_entry(void *arg)
{
	ustack_enter(arg);
	long r = fp_pipe_l1(0);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN int fp_cond_l3(int d)
{
	pthread_mutex_lock(&cond_lock);
	int r = pthread_cond_wait(&never, &cond_lock);

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_cond_l2(int d) { int r = fp_cond_l3(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN int fp_cond_l1(int d) { int r = fp_cond_l2(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN void *fp_cond_entry(void *arg)
{
	ustack_enter(arg);
	long r = fp_cond_l1(0);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN int fp_mutex_l3(int d)
{
	int r = pthread_mutex_lock(&held);

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_mutex_l2(int d) { int r = fp_mutex_l3(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN int fp_mutex_l1(int d) { int r = fp_mutex_l2(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN void *fp_mutex_entry(void *arg)
{
	ustack_enter(arg);
	long r = fp_mutex_l1(0);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN int fp_epoll_l3(int d)
{
	struct epoll_event ev;
	int r = epoll_wait(epfd, &ev, 1, -1);

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_epoll_l2(int d) { int r = fp_epoll_l3(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN int fp_epoll_l1(int d) { int r = fp_epoll_l2(d + 1); USTACK_KEEP(); return r + 1; }
USTACK_FN void *fp_epoll_entry(void *arg)
{
	ustack_enter(arg);
	long r = fp_epoll_l1(0);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN int fp_main_l2(int d)
{
	int r = pause();

	USTACK_KEEP();
	return r + d;
}
USTACK_FN int fp_main_l1(int d) { int r = fp_main_l2(d + 1); USTACK_KEEP(); return r + 1; }

int main(void)
{
	static const struct {
		const char *name;
		long nr;
		void *(*fn)(void *);
	} spec[] = {
		{ "fp_sleep", SYS_clock_nanosleep, fp_sleep_entry },
		{ "fp_pipe", SYS_read, fp_pipe_entry },
		{ "fp_cond", SYS_futex, fp_cond_entry },
		{ "fp_mutex", SYS_futex, fp_mutex_entry },
		{ "fp_epoll", SYS_epoll_wait, fp_epoll_entry },
	};
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t th;

	if (pipe(pipefd))
		ustack_die("pipe");
	epfd = epoll_create1(0);
	if (epfd < 0)
		ustack_die("epoll_create1");
	ev.data.fd = pipefd[0];
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, pipefd[0], &ev))
		ustack_die("epoll_ctl");
	pthread_mutex_lock(&held);
	for (unsigned i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		if (pthread_create(&th, NULL, spec[i].fn, ustack_add(spec[i].name, spec[i].nr)))
			ustack_die("pthread_create");
	ustack_wait_all();
	__atomic_store_n(&ustack_ready, 1, __ATOMIC_SEQ_CST);
	ustack_announce();
	ustack_maybe_toggle();
	int r = fp_main_l1(0);

	USTACK_KEEP();
	return r;
}
