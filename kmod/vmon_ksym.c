// SPDX-License-Identifier: GPL-2.0
/*
 * variable_monitor: optional unexported symbols.
 *
 * kallsyms_lookup_name is unexported since 5.7; its address comes from a
 * kprobe registered on it, and is used only when vmon_ibt_entry() says an
 * indirect call is safe.  Without it, kernel watches fall back to a table
 * of exported variables and remote watches require CAP_SYS_PTRACE.  Never
 * fails module load.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/uaccess.h>
#include <linux/sched/loadavg.h>
#include <linux/ptrace.h>
#include <linux/capability.h>
#include <linux/module.h>
#include <asm/cpufeature.h>
#include "vmon_priv.h"
#include "vmon_ibt.h"

typedef unsigned long (*kallsyms_fn)(const char *name);
typedef bool (*ptrace_may_access_fn)(struct task_struct *t, unsigned int mode);

static kallsyms_fn vmon_kallsyms;
static ptrace_may_access_fn vmon_ptrace_may_access;

/*
 * Exported variables a kernel watch may name without kallsyms, and with
 * CAP_PERFMON alone (the load monitor); any offset stays inside them.
 */
static const struct {
	const char *name;
	const void *addr;
	size_t size;
} vmon_builtin_syms[] = {
	{ "avenrun", avenrun, 3 * sizeof(unsigned long) },	/* avenrun[3] */
};

/* The core kernel's .data and .bss, resolved once through kallsyms. */
static unsigned long vmon_sdata, vmon_edata, vmon_sbss, vmon_ebss;

static unsigned long vmon_kprobe_addr(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp) < 0)
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

/*
 * Only a CPU that enforces IBT traps on a missing ENDBR64; the kernel
 * turns enforcement on at boot or never, so this cannot change later.
 */
static bool vmon_ibt_enforced(void)
{
#if defined(CONFIG_X86_KERNEL_IBT) && defined(X86_FEATURE_IBT)
	return cpu_feature_enabled(X86_FEATURE_IBT);
#else
	return false;
#endif
}

static unsigned long vmon_safe_entry(unsigned long addr)
{
	u32 before = 0, at = 0;

	if (!addr)
		return 0;
	if (copy_from_kernel_nofault(&at, (void *)addr, sizeof(at)))
		return 0;
	if (copy_from_kernel_nofault(&before, (void *)(addr - 4),
				     sizeof(before)))
		before = 0;
	return vmon_ibt_entry(addr, before, at, vmon_ibt_enforced());
}

void vmon_ksym_init(void)
{
	unsigned long addr = vmon_kprobe_addr("kallsyms_lookup_name");
	unsigned long entry = vmon_safe_entry(addr);

	if (!entry) {
		pr_info("kallsyms_lookup_name %s: kernel watches limited to exported variables, remote watches need CAP_SYS_PTRACE\n",
			addr ? "has no ENDBR64 and IBT is enforced (calling it would trap)" :
			       "not found by kprobe");
		return;
	}
	vmon_kallsyms = (kallsyms_fn)entry;
	vmon_ptrace_may_access = vmon_ksym_func("ptrace_may_access");
	vmon_sdata = vmon_kallsyms("_sdata");
	vmon_edata = vmon_kallsyms("_edata");
	vmon_sbss = vmon_kallsyms("__bss_start");
	vmon_ebss = vmon_kallsyms("__bss_stop");
}

/**
 * vmon_ksym_builtin() - is @name a variable watchable with CAP_PERFMON?
 * @name: symbol name
 * @size: set to the variable's size in bytes
 *
 * Return: its address, or 0.
 */
unsigned long vmon_ksym_builtin(const char *name, size_t *size)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vmon_builtin_syms); i++)
		if (!strcmp(name, vmon_builtin_syms[i].name)) {
			*size = vmon_builtin_syms[i].size;
			return (unsigned long)vmon_builtin_syms[i].addr;
		}
	return 0;
}

/**
 * vmon_kernel_data() - is [@addr, @addr + @len) inside the core kernel's
 * .data or .bss?  (Not text, rodata, init memory that was freed, or the
 * gaps between sections, which may be reused page-allocator memory.)
 * @addr: kernel address
 * @len: bytes
 *
 * Return: false as well when the section bounds are unknown.
 */
bool vmon_kernel_data(unsigned long addr, size_t len)
{
	if (addr + len < addr)
		return false;
	return (vmon_sdata && addr >= vmon_sdata && addr + len <= vmon_edata) ||
	       (vmon_sbss && addr >= vmon_sbss && addr + len <= vmon_ebss);
}

bool vmon_ksym_available(void)
{
	return vmon_kallsyms;
}

/* A function's address, checked callable; NULL when unknown or unsafe. */
void *vmon_ksym_func(const char *name)
{
	if (!vmon_kallsyms)
		return NULL;
	return (void *)vmon_safe_entry(vmon_kallsyms(name));
}

unsigned long vmon_ksym_lookup(const char *name)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vmon_builtin_syms); i++)
		if (!strcmp(name, vmon_builtin_syms[i].name))
			return (unsigned long)vmon_builtin_syms[i].addr;
	return vmon_kallsyms ? vmon_kallsyms(name) : 0;
}

/* May current watch target's memory?  Same rule as process_vm_readv(). */
bool vmon_remote_allowed(struct task_struct *target)
{
	if (vmon_ptrace_may_access)
		return vmon_ptrace_may_access(target,
					      PTRACE_MODE_ATTACH_REALCREDS);
	return capable(CAP_SYS_PTRACE);
}
