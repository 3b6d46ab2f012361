// SPDX-License-Identifier: GPL-2.0
/*
 * threads_test: two VMs running at the same time in two threads of one
 * process. Each guest prints its own line many times through the UART and
 * ends through the exit port with its own code; each thread's captured
 * output must be exactly its guest's lines (no loss, no mixing), and both
 * must have been inside RUN concurrently (barrier before the first RUN).
 * With 2 or more online CPUs, the two threads must also have run at the
 * same instant (lib/concurrency.h: more CPU time than wall time during a
 * thread's run loop); with one CPU that assertion is skipped and logged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "concurrency.h"

#define LINES	200

/* EBX = lines to print, the NUL-terminated line is at TVM_DATA,
 * EDI = exit code */
GUEST_CODE(printer_guest,
	"2: mov $0x9000, %esi\n"
	"1: lodsb\n"
	"test %al, %al\n"
	"jz 3f\n"
	"mov $0x3f8, %dx\n"
	"out %al, %dx\n"
	"jmp 1b\n"
	"3: dec %ebx\n"
	"jnz 2b\n"
	"mov %edi, %eax\n"
	"out %al, $0xf4\n"
	"hlt\n");

struct worker {
	char line[64];
	int code;
	pthread_barrier_t *barrier;
	struct conc *conc;
	/* results */
	int err;
	enum run_result rr;
	uint32_t exit_value;
	char *out;
	size_t out_len;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct be_regs regs;
	struct be_exit e;
	struct conc_span span;
	struct tvm t;

	conc_join(w->conc);
	w->err = tvm_create(&t, tvm_default_kind(), TVM_MEM_DEFAULT);
	pthread_barrier_wait(w->barrier);
	if (w->err)
		return NULL;
	strcpy(tvm_ptr(&t, TVM_DATA), w->line);
	w->err = tvm_load(&t, TVM_CODE, printer_guest,
			  GUEST_SIZE(printer_guest));
	if (!w->err)
		w->err = be_get_regs(&t.vcpu, &regs);
	if (!w->err) {
		regs.rbx = LINES;
		regs.rdi = w->code;
		w->err = be_set_regs(&t.vcpu, &regs);
	}
	pthread_barrier_wait(w->barrier);
	if (w->err) {
		tvm_destroy(&t);
		return NULL;
	}
	conc_span_begin(w->conc, &span);
	w->rr = tvm_run_loop(&t, &e);
	conc_span_end(w->conc, &span);
	w->exit_value = t.dev.exit_value;
	w->out = t.dev.out;
	w->out_len = t.dev.out_len;
	t.dev.out = NULL;		/* keep it past tvm_destroy */
	tvm_destroy(&t);
	return NULL;
}

TEST(two_vms_two_threads)
{
	struct worker w[2];
	pthread_barrier_t barrier;
	struct conc conc;
	pthread_t th[2];
	int i, j;

	if (access(be_ops_by_kind(tvm_default_kind())->dev_path, F_OK))
		SKIP(return, "%s backend device missing",
		     be_ops_by_kind(tvm_default_kind())->name);
	ASSERT_EQ(0, pthread_barrier_init(&barrier, NULL, 2));
	memset(w, 0, sizeof(w));
	conc_init(&conc, 2);
	for (i = 0; i < 2; i++) {
		snprintf(w[i].line, sizeof(w[i].line),
			 "vm %c says hello, line of thread %d\n", 'A' + i, i);
		w[i].code = 40 + i;
		w[i].barrier = &barrier;
		w[i].conc = &conc;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_fn, &w[i]));
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	for (i = 0; i < 2; i++) {
		size_t len = strlen(w[i].line);

		ASSERT_EQ(0, w[i].err) TH_LOG("vm %d: %s", i,
					      strerror(-w[i].err));
		EXPECT_EQ(RUN_EXIT_PORT, w[i].rr) TH_LOG("vm %d", i);
		EXPECT_EQ((uint32_t)w[i].code, w[i].exit_value);
		ASSERT_EQ(len * LINES, w[i].out_len) TH_LOG("vm %d", i);
		for (j = 0; j < LINES; j++)
			ASSERT_EQ(0, memcmp(w[i].out + j * len, w[i].line,
					    len))
				TH_LOG("vm %d line %d differs", i, j);
		free(w[i].out);
	}
	pthread_barrier_destroy(&barrier);
	CONC_EXPECT_PARALLEL(&conc, "two vCPU threads");
	conc_destroy(&conc);
}

TEST_HARNESS_MAIN
