/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mmu_demo.bin: a tiny guest "OS" that makes the shadow MMU work.
 *
 * Contract: loaded and entered at 0x100000 in flat 32-bit protected mode
 * (paging off), needs 8 MiB of RAM. It installs its own GDT and IDT, builds
 * 32-bit page tables for 8 processes that share the kernel's identity map
 * of 0..8 MiB (supervisor-only) and each map 16 private user pages at
 * 0x40000000, the last one not present. With paging on, a scheduler loop
 * switches CR3 among the processes for 4 rounds, writing and checking a
 * value in every user page; the first touch of the not-present page is a
 * true #PF that the guest's handler serves with a zeroed frame (demand
 * zero). Then it edits a PTE of an inactive process and checks that the
 * edit is seen after switching to it. Prints each step through the UART at
 * 0x3f8 and ends with HLT, interrupts off (runner status 0) on success,
 * through port 0xf4 with 1 or 2 (status 3 or 5) on a failure.
 * What shadowvm saw (true/hidden faults, emulated page-table writes, root
 * cache hits) is printed by "shadowvm run --stats".
 */
	.equ	NPROC, 8
	.equ	NPAGES, 16
	.equ	ROUNDS, 4
	.equ	KPT, 0x400000	/* 2 kernel page tables: 0..8 MiB */
	.equ	PD_BASE, 0x500000	/* page directory of process i */
	.equ	UPT_BASE, 0x600000	/* user page table of process i */
	.equ	DATA_BASE, 0x700000	/* 64 KiB of user frames per process */
	.equ	POOL, 0x780000	/* demand-zero frames */
	.equ	UVA, 0x40000000

	.code32
	.text
	.globl _start
_start:
	cld
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%ax, %fs
	mov	%ax, %gs
	mov	$0x100000, %esp

	mov	$msg_hello, %esi
	call	puts

	/* IDT: every vector to "unexpected", #PF (14) to pf_handler */
	xor	%ecx, %ecx
2:	mov	$unexpected, %eax
	cmp	$14, %ecx
	jne	3f
	mov	$pf_handler, %eax
3:	mov	%eax, %edx
	and	$0xffff, %eax
	or	$0x00080000, %eax		/* selector 0x08 */
	mov	%eax, idt(,%ecx,8)
	and	$0xffff0000, %edx
	or	$0x8e00, %edx			/* present, DPL 0, 32-bit int gate */
	mov	%edx, idt+4(,%ecx,8)
	inc	%ecx
	cmp	$32, %ecx
	jb	2b
	lidt	idt_desc

	/* zero the page-table area 0x400000..0x700000 */
	mov	$KPT, %edi
	mov	$((DATA_BASE - KPT) / 4), %ecx
	xor	%eax, %eax
	rep stosl

	/* kernel page tables: identity 0..8 MiB, supervisor, writable */
	mov	$KPT, %edi
	mov	$0x3, %eax
	mov	$2048, %ecx
4:	stosl
	add	$0x1000, %eax
	loop	4b

	/* per process: PD[0..1] = kernel PTs, PD[256] = its user PT */
	xor	%ebx, %ebx
5:	mov	%ebx, %edi
	shl	$12, %edi
	lea	PD_BASE(%edi), %esi		/* PD */
	movl	$(KPT + 0x3), (%esi)
	movl	$(KPT + 0x1000 + 0x3), 4(%esi)
	lea	UPT_BASE(%edi), %edx		/* user PT */
	lea	0x7(%edx), %eax
	mov	%eax, 256*4(%esi)
	mov	%ebx, %eax
	shl	$16, %eax
	add	$(DATA_BASE + 0x7), %eax	/* user frames: P|W|U */
	mov	$(NPAGES - 1), %ecx
6:	mov	%eax, (%edx)
	add	$4, %edx
	add	$0x1000, %eax
	loop	6b				/* the last PTE stays not present */
	inc	%ebx
	cmp	$NPROC, %ebx
	jb	5b

	/* paging on, in process 0 */
	mov	$PD_BASE, %eax
	mov	%eax, %cr3
	mov	%cr0, %eax
	or	$0x80010000, %eax		/* PG | WP */
	mov	%eax, %cr0
	mov	$msg_paging, %esi
	call	puts

	/* the scheduler: every round, every process touches its pages */
	movl	$0, round
7:	xor	%ebx, %ebx
8:	mov	%ebx, %eax
	shl	$12, %eax
	add	$PD_BASE, %eax
	mov	%eax, %cr3			/* context switch */
	mov	$UVA, %edi
	xor	%ecx, %ecx
