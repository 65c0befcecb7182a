package uplink

import (
	"errors"
	"testing"

	"github.com/tbgateway/tbgateway/storage/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func newMemStore() *memory.Store { return memory.New(memory.Options{}) }
