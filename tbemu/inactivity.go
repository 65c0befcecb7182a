package tbemu

import "time"

func (s *Server) expireLoop() {
	t := time.NewTicker(min(3*time.Second, s.opts.InactivityTimeout/4))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.expireIdle(now)
		}
	}
}

// expireIdle drops gateway sub-sessions whose device was idle for the
// inactivity timeout (silently, as ThingsBoard does) and closes connections that sent
// nothing for that long.
func (s *Server) expireIdle(now time.Time) {
	limit := now.Add(-s.opts.InactivityTimeout)
	var idle []*session
	s.mu.Lock()
	for _, ss := range s.sessions {
		if ss.lastSeen.Before(limit) && !ss.closed {
			ss.closed = true
			idle = append(idle, ss)
			continue
		}
		for name, d := range ss.subDevs {
			if d.lastActivity.Before(limit) {
				delete(ss.subDevs, name)
				if d.owner == ss {
					d.owner = nil
					d.lastDisconnect = now
				}
			}
		}
	}
	s.mu.Unlock()
	for _, ss := range idle {
		s.log.Info("closing idle session", "device", ss.name())
		s.closeSession(ss, 0)
	}
	s.notify()
}
