//go:build linux && cgo

package mntns

/*
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int ncc_mntns_state;

// A Go process is multi-threaded from its start and can neither setns()
// into a mount namespace nor unshare() one, so this runs before the Go
// runtime does, in the processes the tool re-executes itself as (the
// store view's helpers, the LXC start helper). With
// _NIXCLOUD_CONTAINER_MNTNS=FD it enters the mount namespace FD refers
// to; with _NIXCLOUD_CONTAINER_MNTNS=new it makes a new one whose mounts
// are slaves of the caller's: the caller's later mounts propagate in,
// nothing made here propagates out. The priority runs it before any
// constructor of default priority (a start helper written in C among
// them), whatever the link order.
__attribute__((constructor(150))) static void ncc_mntns_enter(void) {
	const char *v = getenv("_NIXCLOUD_CONTAINER_MNTNS");
	if (v == NULL || *v == '\0')
		return;
	if (strcmp(v, "new") == 0) {
		unsetenv("_NIXCLOUD_CONTAINER_MNTNS");
		if (unshare(CLONE_NEWNS) != 0) {
			fprintf(stderr, "make a mount namespace: %s\n", strerror(errno));
			_exit(1);
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
			fprintf(stderr, "make the new mount namespace a slave: %s\n", strerror(errno));
			_exit(1);
		}
		ncc_mntns_state = 2;
		return;
	}
	int fd = atoi(v);
	unsetenv("_NIXCLOUD_CONTAINER_MNTNS");
	if (fd < 3 || setns(fd, CLONE_NEWNS) != 0) {
		fprintf(stderr, "enter a mount namespace: %s\n", strerror(fd < 3 ? EBADF : errno));
		_exit(1);
	}
	close(fd);
	ncc_mntns_state = 1;
}
*/
import "C"

// Entered reports whether the process entered a mount namespace (Enter)
// before its Go runtime started.
func Entered() bool { return C.ncc_mntns_state == 1 }

// Made reports whether the process made a new mount namespace (New)
// before its Go runtime started.
func Made() bool { return C.ncc_mntns_state == 2 }
