// SPDX-License-Identifier: GPL-2.0
/*
 * testvm-heartbeat - runs in the test VM (started by /init): writes one byte
 * to Bochs's debug port 0xe9 every tenth of a guest second. Bochs copies it
 * to its stdout at once, so testvm/boot.sh can tell a guest whose kernel no
 * longer schedules (a CPU halted with interrupts off, a lockup) from a slow
 * one, and stop it early. Guest time can run 100 times slower than wall
 * time (code that writes to pages it executes), hence the short period.
 */
#include <sys/io.h>
#include <time.h>

int main(void)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 100000000 };

	if (ioperm(0xe9, 1, 1))
		return 1;
	for (;;) {
		outb('.', 0xe9);
		nanosleep(&tick, NULL);
	}
}
