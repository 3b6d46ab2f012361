// SPDX-License-Identifier: GPL-2.0
/*
 * Running the runner binary from a test; contract in runner_exec.h.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "runner_exec.h"
#include "svmtest.h"

int rx_find_file(const char *env, const char *name, char *path, size_t len)
{
	char self[1024], *slash;
	ssize_t n;
	const char *e = getenv(env);

	if (e && *e) {
		snprintf(path, len, "%s", e);
		return access(path, R_OK) ? -1 : 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(path, len, "%s/%s", self, name) >= len)
		return -1;
	if (!access(path, R_OK))
		return 0;
	/* selftests/bin/<test> -> userspace-tool/<name> */
	if ((size_t)snprintf(path, len, "%s/../../userspace-tool/%s", self,
			     name) >= len)
		return -1;
	return access(path, R_OK) ? -1 : 0;
}

static size_t slurp(int fd, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (off < len - 1 && (n = read(fd, buf + off, len - 1 - off)) > 0)
		off += n;
	buf[off] = 0;
	return off;
}

int rx_run(const char *runner, const char *const *args, const char *dev,
	   const char *in, int force_backend, struct rx_result *r)
{
	return rx_run_for(RX_DEFAULT_SECONDS, runner, args, dev, in,
			  force_backend, r);
}

/*
 * argv (room for 28) = runner, args... (at most 24), NULL; with
 * SVMTEST_BACKEND=kvm (a developer aid), "run" gets "--backend kvm"
 * unless force_backend.
 */
