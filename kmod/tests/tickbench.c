// SPDX-License-Identifier: GPL-2.0
/*
 * tickbench: the timer walk of vmon_watch.c (a contiguous array of 32-byte
 * struct vmon_hot entries: READ_ONCE of the value by length, signed or
 * unsigned compare, edge state) replayed natively in user space, to
 * estimate on real hardware what QEMU TCG cannot show.  For comparison it
 * also walks the earlier design, a linked list of 512-byte watch objects,
 * and the same array with every watch on the trigger path (a rate window,
 * vmon_trigger_tick(): its state is in the cold watch, as in the module).
 * Variables are "packed" (adjacent ints, as in helloworld) or "spread" (one
 * per 4 KiB page, the worst case).  The host may be shared, so the best
 * tick of each point is reported.  Not the kernel: no IRQ entry and no
 * hrtimer_forward_now; the module's own numbers are in
 * /proc/variable_monitor/timers.
 *
 *   tickbench [TICKS=20000]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

struct hot {			/* struct vmon_hot */
	const void *kaddr;
	int64_t threshold;
	uint32_t flags;
	uint16_t length;
	uint8_t in_breach, pad;
	struct cold *w;		/* the cold watch */
};

struct trig {			/* struct vmon_trigger */
	uint32_t consecutive, run;
	int64_t rearm;
	uint64_t window_ns, bucket_start;
	int64_t ref_cur, ref_prev;
};

struct cold {			/* what a tick touches of struct vmon_watch */
	uint64_t breaches;
	struct trig t;
	char pad[512 - 8 - sizeof(struct trig)];
};

#define HOT_TRIGGER (1U << 30)
#define WATCH_RATE (1U << 5)

struct node {			/* the earlier list design */
	struct node *next;
	struct hot h;
	char pad[512 - 8 - sizeof(struct hot)];
};

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t tick_now;	/* the tick's start time, as the module passes it */

static inline int breached(const struct hot *h, uint32_t f, int64_t v)
{
	int u = f & 1;

	return f & 2 ? (u ? (uint64_t)v > (uint64_t)h->threshold : v > h->threshold)
		     : (u ? (uint64_t)v < (uint64_t)h->threshold : v < h->threshold);
}

/* vmon_rate_change() and vmon_trigger_tick(), for a signed ">" rate watch */
static __attribute__((noinline)) void trigger_tick(struct hot *h, uint32_t f, int64_t v)
{
	struct trig *t = &h->w->t;
	int64_t ref, x = v;
	int past;

	if (f & WATCH_RATE) {
		if (!t->bucket_start || tick_now - t->bucket_start >= 2 * t->window_ns) {
			t->bucket_start = tick_now;
			t->ref_cur = t->ref_prev = v;
		} else if (tick_now - t->bucket_start >= t->window_ns) {
			t->bucket_start = tick_now;
			t->ref_prev = t->ref_cur;
			t->ref_cur = v;
		} else if (v < t->ref_cur) {
			t->ref_cur = v;
		}
		ref = t->ref_cur < t->ref_prev ? t->ref_cur : t->ref_prev;
		x = (int64_t)((uint64_t)v - (uint64_t)ref);
	}
	past = breached(h, f & ~1U, x);
	if (h->in_breach) {
		if (!past)
			h->in_breach = 0;
		return;
	}
	if (!past) {
		t->run = 0;
		return;
	}
	if (++t->run < t->consecutive)
		return;
	t->run = 0;
	h->in_breach = 1;
	h->w->breaches++;
}

static inline void check(struct hot *h)
{
	uint32_t f = READ_ONCE(h->flags);
	int u = f & 1;
	int64_t v;
	int b;

	if (f & (1U << 31))
		return;
	switch (h->length) {
	case 1: v = u ? (int64_t)READ_ONCE(*(const uint8_t *)h->kaddr) : (int64_t)READ_ONCE(*(const int8_t *)h->kaddr); break;
	case 2: v = u ? (int64_t)READ_ONCE(*(const uint16_t *)h->kaddr) : (int64_t)READ_ONCE(*(const int16_t *)h->kaddr); break;
	case 4: v = u ? (int64_t)READ_ONCE(*(const uint32_t *)h->kaddr) : (int64_t)READ_ONCE(*(const int32_t *)h->kaddr); break;
	default: v = READ_ONCE(*(const int64_t *)h->kaddr);
	}
	if (__builtin_expect(f & HOT_TRIGGER, 0)) {
		trigger_tick(h, f, v);
		return;
	}
	b = breached(h, f, v);
	if (b == h->in_breach)
		return;
	h->in_breach = b;
	if (b)
		h->w->breaches++;
}

static __attribute__((noinline)) uint64_t tick_array(struct hot *a, int n)
{
	uint64_t start = now();

	tick_now = start;
	for (int i = 0; i < n; i++)
		check(&a[i]);
	return now() - start;
}

static __attribute__((noinline)) uint64_t tick_list(struct node *head)
{
	uint64_t start = now();

	for (struct node *p = head; p; p = p->next)
		check(&p->h);
	return now() - start;
}

static int vars[4096 * 1024];

int main(int argc, char **argv)
{
	int ticks = argc > 1 ? atoi(argv[1]) : 20000;
	int sizes[] = { 1, 4, 16, 64, 256, 1024, 2048, 4096 };

	printf("# layout watches array_best_ns_per_tick array_marginal_ns_per_watch list_best_ns_per_tick list_marginal_ns_per_watch rate_best_ns_per_tick rate_marginal_ns_per_watch\n");
	for (int spread = 0; spread < 2; spread++) {
		double abase = 0, lbase = 0, rbase = 0;

		for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			int n = sizes[s];
			struct hot *a = aligned_alloc(64, n * sizeof(*a) + 64);
			struct hot *r = aligned_alloc(64, n * sizeof(*r) + 64);
			struct cold *cw = calloc(n, sizeof(*cw));
			struct node *head = NULL;
			uint64_t ab = ~0ull, lb = ~0ull, rb = ~0ull;

			for (int i = 0; i < n; i++) {
				struct node *p = aligned_alloc(64, sizeof(*p));
				struct hot h = { .kaddr = &vars[spread ? i * 1024 : i],
						 .threshold = 1000000, .flags = 2,
						 .length = 4, .w = &cw[i] };

				a[i] = h;
				p->h = h;
				p->next = head;
				head = p;
				r[i] = h;
				r[i].flags |= HOT_TRIGGER | WATCH_RATE;
				cw[i].t.window_ns = 1000000000;
			}
			for (int t = 0; t < ticks; t++) {
				uint64_t c = tick_array(a, n);

				if (c < ab)
					ab = c;
				c = tick_list(head);
				if (c < lb)
					lb = c;
				c = tick_array(r, n);
				if (c < rb)
					rb = c;
			}
			if (n == 1) {
				abase = ab;
				lbase = lb;
				rbase = rb;
			}
			printf("%s %d %llu %.2f %llu %.2f %llu %.2f\n", spread ? "spread" : "packed", n,
			       (unsigned long long)ab, n > 1 ? (ab - abase) / (n - 1) : 0.0,
			       (unsigned long long)lb, n > 1 ? (lb - lbase) / (n - 1) : 0.0,
			       (unsigned long long)rb, n > 1 ? (rb - rbase) / (n - 1) : 0.0);
			free(a);
			free(r);
			free(cw);
			while (head) {
				struct node *nx = head->next;

				free(head);
				head = nx;
			}
		}
	}
	return 0;
}
