/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minios user/kernel ABI: the user address-space layout and the system
 * calls. A process calls `int $0x80` with the number in EAX and up to three
 * arguments in EBX, ECX, EDX; the result comes back in EAX (negative on
 * error).
 */
#ifndef MINIOS_ABI_H
#define MINIOS_ABI_H

/* user space: [USER_BASE, USER_END) */
#define USER_BASE	0x40000000u
#define USER_TEXT	0x40000000u	/* the program, read-only, shared */
#define USER_LAZY	0x48000000u	/* from here on: zero-filled on touch */
#define USER_SHARED	0x48000000u	/* init fills it before forking */
#define USER_HEAP	0x50000000u	/* each process's own data */
#define USER_BUF	0x60000000u	/* disk buffers */
#define USER_STACK_TOP	0x80000000u
#define USER_END	0x80000000u

#define SYS_WRITE	1	/* (buf, len): to the serial console */
#define SYS_YIELD	2	/* () */
#define SYS_EXIT	3	/* (status): does not return */
#define SYS_FORK	4	/* (): child pid, or 0 in the child */
#define SYS_WAIT	5	/* (int *status): pid of a reaped child, -1 none */
#define SYS_GETPID	6	/* () */
#define SYS_TICKS	7	/* (): timer ticks since boot */
#define SYS_PARAM	8	/* (id): a boot parameter (PARAM_*) */
#define SYS_DISK	9	/* (op | nsect << 8, sector, buf): 0 or -1 */

#define DISK_OP_READ	0
#define DISK_OP_WRITE	1

#define PARAM_PROCS	0
#define PARAM_ROUNDS	1
#define PARAM_PAGES	2
#define PARAM_SHARED	3
#define PARAM_SECTORS	4
#define PARAM_DISK	5	/* 1 when the disk is present */
#define PARAM_MAXPASS	6
#define PARAM_MINTICKS	7
#define PARAM_VERBOSE	8

#endif
