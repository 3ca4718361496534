// SPDX-License-Identifier: GPL-2.0
/*
 * trigger: the trigger extension of struct vmon_watch_req, against plain
 * watches that see the same values at the same time (so a missing breach
 * of a trigger watch is the trigger's doing, not a tick that never came).
 *
 *   consecutive  a 30 ms pulse past the threshold breaches the plain watch,
 *                not the one that needs 1000 ticks in a row; a value held
 *                there breaches it, no sooner than 1000 intervals later
 *   rearm        101, 90, 101, 40, 101 (threshold 100, rearm 50): 3
 *                breaches plain, 2 with hysteresis
 *   rate         a value that creeps up by 300 in 3 s never rises by more
 *                than 100 within 200 ms; a jump of 150 does, once; a fall
 *                of 150 breaches the "< -100" rate watch once
 *   refused      each malformed extension gets EINVAL; a 128-byte request
 *                (a caller built before the extension) still registers
 *
 *   trigger [all|refused|consecutive|rearm|rate]
 *   trigger pulse NAME INTERVAL_MS SECONDS   one plain watch NAME > 100,
 *                toggled between 0 and 101 every 50 ms (for scenario control)
 */
#include "vt_common.h"
#include <errno.h>
#include <stddef.h>
#include <sys/ioctl.h>

#define MS 1000000ULL

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long breaches(const char *name)
{
	long long b = 0;

	if (vt_watches(getpid(), name, &b, NULL) != 1)
		VT_FAIL("watch %s: not exactly one registered", name);
	return b;
}

static long pulse_interval_ms = 1;

static void watch(const char *name, int *var, long long thr, int greater,
		  const watch_trigger *t)
{
	watch_arg wa = vt_arg(name, var, 4, thr, pulse_interval_ms * MS);
	int ret;

	wa.greater_flag = greater;
	ret = start_watch_trigger(wa, t, NULL);
	if (ret)
		VT_FAIL("watch %s: %s", name, vmon_strerror(ret));
}

static void expect(const char *name, long long want)
{
	long long got = breaches(name);

	if (got != want)
		VT_FAIL("%s: %lld breaches, want %lld", name, got, want);
	printf("%s: %lld breaches, as expected\n", name, got);
}

static void case_consecutive(void)
{
	static int tc, pc;
	watch_trigger t = { .consecutive = 1000 };
	long long t0, b;

	watch("tcons", &tc, 100, 1, &t);
	watch("pcons", &pc, 100, 1, NULL);
	vt_sleep_ms(50);
	tc = pc = 101;
	vt_sleep_ms(30);
	tc = pc = 0;
	if (vt_wait_breaches(getpid(), "pcons", 1, 10000) != 1)
		VT_FAIL("pcons: the plain watch did not see the pulse");
	vt_sleep_ms(50);
	expect("tcons", 0);
	t0 = now_ms();
	tc = 101;
	b = vt_wait_breaches(getpid(), "tcons", 1, 60000);
	if (b != 1)
		VT_FAIL("tcons: %lld breaches after holding the value, want 1", b);
	/* ticks never come faster than the interval: 1000 of them take 1 s */
	if (now_ms() - t0 < 950)
		VT_FAIL("tcons: breached %lld ms after the value went up, before 1000 ticks of 1 ms",
			now_ms() - t0);
	printf("tcons: breached after %lld ms held (1000 ticks of 1 ms)\n", now_ms() - t0);
	tc = 0;
}

/* Set both variables to v and wait until the plain watch has seen it. */
static void both(int *a, int *b, int v, const char *plain, long long want)
{
	*a = *b = v;
	if (want >= 0 && vt_wait_breaches(getpid(), plain, want, 10000) != want)
		VT_FAIL("%s: the plain watch never reached %lld breaches", plain, want);
	vt_sleep_ms(50);	/* 50 ticks: the trigger watch has seen it too */
}

static void case_rearm(void)
{
	static int th, ph;
	watch_trigger t = { .rearm_flag = 1, .rearm = 50 };

	watch("thyst", &th, 100, 1, &t);
	watch("physt", &ph, 100, 1, NULL);
	vt_sleep_ms(50);
	both(&th, &ph, 101, "physt", 1);
	both(&th, &ph, 90, "physt", -1);
	both(&th, &ph, 101, "physt", 2);
	expect("thyst", 1);
	both(&th, &ph, 40, "physt", -1);
	both(&th, &ph, 101, "physt", 3);
	expect("physt", 3);
	expect("thyst", 2);
}

