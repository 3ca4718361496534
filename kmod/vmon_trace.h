/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM variable_monitor

#if !defined(_VMON_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VMON_TRACE_H

#include <linux/tracepoint.h>

/* variable_monitor:breach, fired from the timer for every breach edge. */
TRACE_EVENT(breach,
	TP_PROTO(u64 watch_id, int pid, const char *name, s64 value,
		 s64 threshold),
	TP_ARGS(watch_id, pid, name, value, threshold),
	TP_STRUCT__entry(
		__field(u64, watch_id)
		__field(int, pid)
		__array(char, name, 16)
		__field(s64, value)
		__field(s64, threshold)
	),
	TP_fast_assign(
		__entry->watch_id = watch_id;
		__entry->pid = pid;
		memcpy(__entry->name, name, 16);
		__entry->value = value;
		__entry->threshold = threshold;
	),
	TP_printk("id=%llu pid=%d name=%s value=%lld threshold=%lld",
		  __entry->watch_id, __entry->pid, __entry->name,
		  __entry->value, __entry->threshold)
);

#endif /* _VMON_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vmon_trace
#include <trace/define_trace.h>
