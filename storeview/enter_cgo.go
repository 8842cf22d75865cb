//go:build linux && cgo

package storeview

/*
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ncc_store_mntns_entered;

// The add helper (see helper.go) works in the mount namespace that holds
// a container's store view, which may not be the caller's. A Go process
// is multi-threaded from its start and cannot setns(CLONE_NEWNS), so this
// runs before the Go runtime does, in the helper only: with
// _NIXCLOUD_CONTAINER_STORE_MNTNS=FD it enters the namespace FD refers to.
__attribute__((constructor)) static void ncc_store_enter_mntns(void) {
	const char *v = getenv("_NIXCLOUD_CONTAINER_STORE_MNTNS");
	if (v == NULL || *v == '\0')
		return;
	int fd = atoi(v);
	unsetenv("_NIXCLOUD_CONTAINER_STORE_MNTNS");
	if (fd < 3 || setns(fd, CLONE_NEWNS) != 0) {
		fprintf(stderr, "enter the store view's mount namespace: %s\n", strerror(fd < 3 ? EBADF : errno));
		_exit(1);
	}
	close(fd);
	ncc_store_mntns_entered = 1;
}
*/
import "C"

// entered reports whether the constructor entered the mount namespace.
func entered() bool { return C.ncc_store_mntns_entered == 1 }
