// SPDX-License-Identifier: GPL-2.0
/*
 * vmon_read: drain /dev/variable_monitor to a raw file, and check/print one.
 *
 *   vmon_read drain -o FILE [-t SECS] [-i IDLE] [-e EVENTS] [-b BUFSZ] [-d DELAY_MS]
 *	read records until SECS passed (default 10), IDLE seconds passed with
 *	nothing to read, or EVENTS EVENT_END records arrived; -b read() size (default 1 MiB), -d sleep between reads (a slow
 *	reader).  Prints "drained BYTES bytes".
 *   vmon_read parse FILE [-x ELF]
 *	validate every record (magic, length, alignment, sizes, seq order) and
 *	print one line per record; with -x, symbolize user stacks of tasks with
 *	the symbol table of the static, non-PIE program ELF.  Exits 1 on a
 *	malformed record.  The TOTAL line counts records per type, and
 *	first_gap is the first record's seq minus HELLO's (the seq of the
 *	next record the reader gets).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "../include/uapi/vmon.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count EVENT_END records in a stream chunk, carrying partial headers. */
static unsigned long long stream_pos, next_rec;
static unsigned char hdrbuf[8];

static int count_ends(const unsigned char *p, size_t n)
{
	int ends = 0;

	for (size_t i = 0; i < n; i++, stream_pos++) {
		unsigned long long off = stream_pos - next_rec;

		if (off < 8)
			hdrbuf[off] = p[i];
		if (off == 7) {
			struct vmon_rec_hdr h;

			memcpy(&h, hdrbuf, 8);
			if (h.type == VMON_REC_EVENT_END)
				ends++;
			next_rec += h.len ? h.len : 8;
		}
	}
	return ends;
}

static int drain(int argc, char **argv)
{
	const char *out = NULL;
	double secs = 10, idle = 0, start, last;
	int events = 0, bufsz = 1 << 20, delay_ms = 0, opt, seen = 0;
	long long total = 0;
	char *buf;
	int fd, ofd;

	while ((opt = getopt(argc, argv, "o:t:i:e:b:d:")) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'i': idle = atof(optarg); break;
		case 'e': events = atoi(optarg); break;
		case 'b': bufsz = atoi(optarg); break;
		case 'd': delay_ms = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!out || bufsz <= 0) {
		fprintf(stderr, "drain: -o FILE required\n");
		return 2;
	}
	buf = malloc(bufsz);
	fd = open(VMON_DEVICE_PATH, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		perror("open " VMON_DEVICE_PATH);
		return 1;
	}
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ofd < 0 || !buf) {
		perror(out);
		return 1;
	}
	start = last = now_s();
	while (now_s() - start < secs && (!events || seen < events) &&
	       (!idle || now_s() - last < idle)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		n = read(fd, buf, bufsz);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			perror("read");
			return 1;
		}
		if (n == 0)
			break;
		last = now_s();
		if (write(ofd, buf, n) != n) {
			perror("write");
			return 1;
		}
		total += n;
		seen += count_ends((unsigned char *)buf, n);
		if (delay_ms)
			usleep(delay_ms * 1000);
	}
	close(ofd);
	close(fd);
	printf("drained %lld bytes, %d events\n", total, seen);
	return 0;
}

/* ----------------------------------------------------------- symbols */

struct sym {
	unsigned long long start, size;
	const char *name;
};
static struct sym *syms;
static size_t nsyms;

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int load_syms(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char *m;
	Elf64_Ehdr *eh;
	Elf64_Shdr *sh;

	if (fd < 0 || fstat(fd, &st)) {
		perror(path);
		return -1;
	}
	m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED)
		return -1;
	eh = (Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_type != ET_EXEC) {
		fprintf(stderr, "%s: not a static non-PIE ELF\n", path);
		return -1;
	}
	sh = (Elf64_Shdr *)(m + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		Elf64_Sym *s;
		const char *str;
		size_t n;

		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		s = (Elf64_Sym *)(m + sh[i].sh_offset);
		str = (const char *)(m + sh[sh[i].sh_link].sh_offset);
		n = sh[i].sh_size / sizeof(*s);
		syms = calloc(n, sizeof(*syms));
		for (size_t j = 0; j < n; j++) {
			if (ELF64_ST_TYPE(s[j].st_info) != STT_FUNC || !s[j].st_value)
				continue;
			syms[nsyms].start = s[j].st_value;
			syms[nsyms].size = s[j].st_size;
			syms[nsyms].name = str + s[j].st_name;
			nsyms++;
		}
	}
	qsort(syms, nsyms, sizeof(*syms), sym_cmp);
	return 0;
}

