// SPDX-License-Identifier: GPL-2.0
/*
 * mmstall: a process whose mmap_lock is stuck, then breached (run as any
 * user; the scenario freezes the filesystem as root).
 *
 *   mmstall FILE GO CLOSE
 *
 * Maps FILE (on a filesystem that supports FIFREEZE) shared and read-faults
 * its first page, registers a watch on its own variable, prints
 * "ready pid=N" and waits until the path GO exists (the scenario has then
 * frozen the filesystem).  Then:
 *  - thread "stall-fault" writes the page: page_mkwrite waits in
 *    sb_start_pagefault() until the thaw, holding the mmap_lock for read
 *    (6.1) or the VMA's lock (6.4+, per-VMA locks);
 *  - thread "stall-mprot" mprotect()s the same page (adding PROT_EXEC, so
 *    the write still succeeds after the thaw): it queues for the
 *    mmap_lock as a writer (6.1), or takes it for write and waits for the
 *    VMA lock (6.4+).  Either way every mmap_read_lock() on this mm now
 *    waits until the thaw;
 *  - the main thread breaches its watch and prints "breached tids=A,B",
 *    then waits for the path CLOSE and closes the device (so that the
 *    module can be removed while the two threads are still stuck).
 * After the thaw both threads finish; exits 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include "vt_common.h"

static volatile long trigger;
static volatile char *page;
static volatile pid_t tid_fault, tid_mprot;
/*
 * Both threads start stalling only once both exist: pthread_create() maps
 * the second thread's stack under the mmap_lock, which a stalled first
 * thread would keep the main thread waiting for until the thaw.
 */
static volatile int started;

static void wait_started(void)
{
	while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
		vt_sleep_ms(1);
}

static void *stall_fault(void *arg)
{
	prctl(PR_SET_NAME, "stall-fault");
	tid_fault = syscall(SYS_gettid);
	wait_started();
	page[0] = 1;		/* waits for the thaw */
	return arg;
}

static void *stall_mprot(void *arg)
{
	prctl(PR_SET_NAME, "stall-mprot");
	tid_mprot = syscall(SYS_gettid);
	wait_started();
	vt_sleep_ms(300);	/* after stall-fault is stuck */
	/* a real change, or 6.4+ would not need the VMA's lock */
	if (mprotect((void *)page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC))
		perror("mprotect");
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	struct stat st;
	watch_arg wa;
	int fd, err;

	if (argc != 4)
		VT_FAIL("usage: mmstall FILE GO CLOSE");
	fd = open(argv[1], O_RDWR);
	if (fd < 0)
		VT_FAIL("open %s: %s", argv[1], strerror(errno));
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED)
		VT_FAIL("mmap: %s", strerror(errno));
	(void)page[0];		/* mapped read-only: the write will need page_mkwrite */

	memset(&wa, 0, sizeof(wa));
	strcpy(wa.name, "mmstall");
	wa.ptr = (void *)&trigger;
	wa.length_byte = sizeof(trigger);
	wa.threshold = 0;
	wa.greater_flag = 1;
	err = start_watch(wa);
	if (err)
		VT_FAIL("start_watch: %s", vmon_strerror(err));
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	while (stat(argv[2], &st))
		vt_sleep_ms(20);

	if (pthread_create(&a, NULL, stall_fault, NULL) ||
	    pthread_create(&b, NULL, stall_mprot, NULL))
		VT_FAIL("pthread_create");
	__atomic_store_n(&started, 1, __ATOMIC_RELEASE);
	vt_sleep_ms(800);	/* both threads are stuck by now */
	trigger = 1;
	printf("breached tids=%d,%d\n", tid_fault, tid_mprot);
	fflush(stdout);
	while (stat(argv[3], &st))
		vt_sleep_ms(20);
	close(vmon_user_fd);
	printf("closed\n");
	fflush(stdout);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("done\n");
	return 0;
}
