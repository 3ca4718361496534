/* A test program for vmon-unwind: at the bottom of a call chain it records
 * what the kernel module records for a sampled task, to the file argv[1]:
 * its registers, the frame-pointer chain walked from rbp the way the module
 * walks it, its executable mappings, and the stack bytes from sp to the end
 * of the stack mapping. Built both with and without frame pointers. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STACK_COPY 65536
#define FP_MAX 128
static unsigned char buf[STACK_COPY];
volatile int sink;
static const char *out_path;

static uint64_t stack_end(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t lo, hi, end = 0;

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[stack]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2)
			end = hi;
	if (f)
		fclose(f);
	return end;
}

__attribute__((noinline)) void grab(void)
{
	uint64_t ip, sp, bp, len, end, fp, chain[FP_MAX];
	unsigned int n = 0, i;
	FILE *f, *maps;
	char line[512];

	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	end = stack_end();
	len = end > sp ? end - sp : 0;
	if (len > STACK_COPY)
		len = STACK_COPY;
	memcpy(buf, (void *)sp, len);
	/* The module's walk: stop at 0, misalignment, leaving the stack, or a
	 * frame pointer that does not move up. */
	chain[n++] = ip;
	for (fp = bp; n < FP_MAX && fp && fp % 8 == 0 && fp >= sp && fp + 16 <= end;) {
		uint64_t *frame = (uint64_t *)fp;

		if (!frame[1])
			break;
		chain[n++] = frame[1];
		if (frame[0] <= fp)
			break;
		fp = frame[0];
	}
	f = fopen(out_path, "w");
	if (!f)
		return;
	fprintf(f, "regs %lx %lx %lx %lx\n", ip, sp, bp, len);
	fprintf(f, "chain");
	for (i = 0; i < n; i++)
		fprintf(f, " %lx", chain[i]);
	fprintf(f, "\n");
	maps = fopen("/proc/self/maps", "r");
	while (maps && fgets(line, sizeof(line), maps))
		if (strstr(line, " r-xp "))
			fprintf(f, "map %s", line);
	if (maps)
		fclose(maps);
	fprintf(f, "stack\n");
	fwrite(buf, 1, len, f);
	fclose(f);
}

__attribute__((noinline)) int level3(int x)
{
	char pad[512];	/* frames big enough that a small window ends inside */

	memset(pad, x, sizeof(pad));
	grab();
	return sink + pad[x & 255];
}

__attribute__((noinline)) int level2(int x)
{
	int r = level3(x + 1);

	sink += r;
	return r * 2;
}

__attribute__((noinline)) int level1(int x)
{
	int r = level2(x * 2);

	sink += r;
	return r + 3;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	out_path = argv[1];
	sink = level1(argc);
	return 0;
}
