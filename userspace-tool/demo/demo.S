/* SPDX-License-Identifier: GPL-2.0 */
/*
 * demo.bin: 32-bit flat guest for "shadowvm run demo.bin".
 *
 * Contract: loaded and entered at 0x100000 in flat protected mode (paging
 * off) with ESP = 0x100000. Prints a greeting and the hypervisor signature
 * (CPUID 0x40000000) through the 16550 UART at 0x3f8, writes a pattern to
 * 256 pages at 0x200000..0x2fffff (needs >= 3 MiB of RAM), reads it back,
 * prints "demo: 256 pages written and verified: OK" (or the number of
 * mismatches), and ends the run with HLT (interrupts off: runner status 0)
 * on success, or by writing 1 to port 0xf4 (runner status 3) on a
 * mismatch.
 */
	.code32
	.text
	.globl _start
_start:
	cld
	mov	$greeting, %esi
	call	puts

	/* hypervisor signature, when CPUID.1:ECX.hypervisor is set */
	mov	$1, %eax
	cpuid
	test	$0x80000000, %ecx
	jz	1f
	mov	$0x40000000, %eax
	cpuid
	mov	%ebx, sig
	mov	%ecx, sig + 4
	mov	%edx, sig + 8
	mov	$hvmsg, %esi
	call	puts
	mov	$sig, %esi
	call	puts
	mov	$nl, %esi
	call	puts
1:
	/* write: first and last dword of each page = address ^ pattern */
	mov	$0x200000, %edi
	mov	$256, %ecx
2:	mov	%edi, %eax
	xor	$0xa5a5a5a5, %eax
	mov	%eax, (%edi)
	mov	%eax, 4092(%edi)
	add	$4096, %edi
	loop	2b

	/* read back, count mismatching pages in %ebx */
	xor	%ebx, %ebx
	mov	$0x200000, %edi
	mov	$256, %ecx
3:	mov	%edi, %eax
	xor	$0xa5a5a5a5, %eax
	cmp	%eax, (%edi)
	jne	4f
	cmp	%eax, 4092(%edi)
	je	5f
4:	inc	%ebx
5:	add	$4096, %edi
	loop	3b

	mov	$result, %esi
	call	puts
	test	%ebx, %ebx
	jnz	6f
	mov	$ok, %esi
	call	puts
	cli				/* success: hlt with IF=0, status 0 */
	jmp	halt
6:	mov	$failed, %esi
	call	puts
	mov	%ebx, %eax
	call	putdec
	mov	$mismatches, %esi
	call	puts
	mov	$1, %eax
	out	%al, $0xf4
halt:	hlt
	jmp	halt

/* putc: %al -> UART, waits for THR empty (LSR bit 5) */
putc:
	push	%edx
	push	%eax
	mov	$0x3fd, %dx
1:	in	%dx, %al
	test	$0x20, %al
	jz	1b
	pop	%eax
	mov	$0x3f8, %dx
	out	%al, %dx
	pop	%edx
	ret

/* puts: NUL-terminated string at %esi */
puts:
	push	%eax
1:	lodsb
	test	%al, %al
	jz	2f
	call	putc
	jmp	1b
2:	pop	%eax
	ret

/* putdec: unsigned %eax in decimal */
putdec:
	push	%ebx
	push	%ecx
	push	%edx
	mov	$10, %ebx
	xor	%ecx, %ecx
1:	xor	%edx, %edx
	div	%ebx
	push	%edx
	inc	%ecx
	test	%eax, %eax
	jnz	1b
2:	pop	%eax
	add	$'0', %al
	call	putc
	loop	2b
	pop	%edx
	pop	%ecx
	pop	%ebx
	ret

	.data
greeting:	.asciz "Hello from a shadowvm guest!\n"
hvmsg:		.asciz "demo: hypervisor signature: "
nl:		.asciz "\n"
result:		.asciz "demo: 256 pages written and verified: "
ok:		.asciz "OK\n"
failed:		.asciz "FAILED, "
mismatches:	.asciz " mismatching pages\n"
sig:		.long 0, 0, 0, 0
