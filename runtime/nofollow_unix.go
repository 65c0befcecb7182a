//go:build unix

package runtime

import "syscall"

// openNoFollow is the open flag that makes opening a symbolic link fail, so a state file cannot be redirected.
const openNoFollow = syscall.O_NOFOLLOW
