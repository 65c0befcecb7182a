//go:build !unix

package runtime

// openNoFollow is zero where the system has no O_NOFOLLOW (Windows, where creating symbolic links needs a
// privilege ordinary users lack).
const openNoFollow = 0