static const char *symbolize(unsigned long long a)
{
	size_t lo = 0, hi = nsyms;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (syms[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && a < syms[lo - 1].start + syms[lo - 1].size + 1)
		return syms[lo - 1].name;
	return "?";
}

/* ------------------------------------------------------------ parse */

static int bad(unsigned long long off, const char *why)
{
	printf("BAD offset=%llu: %s\n", off, why);
	return 1;
}

static int parse_task(const unsigned char *p, unsigned int len)
{
	const struct vmon_rec_task *t = (const void *)p;
	const unsigned long long *stk = (const void *)(t + 1);
	size_t need = sizeof(*t) + 8ull * (t->nr_kstack + t->nr_ustack) +
		      t->raw_stack_len;

	if (len < sizeof(*t) || need > len || len - need >= 8)
		return -1;
	printf("TASK ev=%llu pid=%d tgid=%d state=%u cpu=%d comm=%.16s flags=%#x nk=%u nu=%u raw=%u cg=%llu ip=%#llx sp=%#llx bp=%#llx",
	       (unsigned long long)t->hdr.event_id, t->pid, t->tgid, t->state,
	       t->cpu, t->comm, t->flags, t->nr_kstack, t->nr_ustack,
	       t->raw_stack_len, (unsigned long long)t->cgroup_id,
	       (unsigned long long)t->user_ip, (unsigned long long)t->user_sp,
	       (unsigned long long)t->user_bp);
	printf(" time=%llu", (unsigned long long)t->hdr.time_ns);
	if (t->nr_kstack)
		printf(" k0=%#llx", stk[0]);
	printf(" u:");
	for (int i = 0; i < t->nr_ustack; i++) {
		unsigned long long a = stk[t->nr_kstack + i];

		if (nsyms)
			printf(" %s", symbolize(i ? a - 1 : a));
		else
			printf(" %#llx", a);
	}
	printf("\n");
	return 0;
}

static int parse_maps(const unsigned char *p, unsigned int len)
{
	const struct vmon_rec_maps *r = (const void *)p;
	size_t pos = sizeof(*r);

	if (len < sizeof(*r))
		return -1;
	printf("MAPS ev=%llu tgid=%d nr=%u flags=%#x", (unsigned long long)r->hdr.event_id,
	       r->tgid, r->nr, r->flags);
	for (unsigned int i = 0; i < r->nr; i++) {
		const struct vmon_map_entry *e = (const void *)(p + pos);

		if (pos + sizeof(*e) > len)
			return -1;
		pos += (sizeof(*e) + e->path_len + e->build_id_len + 7) & ~7ul;
		if (pos > len || e->end <= e->start)
			return -1;
		printf(" %#llx-%#llx:%.*s%s", (unsigned long long)e->start,
		       (unsigned long long)e->end, e->path_len,
		       (const char *)(e + 1),
		       e->flags & VMON_MAP_PATH_TRUNC ? "[PATH_TRUNC]" : "");
	}
	printf("\n");
	return pos == len ? 0 : -1;
}

static int parse_chain(const unsigned char *p, unsigned int len)
{
	const struct vmon_rec_chain *r = (const void *)p;
	size_t pos = sizeof(*r);

	if (len < sizeof(*r))
		return -1;
	printf("CHAIN ev=%llu tgid=%d nr=%u flags=%#x", (unsigned long long)r->hdr.event_id,
	       r->tgid, r->nr, r->flags);
	for (unsigned int i = 0; i < r->nr; i++) {
		const struct vmon_chain_entry *e = (const void *)(p + pos);
		char cmd[80];
		size_t n;

		if (pos + sizeof(*e) > len)
			return -1;
		pos += (sizeof(*e) + e->cmdline_len + 7) & ~7ul;
		if (pos > len)
			return -1;
		n = e->cmdline_len < sizeof(cmd) - 1 ? e->cmdline_len : sizeof(cmd) - 1;
		memcpy(cmd, e + 1, n);
		for (size_t j = 0; j < n; j++)
			if (!cmd[j])
				cmd[j] = ' ';
		cmd[n] = 0;
		printf(" %d(%.16s:%s)", e->pid, e->comm, cmd);
	}
	printf("\n");
	return pos == len ? 0 : -1;
}

static int parse(int argc, char **argv)
{
	const char *elf = NULL;
	unsigned long long off = 0, prev_seq = 0, gaps = 0, nrec = 0, events = 0;
	unsigned long long lost = 0, ntype[8] = { 0 }, hello_seq = 0;
	long long first_gap = -1;
	int opt, have_seq = 0, errors = 0;
	struct stat st;
	unsigned char *m;
	int fd;

	while ((opt = getopt(argc, argv, "x:")) != -1) {
		if (opt != 'x')
			return 2;
		elf = optarg;
	}
	if (optind >= argc)
		return 2;
	if (elf && load_syms(elf))
		return 1;
	fd = open(argv[optind], O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[optind]);
		return 1;
	}
	m = st.st_size ? mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	while (off < (unsigned long long)st.st_size) {
		struct vmon_rec_hdr h;
		const unsigned char *p = m + off;
		int r = 0;

		if (st.st_size - off < sizeof(h)) {
			errors += bad(off, "truncated header");
			break;
		}
		memcpy(&h, p, sizeof(h));
		if (h.magic != VMON_RECORD_MAGIC)
			return bad(off, "bad magic") | 1;
		if (h.len < sizeof(h) || h.len % 8 || h.len > st.st_size - off)
			return bad(off, "bad length") | 1;
		nrec++;
		ntype[h.type < 8 ? h.type : 0]++;
		if (h.type == VMON_REC_HELLO) {
			hello_seq = h.seq;
		} else if (first_gap < 0) {
			first_gap = (long long)(h.seq - hello_seq);
		}
		if (h.type != VMON_REC_HELLO) {
			if (have_seq && h.seq <= prev_seq)
				errors += bad(off, "seq not increasing");
			else if (have_seq)
				gaps += h.seq - prev_seq - 1;
			prev_seq = h.seq;
			have_seq = 1;
		}
		switch (h.type) {
		case VMON_REC_HELLO: {
			const struct vmon_rec_hello *x = (const void *)p;

			r = h.len == sizeof(*x) ? 0 : -1;
			printf("HELLO abi=%u rec=%u def_interval=%llu min_interval=%llu raw=%u buffer=%llu release=%.65s seq=%llu\n",
			       x->abi_version, x->record_version,
			       (unsigned long long)x->def_interval_ns,
			       (unsigned long long)x->min_interval_ns,
			       x->raw_stack_bytes, (unsigned long long)x->buffer_bytes,
			       x->release, (unsigned long long)h.seq);
			break;
		}
		case VMON_REC_BREACH: {
			const struct vmon_rec_breach *x = (const void *)p;

			r = h.len == sizeof(*x) ? 0 : -1;
			printf("BREACH ev=%llu seq=%llu id=%llu name=%.16s value=%lld threshold=%lld owner=%d target=%d flags=%#x len=%u ksym=%.64s time=%llu\n",
			       (unsigned long long)h.event_id, (unsigned long long)h.seq,
			       (unsigned long long)x->watch_id, x->name,
			       (long long)x->value, (long long)x->threshold,
			       x->owner_pid, x->target_pid, x->watch_flags,
			       x->length, x->ksym, (unsigned long long)h.time_ns);
			events++;
			break;
		}
		case VMON_REC_TASK:
			r = parse_task(p, h.len);
			break;
		case VMON_REC_MAPS:
			r = parse_maps(p, h.len);
			break;
		case VMON_REC_CHAIN:
			r = parse_chain(p, h.len);
			break;
		case VMON_REC_EVENT_END: {
			const struct vmon_rec_event_end *x = (const void *)p;

			r = h.len == sizeof(*x) ? 0 : -1;
			printf("END ev=%llu tasks=%u candidates=%u flags=%#x duration_ns=%llu time=%llu\n",
			       (unsigned long long)h.event_id, x->nr_tasks,
			       x->nr_candidates, x->flags,
			       (unsigned long long)x->duration_ns,
			       (unsigned long long)h.time_ns);
			break;
		}
		case VMON_REC_LOST: {
			const struct vmon_rec_lost *x = (const void *)p;

			r = h.len == sizeof(*x) ? 0 : -1;
			lost = x->lost_records;
			printf("LOST records=%llu bytes=%llu\n",
			       (unsigned long long)x->lost_records,
			       (unsigned long long)x->lost_bytes);
			break;
		}
		default:
			printf("UNKNOWN type=%u len=%u\n", h.type, h.len);
		}
		if (r)
			errors += bad(off, "record body does not match its length");
		off += h.len;
	}
	printf("TOTAL records=%llu events=%llu seq_gaps=%llu lost=%llu bad=%d first_gap=%lld hello=%llu breach=%llu task=%llu maps=%llu chain=%llu end=%llu lostrec=%llu\n",
	       nrec, events, gaps, lost, errors, first_gap,
	       ntype[VMON_REC_HELLO], ntype[VMON_REC_BREACH],
	       ntype[VMON_REC_TASK], ntype[VMON_REC_MAPS],
	       ntype[VMON_REC_CHAIN], ntype[VMON_REC_EVENT_END],
	       ntype[VMON_REC_LOST]);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "drain"))
		return drain(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "parse"))
		return parse(argc - 1, argv + 1);
	fprintf(stderr, "usage: vmon_read drain -o FILE [-t SECS] [-i IDLE] [-e EVENTS] [-b BUFSZ] [-d MS]\n"
			"       vmon_read parse FILE [-x ELF]\n");
	return 2;
}
