# SPDX-License-Identifier: GPL-2.0
#
# shadowvm top-level build.
#   make            module + runner + selftests + minios (module against KDIR)
#   make minios     the guest mini-OS images (guests/minios/README.rst)
#   make demo       boot the Bochs test VM and run a demo guest
#   make linux-demo boot the Bochs test VM and, in it, Debian's kernel as a shadowvm
#                   guest running guests/linux/workload (Documentation/linux.rst)
#   make check      boot the Bochs test VMs (one per host CPU) and run the whole
#                   selftest suite split among them
#   make check-full the same with the exhaustive tests at full size (SVMTEST_FULL=1)
#   make check-debug the same on a debug kernel (KASAN, lockdep, kmemleak, ...)
#                   built once into build/debug-kernel/
#   make check-smp  the concurrency tests in a 2-CPU test VM (Documentation/testvm.rst)
#   make check-host run the suite on this machine (real VT-x, as root)
#   make bench      the MMU benchmark in the test VM, shadowvm vs KVM ept=0; results
#                   in build/bench/ (Documentation/performance.rst; MMU_BENCH_* env)
#   make W=1        extra module warnings

KDIR ?= /lib/modules/$(shell uname -r)/build
TOP := $(CURDIR)

.PHONY: all module runner selftests minios clean demo linux-demo check check-full check-debug check-smp check-host bench

all: module runner selftests minios

module:
	$(MAKE) -C $(KDIR) M=$(TOP) modules

runner:
	$(MAKE) -C userspace-tool

selftests:
	$(MAKE) -C selftests

minios:
	$(MAKE) -C guests/minios

demo:
	bash testvm/demo.sh

linux-demo:
	bash testvm/linux-demo.sh

check:
	bash testvm/check.sh

# the exhaustive tests at full size (SVMTEST_FULL=1, Documentation/testvm.rst)
check-full:
	TESTVM_APPEND="$(strip $(TESTVM_APPEND) svmtest.env.SVMTEST_FULL=1)" \
		bash testvm/check.sh

check-debug:
	bash testvm/check-debug.sh
# the tests that claim concurrency, on two emulated CPUs: their
# parallelism assertions (selftests/lib/concurrency.h) are skipped on one
SMP_TESTS := threads_test,mmu_smp_test,lock_atomic_test,slot_race_test,uffd_test,vcpu_close_race_test
check-smp:
	TESTVM_APPEND="$(strip $(TESTVM_APPEND) svmtest.only=$(SMP_TESTS))" \
		bash testvm/check.sh --cpus 2

bench:
	bash testvm/bench.sh

check-host: all
	bash selftests/run_host.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(TOP) clean
	-$(MAKE) -C userspace-tool clean
	-$(MAKE) -C selftests clean
	-$(MAKE) -C guests/minios clean
	rm -rf build
