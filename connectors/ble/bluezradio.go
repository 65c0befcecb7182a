package ble

import (
	"context"
	"errors"
)

// openBlueZ dials the system bus (Config.BusAddress) and finds the adapter (Config.Adapter).
func openBlueZ(ctx context.Context, c *Config) (radio, func() error, error) {
	return nil, nil, errors.New("BlueZ client not built yet")
}