static void build_argv(const char **argv, const char *runner,
		       const char *const *args, int force_backend)
{
	int i;

	argv[0] = runner;
	for (i = 0; args[i] && i < 24; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (!force_backend && tvm_default_kind() == BE_KVM && args[0] &&
	    !strcmp(args[0], "run")) {
		memmove(argv + 4, argv + 2, i * sizeof(argv[0]));
		argv[2] = "--backend";
		argv[3] = "kvm";
	}
}

int rx_run_for(unsigned int seconds, const char *runner,
	       const char *const *args, const char *dev, const char *in,
	       int force_backend, struct rx_result *r)
{
	char outp[] = "/tmp/svm_out_XXXXXX", errp[] = "/tmp/svm_err_XXXXXX";
	const char *argv[32];
	int ofd, efd, status;
	pid_t pid;

	ofd = mkstemp(outp);
	efd = mkstemp(errp);
	if (ofd < 0 || efd < 0)
		return -1;
	unlink(outp);
	unlink(errp);
	build_argv(argv, runner, args, force_backend);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int ifd = open(in ? in : "/dev/null", O_RDONLY);

		if (ifd >= 0)
			dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		if (dev)
			setenv("SHADOWVM_DEVICE", dev, 1);
		else
			unsetenv("SHADOWVM_DEVICE");
		alarm(seconds);
		execv(runner, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    -WTERMSIG(status);
	r->out_len = slurp(ofd, r->out, sizeof(r->out));
	slurp(efd, r->err, sizeof(r->err));
	close(ofd);
	close(efd);
	return 0;
}

/*
 * Append what fd has to buf (len bytes of cap, kept NUL terminated; what
 * does not fit is dropped). read()'s result: 0 at end of file.
 */
static ssize_t take(int fd, char *buf, size_t *len, size_t cap)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	size_t k;

	if (n <= 0)
		return n;
	k = cap - 1 - *len;
	if ((size_t)n < k)
		k = n;
	memcpy(buf + *len, tmp, k);
	*len += k;
	buf[*len] = 0;
	return n;
}

int rx_run_interactive(unsigned int seconds, const char *runner,
		       const char *const *args, const char *ready,
		       const char *input, unsigned int typed_seconds,
		       struct rx_result *r)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int status, open_fds = 2, i;
	const char *argv[32];
	time_t start = time(NULL), end = start + seconds;
	size_t elen = 0;
	pid_t pid = -1;

	if (!pipe(in) && !pipe(out) && !pipe(err))
		pid = fork();
	if (pid < 0) {
		for (i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (out[i] >= 0)
				close(out[i]);
			if (err[i] >= 0)
				close(err[i]);
		}
		return -1;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(in[1]);
		close(out[0]);
		close(err[0]);
		unsetenv("SHADOWVM_DEVICE");
		build_argv(argv, runner, args, 1);
		execv(runner, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	signal(SIGPIPE, SIG_IGN);
	r->out_len = 0;
	r->out[0] = 0;
	r->err[0] = 0;
	r->typed_after = -1;
	while (open_fds && time(NULL) < end) {
		struct pollfd p[2] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = err[0], .events = POLLIN },
		};

		if (poll(p, 2, 1000) < 0)
			continue;
		if (p[0].revents &&
		    take(out[0], r->out, &r->out_len, sizeof(r->out)) <= 0) {
			close(out[0]);
			out[0] = -1;
			open_fds--;
		}
		if (p[1].revents &&
		    take(err[0], r->err, &elen, sizeof(r->err)) <= 0) {
			close(err[0]);
			err[0] = -1;
			open_fds--;
		}
		if (r->typed_after < 0 && strstr(r->out, ready)) {
			/* the guest is ready: type, then end of file */
			if (write(in[1], input, strlen(input)) !=
			    (ssize_t)strlen(input))
				break;
			close(in[1]);
			in[1] = -1;
			r->typed_after = time(NULL) - start;
			if (end > time(NULL) + typed_seconds)
				end = time(NULL) + typed_seconds;
		}
	}
	r->timed_out = open_fds;
	if (open_fds)
		kill(pid, SIGKILL);
	if (in[1] >= 0)
		close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	if (err[0] >= 0)
		close(err[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    -WTERMSIG(status);
	return 0;
}

int rx_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, data, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/*
 * Load a module NAME(.ko|.ko.xz|.ko.zst|.ko.gz) from DIR: 0, -EEXIST when
 * it is loaded already, or -errno.
 */
static int load_from_dir(const char *dir, const char *name, const char *params)
{
	static const char *const ext[] = { ".ko", ".ko.xz", ".ko.zst", ".ko.gz" };
	char path[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext[i]);
		if (!access(path, R_OK))
			return module_load(path, params);
	}
	return -ENOENT;
}

/* what rx_kvm_load() loaded, in load order; rx_kvm_unload() undoes it */
static const char *const kvm_mods[][3] = {
	{ "irqbypass", "irqbypass", "" },
	{ "kvm", "kvm", "" },
	{ "kvm-intel", "kvm_intel", "ept=0" },
};

int rx_kvm_load(unsigned int *loaded)
{
	const char *dir = getenv("KVM_MODULES_DIR");
	unsigned int i;
	int ret;

	*loaded = 0;
	if (!access("/dev/kvm", R_OK | W_OK))
		return 0;
	if (!dir || !*dir)
		return -ENOENT;
	for (i = 0; i < 3; i++) {
		if (module_loaded(kvm_mods[i][1]))
			continue;
		ret = load_from_dir(dir, kvm_mods[i][0], kvm_mods[i][2]);
		if (ret == -EINVAL && kvm_mods[i][2][0])
			ret = load_from_dir(dir, kvm_mods[i][0], "");
		if (ret && ret != -EEXIST)
			return ret;
		if (!ret)
			*loaded |= 1u << i;
	}
	for (i = 0; i < 50 && access("/dev/kvm", R_OK | W_OK); i++)
		usleep(100 * 1000);
	return access("/dev/kvm", R_OK | W_OK) ? -ENODEV : 0;
}

bool rx_kvm_holds_vtx_at_load(void)
{
	FILE *f = fopen("/sys/module/kvm/parameters/enable_virt_at_load", "re");
	int c;

	if (!f)
		return false;
	c = fgetc(f);
	fclose(f);
	return c == 'Y' || c == 'y' || c == '1';
}

unsigned int rx_kvm_loaded_mask(void)
{
	unsigned int i, mask = 0;

	for (i = 0; i < 3; i++)
		if (module_loaded(kvm_mods[i][1]))
			mask |= 1u << i;
	return mask;
}

void rx_kvm_unload_new(unsigned int preloaded)
{
	unsigned int mask = rx_kvm_loaded_mask() & ~preloaded, left;

	if (!mask)
		return;
	rx_kvm_unload(mask);
	left = rx_kvm_loaded_mask() & mask;
	if (left)
		printf("# warning: kvm modules (mask 0x%x) still loaded at exit\n",
		       left);
	else
		printf("# kvm modules loaded by the cases (mask 0x%x) unloaded at exit\n",
		       mask);
	fflush(stdout);
}

void rx_kvm_unload(unsigned int loaded)
{
	int i, j;

	for (i = 2; i >= 0; i--) {
		if (!(loaded & (1u << i)))
			continue;
		/* the runner's KVM fds are closed, but release can lag */
		for (j = 0; j < 50 && module_unload(kvm_mods[i][1]); j++)
			usleep(100 * 1000);
	}
}

size_t rx_elf_image(uint8_t *buf, bool is64, uint64_t paddr,
		    const void *head, size_t hlen, const uint8_t *code,
		    size_t len)
{
	size_t off = is64 ? sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) :
		     sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr);

	memset(buf, 0, off);
	memcpy(buf + off, head, hlen);
	memcpy(buf + off + hlen, code, len);
	if (is64) {
		Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
		Elf64_Phdr *ph = (Elf64_Phdr *)(eh + 1);

		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS64;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_ident[EI_VERSION] = EV_CURRENT;
		eh->e_type = ET_EXEC;
		eh->e_machine = EM_X86_64;
		eh->e_version = EV_CURRENT;
		eh->e_entry = paddr + hlen;
		eh->e_phoff = sizeof(*eh);
		eh->e_ehsize = sizeof(*eh);
		eh->e_phentsize = sizeof(*ph);
		eh->e_phnum = 1;
		ph->p_type = PT_LOAD;
		ph->p_offset = off;
		ph->p_vaddr = paddr;
		ph->p_paddr = paddr;
		ph->p_filesz = hlen + len;
		ph->p_memsz = hlen + len + 0x1000;
		ph->p_flags = PF_R | PF_W | PF_X;
	} else {
		Elf32_Ehdr *eh = (Elf32_Ehdr *)buf;
		Elf32_Phdr *ph = (Elf32_Phdr *)(eh + 1);

		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS32;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_ident[EI_VERSION] = EV_CURRENT;
		eh->e_type = ET_EXEC;
		eh->e_machine = EM_386;
		eh->e_version = EV_CURRENT;
		eh->e_entry = paddr + hlen;
		eh->e_phoff = sizeof(*eh);
		eh->e_ehsize = sizeof(*eh);
		eh->e_phentsize = sizeof(*ph);
		eh->e_phnum = 1;
		ph->p_type = PT_LOAD;
		ph->p_offset = off;
		ph->p_vaddr = 0xc0000000 + paddr;	/* ignored */
		ph->p_paddr = paddr;
		ph->p_filesz = hlen + len;
		ph->p_memsz = hlen + len + 0x1000;
		ph->p_flags = PF_R | PF_W | PF_X;
	}
	return off + hlen + len;
}
