// SPDX-License-Identifier: GPL-2.0
/*
 * "shadowvm stat": what every live shadowvm VM on this host is doing.
 *
 * Contract: reads debugfs (/sys/kernel/debug/shadowvm, or $SHADOWVM_DEBUGFS)
 * and prints, per VM, its counters by name (non-zero ones unless --all)
 * and one line per guest address space (CR3) with its own loads, root
 * cache hits and misses, true and hidden faults and emulated page-table
 * writes. Exit status 0, or 125 when debugfs or the module is missing.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "shadowvm_stats.h"

static void print_file(const char *path, const char *indent)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("%s%s", indent, line);
	fclose(f);
}

static void print_vm(const char *dir, const char *name, int all)
{
	char path[1024], line[256];
	unsigned long long v;
	FILE *f;
	int id;

	printf("%s:\n", name);
	snprintf(path, sizeof(path), "%s/%s/stats", dir, name);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%d %llu", &id, &v) != 2)
				continue;
			if (!v && !all)
				continue;
			if (id >= 0 && id < SHADOWVM_STAT_NR && shadowvm_stat_names[id])
				printf("  %-24s %llu\n", shadowvm_stat_names[id], v);
			else
				printf("  stat_%-19d %llu\n", id, v);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "%s/%s/address_spaces", dir, name);
	printf("  guest address spaces:\n");
	print_file(path, "    ");
}

int cmd_stat(int argc, char **argv)
{
	const char *dir = getenv("SHADOWVM_DEBUGFS");
	char path[1024];
	struct dirent *de;
	int all = 0, n = 0, i;
	DIR *d;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all")) {
			all = 1;
		} else {
			fprintf(stderr, "shadowvm: usage: shadowvm stat [--all]\n");
			return 125;
		}
	}
	if (!dir)
		dir = "/sys/kernel/debug/shadowvm";
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "shadowvm: cannot open %s: is the module loaded and debugfs mounted (mount -t debugfs none /sys/kernel/debug)?\n",
			dir);
		return 125;
	}
	snprintf(path, sizeof(path), "%s/module", dir);
	printf("module:\n");
	print_file(path, "  ");
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vm", 2))
			continue;
		print_vm(dir, de->d_name, all);
		n++;
	}
	closedir(d);
	if (!n)
		printf("no live VMs\n");
	return 0;
}