9:	mov	round, %edx
	shl	$16, %edx
	mov	%ebx, %eax
	shl	$8, %eax
	or	%eax, %edx
	or	%ecx, %edx			/* value = round.proc.page */
	mov	%edx, (%edi)
	cmp	(%edi), %edx
	jne	fail
	add	$0x1000, %edi
	inc	%ecx
	cmp	$NPAGES, %ecx
	jb	9b
	inc	%ebx
	cmp	$NPROC, %ebx
	jb	8b
	incl	round
	cmpl	$ROUNDS, round
	jb	7b

	mov	$msg_sched, %esi
	call	puts
	mov	pf_count, %eax
	call	putdec
	mov	$msg_sched2, %esi
	call	puts

	/*
	 * We run in process NPROC-1. Through the kernel map, make process
	 * 3's page 0 an alias of its page 1, then switch there and look.
	 */
	mov	UPT_BASE + 3 * 0x1000 + 4, %eax
	mov	%eax, UPT_BASE + 3 * 0x1000
	mov	$(PD_BASE + 3 * 0x1000), %eax
	mov	%eax, %cr3
	mov	UVA, %eax
	cmp	UVA + 0x1000, %eax
	jne	fail
	mov	$msg_edit, %esi
	call	puts

	mov	$msg_ok, %esi
	call	puts
	cli				/* success: hlt with IF=0, status 0 */
	hlt

fail:
	mov	$msg_fail, %esi
	call	puts
	mov	$1, %al
	out	%al, $0xf4
	hlt

unexpected:
	mov	$msg_unexp, %esi
	call	puts
	mov	$2, %al
	out	%al, $0xf4
	hlt

/* #PF: demand-zero for the user window, anything else is a bug */
pf_handler:
	pusha
	mov	%cr2, %eax
	cmp	$UVA, %eax
	jb	unexpected
	cmp	$(UVA + NPAGES * 0x1000), %eax
	jae	unexpected
	testl	$1, 32(%esp)			/* error code P: protection fault? */
	jnz	unexpected
	mov	%cr3, %ebx
	sub	$PD_BASE, %ebx
	add	$UPT_BASE, %ebx			/* this process's user PT */
	sub	$UVA, %eax
	shr	$12, %eax
	lea	(%ebx,%eax,4), %ebx		/* the PTE */
	mov	pool_next, %edi
	addl	$0x1000, pool_next
	mov	%edi, %edx
	mov	$1024, %ecx
	xor	%eax, %eax
	rep stosl				/* a zeroed frame */
	or	$0x7, %edx
	mov	%edx, (%ebx)			/* page-table write */
	incl	pf_count
	popa
	add	$4, %esp			/* drop the error code */
	iret

/* print the NUL-terminated string at %esi */
puts:
	push	%eax
	push	%edx
	mov	$0x3f8, %dx
1:	lodsb
	test	%al, %al
	jz	2f
	out	%al, %dx
	jmp	1b
2:	pop	%edx
	pop	%eax
	ret

/* print %eax in decimal */
putdec:
	pusha
	mov	$numbuf + 11, %edi
	movb	$0, (%edi)
	mov	$10, %ecx
1:	xor	%edx, %edx
	div	%ecx
	add	$'0', %dl
	dec	%edi
	mov	%dl, (%edi)
	test	%eax, %eax
	jnz	1b
	mov	%edi, %esi
	call	puts
	popa
	ret

	.data
	.align	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08: flat code */
	.quad	0x00cf92000000ffff		/* 0x10: flat data */
	.quad	0x00008b0000000067		/* 0x18: TSS (busy) */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
	.align	8
idt_desc:
	.word	32 * 8 - 1
	.long	idt
round:		.long	0
pf_count:	.long	0
pool_next:	.long	POOL
numbuf:		.space	12

msg_hello:	.asciz	"mmu demo: 8 processes, 32-bit paging, on shadow page tables\n"
msg_paging:	.asciz	"mmu demo: paging on\n"
msg_sched:	.asciz	"mmu demo: 4 rounds of context switches done; demand-zero faults served by the guest: "
msg_sched2:	.asciz	"\n"
msg_edit:	.asciz	"mmu demo: a PTE edited in an inactive process is seen after switching to it\n"
msg_ok:		.asciz	"mmu demo: OK\n"
msg_fail:	.asciz	"mmu demo: FAILED: memory check\n"
msg_unexp:	.asciz	"mmu demo: FAILED: unexpected exception\n"

	.bss
	.align	8
idt:	.space	32 * 8
