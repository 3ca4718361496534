// SPDX-License-Identifier: GPL-2.0
/*
 * ustack_nofp: C built -O2 -fomit-frame-pointer (how distro packages are
 * built), dynamically linked.  rbp is an ordinary register here, so only
 * CFI unwinding gets these chains:
 *
 *   ustack_nofp (main) main -> nofp_main_l1 -> nofp_main_l2 -> pause
 *   nofp_sleep         nofp_sleep_entry -> nofp_sleep_l1 .. nofp_sleep_l4 -> nofp_leaf_sleep -> nanosleep
 *   nofp_spin          nofp_spin_entry -> nofp_spin_l1 .. nofp_spin_l3 -> nofp_leaf_spin (running in user code)
 *
 * The levels keep values live across their calls (and rbp busy as a
 * general register), so their frames have real, different sizes.
 * ustack_ready = 1 once all are in place; killed by the scenario.
 */
#include "ustack_common.h"

int ustack_ready;
volatile long nofp_spin_count;

USTACK_FN long nofp_leaf_sleep(long a)
{
	struct timespec ts = { 1000000, a & 1 };
	int r = nanosleep(&ts, NULL);

	USTACK_KEEP();
	return r + a;
}
/* Each level uses a local array so the frame is not empty. */
#define NOFP_LEVEL(name, next)                                   \
	USTACK_FN long name(long a)                              \
	{                                                        \
		volatile long pad[4] = { a, a + 1, a + 2, a + 3 }; \
		long r = next(a + pad[1]);                       \
		USTACK_KEEP();                                   \
		return r + pad[3];                               \
	}
NOFP_LEVEL(nofp_sleep_l4, nofp_leaf_sleep)
NOFP_LEVEL(nofp_sleep_l3, nofp_sleep_l4)
NOFP_LEVEL(nofp_sleep_l2, nofp_sleep_l3)
NOFP_LEVEL(nofp_sleep_l1, nofp_sleep_l2)
USTACK_FN void *nofp_sleep_entry(void *arg)
{
	ustack_enter(arg);
	long r = nofp_sleep_l1(1);

	USTACK_KEEP();
	return (void *)r;
}

/* Spins in user code without a call or a syscall, so wherever the dump
 * finds it (on a CPU, or preempted by the tick) its pc is in here. */
static struct ustack_thread *spinner;

USTACK_FN long nofp_leaf_spin(long a)
{
	spinner->spinning = 1;
	for (;;)
		nofp_spin_count++;
	return a;
}
NOFP_LEVEL(nofp_spin_l3, nofp_leaf_spin)
NOFP_LEVEL(nofp_spin_l2, nofp_spin_l3)
NOFP_LEVEL(nofp_spin_l1, nofp_spin_l2)
USTACK_FN void *nofp_spin_entry(void *arg)
{
	spinner = arg;
	ustack_enter(spinner);
	long r = nofp_spin_l1(1);

	USTACK_KEEP();
	return (void *)r;
}

USTACK_FN long nofp_main_l2(long a)
{
	volatile long pad[2] = { a, a };
	int r = pause();

	USTACK_KEEP();
	return r + pad[1];
}
NOFP_LEVEL(nofp_main_l1, nofp_main_l2)

int main(void)
{
	pthread_t th;

	if (pthread_create(&th, NULL, nofp_sleep_entry, ustack_add("nofp_sleep", SYS_clock_nanosleep)))
		ustack_die("pthread_create");
	if (pthread_create(&th, NULL, nofp_spin_entry, ustack_add("nofp_spin", -1)))
		ustack_die("pthread_create");
	ustack_wait_all();
	__atomic_store_n(&ustack_ready, 1, __ATOMIC_SEQ_CST);
	ustack_announce();
	ustack_maybe_toggle();
	long r = nofp_main_l1(0);

	USTACK_KEEP();
	return (int)r;
}
