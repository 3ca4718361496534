// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_VMA_ITERATOR: VMA_ITERATOR() and for_each_vma() (6.1+) */
#include <linux/mm.h>
unsigned long vmon_conftest(struct mm_struct *mm);
unsigned long vmon_conftest(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	unsigned long n = 0;
	VMA_ITERATOR(vmi, mm, 0);

	for_each_vma(vmi, vma)
		n++;
	return n;
}
