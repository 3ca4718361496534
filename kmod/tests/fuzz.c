// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz: random and structure-aware ioctls on /dev/variable_monitor (run as
 * an unprivileged user), with concurrent fork, exec, exit and close.
 *
 *   fuzz OPS WORKERS SEED
 *
 * WORKERS processes share OPS operations.  Each picks, at random: a random
 * ioctl number and argument; VMON_IOC_WATCH with each field drawn from
 * valid, boundary and invalid values (sizes, flags, pids, lengths, aligned,
 * misaligned, unmapped, kernel and just-unmapped addresses, intervals,
 * symbols); VMON_IOC_CANCEL of ids it got, 0 and random ids; read/poll;
 * close and reopen; munmap of a watched page; a child that registers and
 * exits, or execs, or keeps the inherited fd; breaches of its watches.
 * Prints "fuzz ops=N watches_ok=W" per worker.  Errors are expected; only
 * the kernel's behaviour (splats, hangs) is judged, by the harness.
 */
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "vt_common.h"

static unsigned long long rng;
static long vars[64] __attribute__((aligned(64)));
static __u64 ids[64];
static int nids;
static char *spare;

static unsigned long long rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define PICK(a) ((a)[rnd() % (sizeof(a) / sizeof((a)[0]))])

static int dev(void)
{
	int fd = vmon_device_fd();

	if (fd < 0)
		VT_FAIL("open: %s", vmon_strerror(fd));
	return fd;
}

static __u64 an_addr(void)
{
	static const __u64 kern[] = { 0, 8, 0xffffffff81000000ULL,
		0xffff888000000000ULL, 0x00007ffffffff000ULL, ~0ULL, 1ULL << 47 };
	char stackvar[16];

	switch (rnd() % 8) {
	case 0: return (unsigned long)&vars[rnd() % 64];
	case 1: return (unsigned long)&vars[rnd() % 64] + rnd() % 8;
	case 2: return (unsigned long)stackvar & ~7UL;
	case 3: return (unsigned long)spare + (rnd() % 4096 & ~7UL);
	case 4: return PICK(kern);
	case 5: return rnd();
	case 6: return (unsigned long)&rng;
	default: return (unsigned long)&vars[0];
	}
}

static void op_watch(int fd)
{
	static const __u32 sizes[] = { 0, 4, 8, 40, sizeof(struct vmon_watch_req) - 8,
		sizeof(struct vmon_watch_req), sizeof(struct vmon_watch_req) + 8, 4096, 4097, ~0U };
	static const __u32 lens[] = { 1, 2, 4, 8, 0, 3, 16, ~0U };
	static const __u64 ivals[] = { 0, 1, 10000, 100000, 1000000, 10000000,
		3600000000000ULL, 3600000000001ULL, ~0ULL };
	static const char *syms[] = { "avenrun", "jiffies_64", "schedule", "", "init_task",
		"no_such_symbol" };
	unsigned char buf[4200];
	struct vmon_watch_req *r = (void *)buf;
	pid_t pids[] = { 0, getpid(), getppid(), 1, -1, (pid_t)rnd(), 2 };

	memset(buf, 0, sizeof(buf));
	if (rnd() % 16 == 0)
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = rnd();
	r->size = rnd() % 4 ? sizeof(*r) : PICK(sizes);
	r->flags = rnd() % 3 ? VMON_WATCH_GREATER : (__u32)rnd() & (rnd() % 2 ? 0xf : ~0U);
	r->pid = rnd() % 4 ? 0 : PICK(pids);
	r->length = rnd() % 3 ? 8 : PICK(lens);
	r->addr = an_addr();
	r->threshold = rnd() % 2 ? 0 : (long long)rnd();
	r->interval_ns = rnd() % 3 ? 1000000 : PICK(ivals);
	if (rnd() % 4)
		strcpy(r->name, "fuzz");
	else
		memset(r->name, 'A' + rnd() % 26, sizeof(r->name) - (rnd() % 2));
	if (r->flags & VMON_WATCH_KERNEL)
		snprintf(r->ksym, sizeof(r->ksym), "%s", PICK(syms));
	if (!ioctl(fd, VMON_IOC_WATCH, r) && nids < 64)
		ids[nids++] = r->id;
}

static void op(int *fd)
{
	unsigned long args[] = { 0, 1, (unsigned long)vars, 0xffffffff81000000UL, ~0UL };

	switch (rnd() % 20) {
	case 0 ... 7:
		op_watch(*fd);
		break;
	case 8 ... 9:
		ioctl(*fd, VMON_IOC_CANCEL, nids && rnd() % 2 ? ids[rnd() % nids] :
		      rnd() % 2 ? 0 : rnd());
		if (nids && rnd() % 2)
			nids--;
		break;
	case 10:
		ioctl(*fd, (unsigned int)rnd(), PICK(args));
		break;
	case 11:
		ioctl(*fd, _IOC(rnd() % 4, 'V', rnd() % 8, rnd() % 16384), PICK(args));
		break;
	case 12: {
		struct vmon_version v = { .size = (__u32)(rnd() % 64) };

		ioctl(*fd, VMON_IOC_VERSION, rnd() % 2 ? (unsigned long)&v : PICK(args));
		break;
	}
	case 13: {
		char b[64];
		struct pollfd p = { .fd = *fd, .events = POLLIN };

		if (read(*fd, b, sizeof(b)) < 0 && poll(&p, 1, 0) < 0)
			VT_FAIL("poll");
		break;
	}
	case 14:
		close(*fd);
		vmon_user_fd = -1;
		nids = 0;
		*fd = dev();
		break;
	case 15:
		vars[rnd() % 64] = rnd() % 2;	/* breach edges */
		break;
	case 16:
		munmap(spare, 4096);
		spare = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (spare == MAP_FAILED)
			VT_FAIL("mmap");
		spare[0] = 1;
		break;
	case 17:
	case 18: {
		pid_t c = fork();

		if (c == 0) {
			int k = rnd() % 3;

			op_watch(*fd);
			if (k == 0)
				execl("/bin/true", "true", (char *)NULL);
			if (k == 1) {
				close(*fd);
				vmon_user_fd = -1;
				op_watch(dev());
			}
			_exit(0);
		}
		if (c > 0 && rnd() % 2)
			waitpid(c, NULL, 0);
		break;
	}
	default:
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

int main(int argc, char **argv)
{
	long ops, each;
	int workers, w;

	if (argc != 4)
		VT_FAIL("usage: fuzz OPS WORKERS SEED");
	ops = atol(argv[1]);
	workers = atoi(argv[2]);
	each = ops / workers;
	signal(SIGPIPE, SIG_IGN);
	for (w = 0; w < workers; w++) {
		if (fork() == 0) {
			int fd;
			long i;

			rng = strtoull(argv[3], NULL, 0) * 2654435761ULL + w + 1;
			spare = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			fd = dev();
			for (i = 0; i < each; i++)
				op(&fd);
			while (wait(NULL) > 0)
				;
			printf("fuzz worker=%d ops=%ld\n", w, each);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	printf("fuzz done ops=%ld\n", each * workers);
	return 0;
}
