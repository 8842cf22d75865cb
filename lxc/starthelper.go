//go:build linux && cgo

package lxc

// starthelper.c holds the start helper, a C constructor that runs before
// the Go runtime; this file makes the package a cgo one so that it is
// compiled and linked, against liblxc as go-lxc is.

// #cgo pkg-config: lxc
// #cgo CFLAGS: -std=gnu11 -Wall -Werror
import "C"
