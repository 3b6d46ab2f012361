/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shadowvm tracepoints (events/shadowvm/): VM exits, fault
 * classification, shadow page create/zap, page-table write emulation, root
 * switches and event injections.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM shadowvm

#if !defined(_SHADOWVM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _SHADOWVM_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(fault,
	TP_PROTO(u64 la, u32 hw_ec, u32 guest_ec, int is_true),
	TP_ARGS(la, hw_ec, guest_ec, is_true),
	TP_STRUCT__entry(
		__field(u64, la)
		__field(u32, hw_ec)
		__field(u32, guest_ec)
		__field(int, is_true)
	),
	TP_fast_assign(
		__entry->la = la;
		__entry->hw_ec = hw_ec;
		__entry->guest_ec = guest_ec;
		__entry->is_true = is_true;
	),
	TP_printk("la 0x%llx hw_ec 0x%x %s ec 0x%x", __entry->la, __entry->hw_ec,
		  __entry->is_true ? "true" : "hidden", __entry->guest_ec)
);

DECLARE_EVENT_CLASS(sp_class,
	TP_PROTO(u64 gfn, u32 role, int level),
	TP_ARGS(gfn, role, level),
	TP_STRUCT__entry(
		__field(u64, gfn)
		__field(u32, role)
		__field(int, level)
	),
	TP_fast_assign(
		__entry->gfn = gfn;
		__entry->role = role;
		__entry->level = level;
	),
	TP_printk("gfn 0x%llx role 0x%x level %d", __entry->gfn, __entry->role,
		  __entry->level)
);

DEFINE_EVENT(sp_class, sp_create,
	TP_PROTO(u64 gfn, u32 role, int level), TP_ARGS(gfn, role, level));
DEFINE_EVENT(sp_class, sp_zap,
	TP_PROTO(u64 gfn, u32 role, int level), TP_ARGS(gfn, role, level));

/* every VM exit, before its handler: the basic reason, RIP, qualification */
TRACE_EVENT(exit,
	TP_PROTO(u32 reason, u64 rip, u64 qual),
	TP_ARGS(reason, rip, qual),
	TP_STRUCT__entry(
		__field(u32, reason)
		__field(u64, rip)
		__field(u64, qual)
	),
	TP_fast_assign(
		__entry->reason = reason;
		__entry->rip = rip;
		__entry->qual = qual;
	),
	TP_printk("reason %u rip 0x%llx qual 0x%llx%s", __entry->reason & 0xffff,
		  __entry->rip, __entry->qual,
		  __entry->reason & (1u << 31) ? " entry-failed" : "")
);

TRACE_EVENT(pt_write,
	TP_PROTO(u64 gpa, unsigned int len),
	TP_ARGS(gpa, len),
	TP_STRUCT__entry(
		__field(u64, gpa)
		__field(unsigned int, len)
	),
	TP_fast_assign(
		__entry->gpa = gpa;
		__entry->len = len;
	),
	TP_printk("gpa 0x%llx len %u", __entry->gpa, __entry->len)
);

TRACE_EVENT(root_switch,
	TP_PROTO(u64 cr3, int hit),
	TP_ARGS(cr3, hit),
	TP_STRUCT__entry(
		__field(u64, cr3)
		__field(int, hit)
	),
	TP_fast_assign(
		__entry->cr3 = cr3;
		__entry->hit = hit;
	),
	TP_printk("cr3 0x%llx %s", __entry->cr3, __entry->hit ? "hit" : "miss")
);

/* an event written into the VM-entry interruption information */
TRACE_EVENT(inject,
	TP_PROTO(u32 info, u32 error_code),
	TP_ARGS(info, error_code),
	TP_STRUCT__entry(
		__field(u32, info)
		__field(u32, error_code)
	),
	TP_fast_assign(
		__entry->info = info;
		__entry->error_code = error_code;
	),
	TP_printk("type %u vector %u%s error 0x%x", (__entry->info >> 8) & 7,
		  __entry->info & 0xff, __entry->info & (1u << 11) ? " with" : " no",
		  __entry->error_code)
);

#endif /* _SHADOWVM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
