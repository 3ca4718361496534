// SPDX-License-Identifier: GPL-2.0
/*
 * jitstack: a program that generates code, as a JIT does. main calls a
 * trampoline it wrote into an executable mapping (with a frame pointer, as
 * JIT tiers keep), which calls jit_callee, which sleeps in nanosleep; the
 * trampoline is listed in /tmp/perf-PID.map, the perf map format that perf,
 * samply and bcc read. A second thread breaches a watch meanwhile. The dump
 * must show main -> jit_trampoline -> jit_callee -> nanosleep, the JIT
 * frame named from the perf map.
 *
 *   jitstack [SLEEP_SECS=3]
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include "vt_common.h"

static int watched;
static int sleep_secs = 3;

__attribute__((noinline)) int jit_callee(void)
{
	vt_sleep_ms(sleep_secs * 1000L);
	asm volatile("" ::: "memory");
	return 7;
}

/* push rbp; mov rbp,rsp; movabs rax,jit_callee; call rax; pop rbp; ret */
static void *make_trampoline(size_t *len)
{
	uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8, 0, 0, 0, 0, 0, 0,
			   0, 0, 0xff, 0xd0, 0x5d, 0xc3 };
	uint64_t target = (uint64_t)(uintptr_t)jit_callee;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		VT_FAIL("mmap");
	memcpy(code + 6, &target, sizeof(target));
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		VT_FAIL("mprotect");
	*len = sizeof(code);
	return p;
}

static void *breacher(void *arg)
{
	vt_sleep_ms(500);
	__atomic_store_n(&watched, 1, __ATOMIC_SEQ_CST);
	return arg;
}

int main(int argc, char **argv)
{
	char path[64];
	pthread_t th;
	size_t len;
	void *code;
	FILE *f;
	int ret;

	if (argc > 1)
		sleep_secs = atoi(argv[1]);
	code = make_trampoline(&len);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	f = fopen(path, "w");
	if (!f)
		VT_FAIL("%s", path);
	fprintf(f, "%lx %zx jit_trampoline\n", (unsigned long)(uintptr_t)code, len);
	fclose(f);
	printf("jit_trampoline=%p jit_callee=%p main=%p pid=%d\n", code,
	       (void *)jit_callee, (void *)main, getpid());
	fflush(stdout);
	ret = START_WATCH_INT("jitstack", &watched, 0);
	if (ret)
		VT_FAIL("START_WATCH_INT: %s", vmon_strerror(ret));
	pthread_create(&th, NULL, breacher, NULL);
	ret = ((int (*)(void))code)();
	pthread_join(th, NULL);
	cancel_watch();
	unlink(path);
	printf("done %d\n", ret);
	return 0;
}
