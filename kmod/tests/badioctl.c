// SPDX-License-Identifier: GPL-2.0
/*
 * badioctl: a table of malformed ioctl calls on /dev/variable_monitor, each
 * with the errno it must get.  Run as root.  Ends with no watch left.
 */
#include <sys/mman.h>
#include "vt_common.h"

static int var __attribute__((aligned(8)));
static char bytes[16] __attribute__((aligned(8)));

static struct vmon_watch_req good(void)
{
	struct vmon_watch_req r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = VMON_WATCH_GREATER;
	r.length = 4;
	r.addr = (unsigned long)&var;
	r.threshold = 1000;
	r.interval_ns = 1000000;
	strcpy(r.name, "bad");
	return r;
}

static int fails, fd;

static void expect(const char *what, long ret, int want)
{
	int got = ret < 0 ? errno : 0;

	if (got != want) {
		printf("FAIL %-44s errno %d (%s), want %d (%s)\n", what, got,
		       strerror(got), want, strerror(want));
		fails++;
	} else {
		printf("ok   %-44s %s\n", what, want ? strerror(want) : "accepted");
	}
	if (!got && ioctl(fd, VMON_IOC_CANCEL, 0))
		printf("cancel after %s: %s\n", what, strerror(errno));
}

#define T(what, mut, want) do {					\
	struct vmon_watch_req r = good();				\
	mut;								\
	expect(what, ioctl(fd, VMON_IOC_WATCH, &r), want);		\
} while (0)

int main(void)
{
	void *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char big[sizeof(struct vmon_watch_req) + 16];
	struct vmon_version v;
	char buf[8];

	fd = open(VMON_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		VT_FAIL("open: %s", strerror(errno));

	T("valid request (control)", (void)0, 0);
	expect("NULL argument", ioctl(fd, VMON_IOC_WATCH, NULL), EFAULT);
	expect("argument pointer unmapped", ioctl(fd, VMON_IOC_WATCH, (void *)8), EFAULT);
	expect("argument in PROT_NONE page", ioctl(fd, VMON_IOC_WATCH, none), EFAULT);
	T("size 4 (too small)", r.size = 4, EINVAL);
	T("size 0", r.size = 0, EINVAL);
	T("size 1 MiB", r.size = 1 << 20, EINVAL);
	memset(big, 0, sizeof(big));
	{
		struct vmon_watch_req r = good();

		r.size = sizeof(big);
		memcpy(big, &r, sizeof(r));
		expect("larger struct, zero tail", ioctl(fd, VMON_IOC_WATCH, big), 0);
		big[sizeof(r) + 3] = 1;
		expect("larger struct, non-zero tail", ioctl(fd, VMON_IOC_WATCH, big), E2BIG);
	}
	T("unknown flag bit", r.flags |= 1U << 20, EINVAL);
	T("length 0", r.length = 0, EINVAL);
	T("length 3", r.length = 3, EINVAL);
	T("length 16", r.length = 16, EINVAL);
	T("misaligned address (straddle-capable)", (r.addr = (unsigned long)&bytes[3], r.length = 4), EINVAL);
	T("address 0", r.addr = 0, EFAULT);
	T("unmapped address", r.addr = 0x10000, EFAULT);
	T("PROT_NONE address", r.addr = (unsigned long)none, EFAULT);
	T("kernel address as user address", r.addr = 0xffffffff81000000UL, EFAULT);
	T("non-canonical address", r.addr = 0x8000000000000000UL, EFAULT);
	T("unterminated name", memset(r.name, 'x', sizeof(r.name)), EINVAL);
	T("ksym without VMON_WATCH_KERNEL", strcpy(r.ksym, "avenrun"), EINVAL);
	T("unterminated ksym", (r.flags |= VMON_WATCH_KERNEL, r.addr = 0, r.length = 8, memset(r.ksym, 'y', sizeof(r.ksym))), EINVAL);
	T("kernel watch, empty ksym", (r.flags |= VMON_WATCH_KERNEL, r.addr = 0, r.length = 8), EINVAL);
	T("kernel watch with a pid", (r.flags |= VMON_WATCH_KERNEL, r.addr = 0, r.length = 8, strcpy(r.ksym, "avenrun"), r.pid = 1), EINVAL);
	T("kernel watch, misaligned offset", (r.flags |= VMON_WATCH_KERNEL, r.addr = 4, r.length = 8, strcpy(r.ksym, "avenrun")), EINVAL);
	T("kernel watch, offset overflow", (r.flags |= VMON_WATCH_KERNEL, r.addr = ~7ULL, r.length = 8, strcpy(r.ksym, "avenrun")), EINVAL);
	T("kernel watch, avenrun (control)", (r.flags |= VMON_WATCH_KERNEL, r.addr = 0, r.length = 8, strcpy(r.ksym, "avenrun")), 0);
	{
		struct vmon_watch_req r = good();
		long ret;
		int e;

		r.flags |= VMON_WATCH_KERNEL;
		r.addr = 0;
		r.length = 8;
		strcpy(r.ksym, "no_such_symbol_vmon");
		ret = ioctl(fd, VMON_IOC_WATCH, &r);
		e = errno;
		expect("kernel watch, unknown symbol", ret,
		       e == EOPNOTSUPP ? EOPNOTSUPP : ENOENT);
	}
	T("interval 1 ns", r.interval_ns = 1, EINVAL);
	T("interval 9999 ns", r.interval_ns = 9999, EINVAL);
	T("interval 2 hours", r.interval_ns = 7200ULL * 1000000000ULL, EINVAL);
	T("negative pid", r.pid = -5, EINVAL);
	T("pid that does not exist", r.pid = 4000000, ESRCH);
	expect("cancel unknown id", ioctl(fd, VMON_IOC_CANCEL, 123456789UL), ENOENT);
	expect("unknown ioctl", ioctl(fd, _IO('V', 99), 0), ENOTTY);
	expect("foreign ioctl magic", ioctl(fd, _IO('Z', 1), 0), ENOTTY);
	expect("VERSION NULL", ioctl(fd, VMON_IOC_VERSION, NULL), EFAULT);
	memset(&v, 0, sizeof(v));
	expect("VERSION size 0", ioctl(fd, VMON_IOC_VERSION, &v), EINVAL);
	v.size = sizeof(v);
	expect("VERSION (control)", ioctl(fd, VMON_IOC_VERSION, &v), 0);
	if (v.abi_version != VMON_ABI_VERSION || v.record_version != VMON_RECORD_VERSION) {
		printf("FAIL VERSION returned abi %u rec %u\n", v.abi_version, v.record_version);
		fails++;
	}
	expect("read() of 0 bytes", read(fd, buf, 0), 0);
	expect("read() into unmapped buffer", read(fd, none, 4096), EFAULT);
	if (vt_watches(0, NULL, NULL, NULL) != 0) {
		printf("FAIL watches left behind\n");
		fails++;
	}
	printf("%s: %d failures\n", fails ? "FAILED" : "passed", fails);
	return fails != 0;
}
