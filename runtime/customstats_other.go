//go:build !unix

package runtime

import "os/exec"

// killProcessGroup leaves cmd's default cancellation (killing the command itself) where process groups are not
// available.
func killProcessGroup(cmd *exec.Cmd) {}
