//go:build !(linux && cgo)

package mntns

// Entered: without cgo there is no constructor to enter a namespace.
func Entered() bool { return false }

// Made: without cgo there is no constructor to make a namespace.
func Made() bool { return false }
