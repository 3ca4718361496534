// SPDX-License-Identifier: GPL-2.0
/* VMON_HAVE_FOLIO: page_folio() and folio_nr_pages() exist (5.16+) */
#include <linux/mm.h>
long vmon_conftest(struct page *p);
long vmon_conftest(struct page *p)
{
	return folio_nr_pages(page_folio(p));
}
