//go:build linux && cgo

// The start helper (see Start in liblxc.go). When the binary is executed
// with argv[0] = "nixcloud-container-lxc-start" and two arguments (lxcpath,
// name), this constructor starts the container through liblxc and exits
// before the Go runtime is set up: the LXC monitor that liblxc's daemonised
// start forks off is then a fork of a process that has loaded liblxc and
// touched nothing else (no Go heap, threads or signal handlers), as small
// as the one lxc-start leaves. Exit status: 0 started, 3 already running,
// 1 failed (one line on stderr).

#include <lxc/lxccontainer.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NCC_START_HELPER_ARG0 "nixcloud-container-lxc-start"
#define NCC_START_HELPER_RUNNING 3

static int ncc_start(const char *lxcpath, const char *name)
{
	struct lxc_container *c = lxc_container_new(name, lxcpath);
	int ret = 1;

	if (!c) {
		fprintf(stderr, "open: container %s in %s cannot be opened\n", name, lxcpath);
		return 1;
	}
	if (!c->is_defined(c)) {
		fprintf(stderr, "container is not defined in LXC\n");
		goto out;
	}
	if (c->is_running(c)) {
		ret = NCC_START_HELPER_RUNNING;
		goto out;
	}
	if (!c->start(c, 0, NULL)) {
		fprintf(stderr, "starting the container failed\n");
		goto out;
	}
	if (!c->wait(c, "RUNNING", 30)) {
		fprintf(stderr, "container did not reach RUNNING\n");
		goto out;
	}
	ret = 0;
out:
	lxc_container_put(c);
	return ret;
}

__attribute__((constructor)) static void ncc_start_helper(int argc, char **argv)
{
	if (argc != 3 || argv == NULL || argv[0] == NULL ||
	    strcmp(argv[0], NCC_START_HELPER_ARG0) != 0)
		return;
	/* Standard input and output are /dev/null (set by Start); they stay
	 * open, or liblxc's own descriptors would take their numbers and be
	 * redirected to /dev/null when it daemonises. */
	int ret = ncc_start(argv[1], argv[2]);
	fflush(stderr);
	_exit(ret);
}
