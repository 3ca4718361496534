/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is it safe to call a function whose address a kprobe reported?
 *
 * Pure logic, shared by the module and a user-space unit test
 * (tests/ibt_check.c).  With x86 IBT the kprobe core moves a probe placed
 * on a function past its ENDBR64, so kp.addr is the symbol plus 4; the
 * real entry is 4 bytes earlier.  An indirect call must land on an ENDBR64:
 * if IBT is built in and no ENDBR64 is found (the kernel seals functions
 * whose address is never taken by overwriting ENDBR with a NOP), calling
 * would trap with "Missing ENDBR", so the caller must switch the feature
 * off instead.  "IBT" here means enforced by the CPU (X86_FEATURE_IBT):
 * on a CPU without it an indirect call to a sealed function is harmless.
 */
#ifndef _VMON_IBT_H
#define _VMON_IBT_H

#define VMON_ENDBR64	0xfa1e0ff3U	/* f3 0f 1e fa, little endian */

/*
 * kp_addr: address from the kprobe; before/at: the 4 bytes at kp_addr - 4
 * and at kp_addr (little endian); ibt: IBT built in and enforced.
 * Returns the address to call, or 0 when calling is unsafe.
 */
static inline unsigned long vmon_ibt_entry(unsigned long kp_addr,
					   unsigned int before,
					   unsigned int at, int ibt)
{
	if (!kp_addr)
		return 0;
	if (at == VMON_ENDBR64)
		return kp_addr;
	if (before == VMON_ENDBR64)
		return kp_addr - 4;
	return ibt ? 0 : kp_addr;
}

#endif /* _VMON_IBT_H */
