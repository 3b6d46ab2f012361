/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names of the shadowvm statistics counters: shadowvm_stat_names[i] is the
 * lowercase name of SHADOWVM_STAT_<NAME> (without the prefix), so the
 * runner and the selftests print and look up counters the same way.
 */
#ifndef SHADOWVM_STATS_NAMES_H
#define SHADOWVM_STATS_NAMES_H

#include <linux/shadowvm.h>

extern const char *const shadowvm_stat_names[SHADOWVM_STAT_NR];

#endif /* SHADOWVM_STATS_NAMES_H */
