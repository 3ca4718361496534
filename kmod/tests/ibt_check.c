// SPDX-License-Identifier: GPL-2.0
/* Unit test of vmon_ibt_entry(), the IBT safety decision of vmon_ksym.c. */
#include <stdio.h>
#include "../vmon_ibt.h"

#define NOP4_POISON	0x001f0f66U	/* any 4 bytes that are not ENDBR64 */
#define PUSH_RBP	0xe5894855U	/* push %rbp; mov %rsp,%rbp */

static int fails;

static void check(const char *what, unsigned long got, unsigned long want)
{
	if (got != want) {
		printf("FAIL %s: got %#lx want %#lx\n", what, got, want);
		fails++;
	} else {
		printf("ok   %s\n", what);
	}
}

int main(void)
{
	unsigned long sym = 0xffffffff81234560UL;

	check("no IBT, plain entry", vmon_ibt_entry(sym, 0xccccccccU, PUSH_RBP, 0), sym);
	check("IBT, kprobe skipped ENDBR (sym+4)",
	      vmon_ibt_entry(sym + 4, VMON_ENDBR64, PUSH_RBP, 1), sym);
	check("IBT, kprobe at ENDBR", vmon_ibt_entry(sym, 0xccccccccU, VMON_ENDBR64, 1), sym);
	check("IBT, sealed function (ENDBR poisoned)",
	      vmon_ibt_entry(sym + 4, NOP4_POISON, PUSH_RBP, 1), 0);
	check("IBT, no landing pad at all", vmon_ibt_entry(sym, 0x90909090U, PUSH_RBP, 1), 0);
	check("no IBT, sealed bytes still callable",
	      vmon_ibt_entry(sym, NOP4_POISON, PUSH_RBP, 0), sym);
	check("no kprobe address", vmon_ibt_entry(0, VMON_ENDBR64, VMON_ENDBR64, 1), 0);
	printf("%s\n", fails ? "ibt_check FAILED" : "ibt_check passed");
	return fails != 0;
}
