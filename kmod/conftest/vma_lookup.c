// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_VMA_LOOKUP: vma_lookup() exists (5.14+) */
#include <linux/mm.h>
struct vm_area_struct *vmon_conftest(struct mm_struct *mm);
struct vm_area_struct *vmon_conftest(struct mm_struct *mm)
{
	return vma_lookup(mm, 0);
}
