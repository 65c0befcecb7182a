package tbemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// startHTTP serves the JSON API and the status page on Options.HTTPAddr.
func (s *Server) startHTTP(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.opts.HTTPAddr, err)
	}
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.hURL = "http://" + ln.Addr().String()
	s.goBG(func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	})
	return nil
}

// Handler returns the HTTP API (see README.md) and the page at "/".
func (s *Server) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.page)
	m.HandleFunc("GET /api/overview", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Overview()) })
	m.HandleFunc("GET /api/devices", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Devices()) })
	m.HandleFunc("POST /api/devices", s.httpAddDevice)
	m.HandleFunc("GET /api/devices/{name}", s.httpDevice)
	m.HandleFunc("DELETE /api/devices/{name}", s.httpDeleteDevice)
	m.HandleFunc("POST /api/devices/{name}/rename", s.httpRename)
	m.HandleFunc("GET /api/devices/{name}/telemetry", s.httpTelemetry)
	m.HandleFunc("GET /api/devices/{name}/latest", s.httpLatest)
	m.HandleFunc("GET /api/devices/{name}/attributes/{scope}", s.httpAttributes)
	m.HandleFunc("POST /api/devices/{name}/attributes/{scope}", s.httpSetAttributes)
	m.HandleFunc("DELETE /api/devices/{name}/attributes/shared", s.httpDeleteShared)
	m.HandleFunc("POST /api/devices/{name}/rpc", s.httpRPC)
	m.HandleFunc("GET /api/messages", s.httpMessages)
	m.HandleFunc("POST /api/provision-profiles", s.httpAddProfile)
	m.HandleFunc("POST /api/faults/refuse", s.httpRefuse)
	m.HandleFunc("POST /api/faults/drop", func(w http.ResponseWriter, r *http.Request) {
		s.DropConnections()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /api/faults/puback", s.httpPubAck)
	m.HandleFunc("POST /api/faults/ratelimits", s.httpRateLimits)
	return m
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusBadRequest
	switch {
	case errors.Is(err, ErrNoDevice):
		code = http.StatusNotFound
	case errors.Is(err, ErrRPCTimeout):
		code = http.StatusRequestTimeout
	case errors.Is(err, ErrNoActiveConnection):
		code = http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// readBody decodes a JSON request body into v, keeping numbers exact.
func readBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 16<<20))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func (s *Server) httpAddDevice(w http.ResponseWriter, r *http.Request) {
	var d DeviceSpec
	if err := readBody(r, &d); err != nil {
		httpError(w, err)
		return
	}
	if err := s.AddDevice(d); err != nil {
		httpError(w, err)
		return
	}
	st, _ := s.Device(d.Name)
	writeJSON(w, st)
}

func (s *Server) httpDevice(w http.ResponseWriter, r *http.Request) {
	st, ok := s.Device(r.PathValue("name"))
	if !ok {
		httpError(w, fmt.Errorf("device %q: %w", r.PathValue("name"), ErrNoDevice))
		return
	}
	writeJSON(w, st)
}

func (s *Server) httpDeleteDevice(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteDevice(r.PathValue("name")); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpRename(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	if err := s.RenameDevice(r.PathValue("name"), body.Name); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpTelemetry(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.Device(name); !ok {
		httpError(w, fmt.Errorf("device %q: %w", name, ErrNoDevice))
		return
	}
	keys := splitKeys(r.URL.Query().Get("keys"))
	if len(keys) == 0 {
		keys = s.Keys(name)
	}
	out := make(map[string][]TSValue, len(keys))
	for _, k := range keys {
		out[k] = s.Telemetry(name, k)
	}
	writeJSON(w, out)
}

func (s *Server) httpLatest(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	l := s.Latest(name)
	if l == nil {
		httpError(w, fmt.Errorf("device %q: %w", name, ErrNoDevice))
		return
	}
	writeJSON(w, l)
}

func (s *Server) httpAttributes(w http.ResponseWriter, r *http.Request) {
	name, scope := r.PathValue("name"), Scope(r.PathValue("scope"))
	if _, ok := scopeIndex(scope); !ok {
		httpError(w, fmt.Errorf("unknown scope %q", scope))
		return
	}
	a := s.Attributes(name, scope)
	if a == nil {
		httpError(w, fmt.Errorf("device %q: %w", name, ErrNoDevice))
		return
	}
	writeJSON(w, a)
}

func (s *Server) httpSetAttributes(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	if err := readBody(r, &raw); err != nil {
		httpError(w, err)
		return
	}
	values, err := attributeValues(raw)
	if err != nil {
		httpError(w, err)
		return
	}
	if err := s.SetAttributes(r.PathValue("name"), Scope(r.PathValue("scope")), values); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// attributeValues decodes the values of an attribute write; objects and arrays keep their text (key order
// included), as ThingsBoard stores and pushes a JSON attribute as written.
func attributeValues(raw map[string]json.RawMessage) (map[string]any, error) {
	values := make(map[string]any, len(raw))
	for k, b := range raw {
		if b = bytes.TrimSpace(b); len(b) > 0 && (b[0] == '{' || b[0] == '[') {
			values[k] = json.RawMessage(b)
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("request body: attribute %q: %w", k, err)
		}
		values[k] = v
	}
	return values, nil
}

func (s *Server) httpDeleteShared(w http.ResponseWriter, r *http.Request) {
	keys := splitKeys(r.URL.Query().Get("keys"))
	if err := s.DeleteSharedAttributes(r.PathValue("name"), keys...); err != nil {
		httpError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpRPC(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Method    string          `json:"method"`
		Params    json.RawMessage `json:"params"`
		OneWay    bool            `json:"oneWay"`
		TimeoutMs int64           `json:"timeout"`
	}
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	reply, err := s.RPC(r.Context(), r.PathValue("name"), body.Method, body.Params, body.OneWay,
		time.Duration(body.TimeoutMs)*time.Millisecond)
	if err != nil {
		httpError(w, err)
		return
	}
	if body.OneWay {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !json.Valid(reply) { // the device's reply is passed through; wrap non-JSON
		reply = marshal(string(reply))
	}
	w.Write(append(bytes.TrimSpace(reply), '\n'))
}

func (s *Server) httpMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	msgs := s.Messages()
	if dev := q.Get("device"); dev != "" {
		kept := msgs[:0]
		for _, m := range msgs {
			if m.Device == dev {
				kept = append(kept, m)
			}
		}
		msgs = kept
	}
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n >= 0 && n < len(msgs) {
		msgs = msgs[len(msgs)-n:]
	}
	type msgJSON struct {
		Message
		Payload string `json:"payload"`
	}
	out := struct {
		Total    uint64    `json:"total"`
		Messages []msgJSON `json:"messages"`
	}{Total: s.MessageCount(), Messages: make([]msgJSON, len(msgs))}
	for i, m := range msgs {
		out.Messages[i] = msgJSON{Message: m, Payload: string(m.Payload)}
	}
	writeJSON(w, out)
}

func (s *Server) httpAddProfile(w http.ResponseWriter, r *http.Request) {
	var body struct{ Key, Secret string }
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	s.AddProvisionProfile(body.Key, body.Secret)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpRefuse(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Seconds float64 `json:"seconds"`
	}
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	s.RefuseConnections(time.Duration(body.Seconds * float64(time.Second)))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpPubAck(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DelayMs  *int64 `json:"delayMs"`
		Withhold *bool  `json:"withhold"`
		Drop     *bool  `json:"drop"`
	}
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	if body.DelayMs != nil {
		s.SetPubAckDelay(time.Duration(*body.DelayMs) * time.Millisecond)
	}
	if body.Withhold != nil {
		s.WithholdPubAcks(*body.Withhold)
	}
	if body.Drop != nil {
		s.DropPublishes(*body.Drop)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) httpRateLimits(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Gateway RateLimits `json:"gateway"`
		Devices RateLimits `json:"devices"`
	}
	if err := readBody(r, &body); err != nil {
		httpError(w, err)
		return
	}
	for _, l := range []RateLimits{body.Gateway, body.Devices} {
		if _, err := newLimiterFrom(l, time.Now()); err != nil {
			httpError(w, err)
			return
		}
	}
	s.SetRateLimits(body.Gateway, body.Devices)
	w.WriteHeader(http.StatusNoContent)
}
