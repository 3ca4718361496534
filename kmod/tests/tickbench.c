// SPDX-License-Identifier: GPL-2.0
/*
 * tickbench: the timer walk of vmon_watch.c (list walk, READ_ONCE of the
 * value by length, signed/unsigned compare, edge state) replayed natively
 * in user space, to estimate on real hardware what QEMU TCG cannot show.
 * Each watch is a separate 512-byte allocation, like a kmalloc-512 object.
 * Two layouts of the watched variables: "packed" (adjacent ints, as in
 * helloworld) and "spread" (one per 4 KiB page, the worst case).  The host
 * may be shared, so the best tick of the run is shown next to the mean.  Not the kernel: no hard-irq
 * entry, no hrtimer_forward_now; the module's own numbers are in
 * /proc/variable_monitor/timers.
 *
 *   tickbench [TICKS=20000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct w {
	struct w *next;
	const void *kaddr;
	int64_t threshold;
	uint32_t flags, length;
	int in_breach, dead;
	uint64_t breaches;
	char pad[512 - 48];
};

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

static int64_t rd(const struct w *w)
{
	int u = w->flags & 1;

	switch (w->length) {
	case 1: return u ? (int64_t)READ_ONCE(*(const uint8_t *)w->kaddr) : (int64_t)READ_ONCE(*(const int8_t *)w->kaddr);
	case 2: return u ? (int64_t)READ_ONCE(*(const uint16_t *)w->kaddr) : (int64_t)READ_ONCE(*(const int16_t *)w->kaddr);
	case 4: return u ? (int64_t)READ_ONCE(*(const uint32_t *)w->kaddr) : (int64_t)READ_ONCE(*(const int32_t *)w->kaddr);
	default: return READ_ONCE(*(const int64_t *)w->kaddr);
	}
}

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static __attribute__((noinline)) uint64_t tick(struct w *head)
{
	uint64_t start = now(), n = 0;

	for (struct w *w = head; w; w = w->next) {
		int64_t v;
		int b;

		n++;
		if (READ_ONCE(w->dead))
			continue;
		v = rd(w);
		b = w->flags & 2 ? (w->flags & 1 ? (uint64_t)v > (uint64_t)w->threshold : v > w->threshold)
				 : (w->flags & 1 ? (uint64_t)v < (uint64_t)w->threshold : v < w->threshold);
		if (b && !w->in_breach)
			w->breaches++;
		w->in_breach = b;
	}
	return now() - start + (n & 0);
}

int main(int argc, char **argv)
{
	int ticks = argc > 1 ? atoi(argv[1]) : 20000;
	static int vars[4096 * 1024];
	int sizes[] = { 1, 4, 16, 64, 256, 1024, 2048, 4096 };

	for (int spread = 0; spread < 2; spread++) {
	double bbase = 0;

	printf("# layout=%s: watches mean_ns_per_tick best_ns_per_tick ratio_to_1_watch(best) marginal_ns_per_watch(best)\n",
	       spread ? "spread" : "packed");
	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int n = sizes[s];
		struct w *head = NULL;
		uint64_t best = ~0ull, sum = 0;

		for (int i = 0; i < n; i++) {
			struct w *w = aligned_alloc(64, sizeof(*w));

			*w = (struct w){ .next = head, .kaddr = &vars[spread ? i * 1024 : i],
					 .threshold = 1000000, .flags = 2, .length = 4 };
			head = w;
		}
		for (int t = 0; t < ticks; t++) {
			uint64_t c = tick(head);

			sum += c;
			if (c < best)
				best = c;
		}
		double avg = (double)sum / ticks;

		if (n == 1)
			bbase = best;
		printf("%d %.1f %llu %.2f %.2f\n", n, avg, (unsigned long long)best,
		       best / bbase, n > 1 ? (best - bbase) / (n - 1) : 0.0);
		while (head) {
			struct w *nx = head->next;

			free(head);
			head = nx;
		}
	}
	}
	return 0;
}
