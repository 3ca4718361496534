/* A test program for vmon-analyze: it copies its own user stack and
 * registers (what the kernel module captures) to the file named by argv[1],
 * followed by its executable mappings. Built with -O2 -g
 * -fomit-frame-pointer, so only CFI can unwind it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STACK_COPY 32768
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
	uint64_t ip, sp, bp, len, end;
	FILE *f, *maps;
	char line[512];

	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(ip), "=r"(sp), "=r"(bp));
	end = stack_end();
	len = end > sp ? end - sp : 0;
	if (len > STACK_COPY)
		len = STACK_COPY;
	memcpy(buf, (void *)sp, len);
	f = fopen(out_path, "w");
	if (!f)
		return;
	fprintf(f, "regs %lx %lx %lx %lx\n", ip, sp, bp, len);
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

static inline __attribute__((always_inline)) void inlined_step(int x)
{
	sink += x;
	grab();
	sink += x * 2;
}

__attribute__((noinline)) int level3(int x)
{
	inlined_step(x);
	return sink + 1;
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
