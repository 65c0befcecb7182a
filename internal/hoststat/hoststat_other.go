//go:build !linux

package hoststat

import (
	"errors"
	"time"
)

var errNotLinux = errors.New("machine figures are read on Linux only")

// DiskUsage returns the usage of the filesystem holding path (Linux only).
func DiskUsage(path string) (Disk, error) { return Disk{}, errNotLinux }

// ProcessCPU returns the CPU time the gateway process has used so far (Linux only).
func ProcessCPU() (time.Duration, error) { return 0, errNotLinux }
