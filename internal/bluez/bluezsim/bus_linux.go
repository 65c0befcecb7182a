package bluezsim

import "syscall"

// daemonAttr makes the kernel kill the daemon when the process that started it dies (a test binary killed by its
// timeout, a benchmark interrupted), so no private bus outlives its user.
func daemonAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
