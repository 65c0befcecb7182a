//go:build !linux

package bluezsim

import "syscall"

// daemonAttr is nil where the kernel cannot tie the daemon's life to its parent's.
func daemonAttr() *syscall.SysProcAttr { return nil }
