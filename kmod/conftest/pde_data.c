// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_PDE_DATA: pde_data() exists (5.17 renamed PDE_DATA()) */
#include <linux/proc_fs.h>
void *vmon_conftest(const struct inode *inode);
void *vmon_conftest(const struct inode *inode)
{
	return pde_data(inode);
}