static void case_rate(void)
{
	static int up, down;
	watch_trigger t = { .rate_window_ns = 200 * MS };

	watch("trise", &up, 100, 1, &t);
	watch("tfall", &down, -100, 0, &t);
	vt_sleep_ms(50);
	for (int i = 0; i < 30; i++) {	/* +10 and -10 every 100 ms */
		up += 10;
		down -= 10;
		vt_sleep_ms(100);
	}
	expect("trise", 0);
	expect("tfall", 0);
	up += 150;
	down -= 150;
	if (vt_wait_breaches(getpid(), "trise", 1, 10000) != 1 ||
	    vt_wait_breaches(getpid(), "tfall", 1, 10000) != 1)
		VT_FAIL("a change of 150 at once did not breach the rate watches");
	vt_sleep_ms(600);	/* the window moves on: the change is over */
	expect("trise", 1);
	expect("tfall", 1);
}

/* ioctl of a request as built, at size bytes */
static int raw_watch(struct vmon_watch_req *req, unsigned int size)
{
	req->size = size;
	return ioctl(vmon_device_fd(), VMON_IOC_WATCH, req) < 0 ? -errno : 0;
}

static void refused(const char *what, struct vmon_watch_req req)
{
	int ret = raw_watch(&req, sizeof(req));

	if (ret != -EINVAL)
		VT_FAIL("%s: got %d (%s), want EINVAL", what, ret, vmon_strerror(ret));
	printf("refused: %s\n", what);
}

static void case_refused(void)
{
	static int v;
	watch_arg wa = vt_arg("tbad", &v, 4, 100, 0);	/* the default: any caller */
	struct vmon_watch_req base, r;
	int ret;

	if (vmon_fill_req(&base, wa, NULL))
		VT_FAIL("fill");
	r = base; r.reserved = 1;
	refused("reserved not zero", r);
	r = base; r.consecutive = VMON_MAX_CONSECUTIVE + 1;
	refused("consecutive above the maximum", r);
	r = base; r.rearm = 50;
	refused("rearm without VMON_WATCH_REARM", r);
	r = base; r.flags |= VMON_WATCH_REARM; r.rearm = 101;
	refused("rearm above the threshold of a > watch", r);
	r = base; r.flags = (r.flags & ~VMON_WATCH_GREATER) | VMON_WATCH_REARM; r.rearm = 99;
	refused("rearm below the threshold of a < watch", r);
	r = base; r.rate_window_ns = 200 * MS;
	refused("rate window without VMON_WATCH_RATE", r);
	r = base; r.flags |= VMON_WATCH_RATE; r.rate_window_ns = 1;
	refused("rate window shorter than the interval", r);
	r = base; r.flags |= VMON_WATCH_RATE; r.rate_window_ns = VMON_MAX_RATE_WINDOW_NS + 1;
	refused("rate window above 1 h", r);
	r = base;
	ret = raw_watch(&r, offsetof(struct vmon_watch_req, consecutive));
	if (ret)
		VT_FAIL("a request of the size before the extension: %s", vmon_strerror(ret));
	printf("a %zu-byte request (before the extension) registers\n",
	       offsetof(struct vmon_watch_req, consecutive));
}

static void pulse(const char *name, long interval_ms, int secs)
{
	static int v;

	pulse_interval_ms = interval_ms;
	watch(name, &v, 100, 1, NULL);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < secs * 20; i++) {
		v = v ? 0 : 101;
		vt_sleep_ms(50);
	}
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "all";
	int all = !strcmp(c, "all");

	if (!strcmp(c, "pulse")) {
		if (argc != 5)
			VT_FAIL("usage: trigger pulse NAME INTERVAL_MS SECONDS");
		pulse(argv[2], atol(argv[3]), atoi(argv[4]));
		return 0;
	}

	if (all || !strcmp(c, "refused"))
		case_refused();
	if (all || !strcmp(c, "consecutive"))
		case_consecutive();
	if (all || !strcmp(c, "rearm"))
		case_rearm();
	if (all || !strcmp(c, "rate"))
		case_rate();
	if (cancel_watch())
		VT_FAIL("cancel_watch");
	printf("PASS trigger %s\n", c);
	return 0;
}
