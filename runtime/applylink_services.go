package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/tbgateway/tbgateway/config"
	"github.com/tbgateway/tbgateway/internal/backoff"
)

// services are the gateway's background loops that are restarted when their settings in the thingsboard section
// change: the check of the configuration files (checkConnectorsConfigurationInSeconds) and the device activity
// checks (checkingDeviceActivity). Run starts them and stops
// them before it returns; a new thingsboard section restarts the ones whose settings changed (ApplyThingsboard).
// The statistics schedules read their settings again themselves (statisticsChanged).
type services struct {
	mu    sync.Mutex
	ctx   context.Context // Run's, while it runs; nil otherwise
	wg    *sync.WaitGroup // Run's
	watch *service
	// activity runs the device activity checks (checkingDeviceActivity).
	activity *service
}

// service is one running loop.
type service struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start starts the loops cfg enables, under ctx; Run waits for them with wg.
func (s *services) start(g *Gateway, ctx context.Context, wg *sync.WaitGroup, cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx, s.wg = ctx, wg
	s.watch = s.spawnWatch(g, cfg)
	s.activity = s.spawnActivity(g, cfg)
}

// stop stops every loop and waits for them; restart does nothing afterwards.
func (s *services) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch.stop()
	s.activity.stop()
	s.ctx, s.watch, s.activity = nil, nil, nil
}

// restart restarts the loops whose settings differ between old and next (next is in force already).
func (s *services) restart(g *Gateway, old, next *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return
	}
	if old.Thingsboard.CheckConnectorsConfigurationInSeconds != next.Thingsboard.CheckConnectorsConfigurationInSeconds {
		s.watch.stop()
		s.watch = s.spawnWatch(g, next)
	}
	if old.Thingsboard.CheckingDeviceActivity != next.Thingsboard.CheckingDeviceActivity {
		s.activity.stop()
		s.activity = s.spawnActivity(g, next)
	}
}

// spawnActivity starts the device activity checks when cfg turns them on.
func (s *services) spawnActivity(g *Gateway, cfg *config.Config) *service {
	if !cfg.Thingsboard.CheckingDeviceActivity.CheckDeviceInactivity {
		return nil
	}
	return s.spawn(func(ctx context.Context) {
		Supervise(ctx, "device-activity", g.runActivityChecks, backoff.Policy{}, g.log, nil)
	})
}

func (s *services) spawnWatch(g *Gateway, cfg *config.Config) *service {
	period := time.Duration(cfg.Thingsboard.CheckConnectorsConfigurationInSeconds) * time.Second
	if period <= 0 {
		return nil
	}
	return s.spawn(func(ctx context.Context) { g.watchFiles(ctx, period) })
}

// spawn runs loop under a context of its own, derived from Run's. Caller holds s.mu.
func (s *services) spawn(loop func(context.Context)) *service {
	ctx, cancel := context.WithCancel(s.ctx)
	sv := &service{cancel: cancel, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(sv.done)
		loop(ctx)
	}()
	return sv
}

// stop cancels the loop and waits for it; nil is a loop that does not run.
func (sv *service) stop() {
	if sv == nil {
		return
	}
	sv.cancel()
	<-sv.done
}
