// SPDX-License-Identifier: GPL-2.0
/*
 * runas: run a program as another user inside the test guest, optionally keeping
 * chosen capabilities (as ambient capabilities, so they survive exec).
 *
 *   runas [-g GID] [-c CAP[,CAP...]] UID PROGRAM [ARG...]
 *
 * CAP is a number or one of the names below (without CAP_, lower case). GID defaults
 * to UID. Supplementary groups are cleared. Must be started as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
	const char *name;
	int cap;
} cap_names[] = {
	{ "chown", 0 },	      { "dac_override", 1 }, { "kill", 5 },
	{ "setgid", 6 },      { "setuid", 7 },	     { "ipc_lock", 14 },
	{ "sys_module", 16 }, { "sys_rawio", 17 },   { "sys_ptrace", 19 },
	{ "sys_admin", 21 },  { "sys_nice", 23 },    { "sys_resource", 24 },
	{ "syslog", 34 },     { "perfmon", 38 },     { "bpf", 39 },
};

static void usage(void)
{
	fprintf(stderr, "usage: runas [-g GID] [-c CAP[,CAP...]] UID PROGRAM [ARG...]\n");
	exit(2);
}

static long number(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "runas: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int cap_number(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (strcmp(s, cap_names[i].name) == 0)
			return cap_names[i].cap;
	return (int)number(s, "capability");
}

static uint64_t parse_caps(char *list)
{
	uint64_t mask = 0;
	char *tok;

	for (tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		int cap = cap_number(tok);

		if (cap > 63) {
			fprintf(stderr, "runas: capability %d out of range\n", cap);
			exit(2);
		}
		mask |= 1ULL << cap;
	}
	return mask;
}

static void keep_caps(uint64_t mask)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int cap;

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)mask;
	data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(mask >> 32);
	if (syscall(SYS_capset, &hdr, data)) {
		perror("runas: capset");
		exit(1);
	}
	for (cap = 0; cap < 64; cap++) {
		if (!(mask & (1ULL << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0)) {
			fprintf(stderr, "runas: raising ambient capability %d: %s\n", cap,
				strerror(errno));
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	long gid = -1, uid;
	uint64_t caps = 0;
	int opt;

	while ((opt = getopt(argc, argv, "+g:c:")) != -1) {
		switch (opt) {
		case 'g':
			gid = number(optarg, "gid");
			break;
		case 'c':
			caps = parse_caps(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2)
		usage();
	uid = number(argv[optind], "uid");
	if (gid < 0)
		gid = uid;

	if (caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) {
		perror("runas: PR_SET_KEEPCAPS");
		return 1;
	}
	if (setgroups(0, NULL) || setgid((gid_t)gid) || setuid((uid_t)uid)) {
		perror("runas: dropping to the user");
		return 1;
	}
	if (caps)
		keep_caps(caps);
	execvp(argv[optind + 1], &argv[optind + 1]);
	fprintf(stderr, "runas: exec %s: %s\n", argv[optind + 1], strerror(errno));
	return 127;
}
