package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	"github.com/tbgateway/tbgateway"
)

// subscriptions are made on every connect: ThingsBoard keeps no session state. v1/gateway/disconnect is pushed
// without a subscription (and refused as a filter).
var subscriptions = []string{
	"v1/devices/me/attributes",
	"v1/devices/me/attributes/response/+",
	"v1/devices/me/rpc/request/+",
	"v1/devices/me/rpc/response/+",
	topicGwAttributes,
	topicGwRPC,
	topicGwAttrResp,
}

// sessionLimitsTimeout bounds the wait for getSessionLimits' answer before the configured limits are used.
const sessionLimitsTimeout = 10 * time.Second

// The delays between retries of a failed storage Ack: soon at first (a transient failure, such as a full disk
// freed by the Ack itself), then backing off to spare a failing disk.
const (
	ackRetryInitial = 100 * time.Millisecond
	ackRetryMax     = 10 * time.Second
)

// link is one established connection.
type link struct {
	cfg    *Config // the configuration the connection was opened with
	cli    *paho.Client
	ts     *trackingSession
	ctx    context.Context
	cancel context.CancelCauseFunc
	// sendCtx ends with ctx, or earlier when a planned stop (stopSending) asks the dispatcher to publish
	// nothing more and let the messages in flight settle before the link ends (see settle).
	sendCtx     context.Context
	stopSending context.CancelFunc
	ready       atomic.Bool
	packetLimit int
	window      int

	// ackLater holds records acknowledged by ThingsBoard whose storage Ack failed; owned by the completer, then
	// by teardown.
	ackLater []uint64

	mu    sync.Mutex
	multi map[uint64]splitRecord // records split over several messages, until every part is acknowledged
}

// splitRecord tracks a record packed into several messages.
type splitRecord struct {
	left  int  // parts still waiting for their PUBACK
	acked bool // some part was acknowledged
}

// connection runs one connection from dial to teardown. It calls up once the link is ready (subscribed, session
// limits applied).
func (c *Client) connection(ctx context.Context, up func()) error {
	set := c.set.Load()
	cfg := &set.cfg
	raw, err := dial(ctx, cfg, set.useTLS)
	if err != nil {
		c.stats.connectFailures.Add(1)
		c.emit(EventConnectFailed, err)
		return err
	}
	ts := newTrackingSession(state.NewInMemory(), cfg.MaxInflight)
	linkCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sendCtx, stopSending := context.WithCancel(linkCtx)
	defer stopSending()
	l := &link{cfg: cfg, ts: ts, ctx: linkCtx, cancel: cancel, sendCtx: sendCtx, stopSending: stopSending,
		packetLimit: cfg.MaxPayloadSize, window: cfg.MaxInflight, multi: map[uint64]splitRecord{}}
	cli := paho.NewClient(paho.ClientConfig{
		Conn:    &batchConn{Conn: raw},
		Session: ts,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.onPublish(l, pr.Packet)
			return true, nil
		}},
		OnClientError: func(err error) { cancel(fmt.Errorf("connection lost: %w", err)) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			cancel(fmt.Errorf("server sent DISCONNECT, reason 0x%02x %s", d.ReasonCode, disconnectReason(d)))
		},
		PacketTimeout: cfg.AckTimeout,
	})
	l.cli = cli
	ca, err := cli.Connect(ctx, connectPacket(cfg))
	if err != nil {
		_ = raw.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			err = fmt.Errorf("thingsboard refused the connection: reason 0x%02x: %w", ca.ReasonCode, err)
			c.stats.rejected.Add(1)
			c.emit(EventRejected, err)
			return err
		}
		err = fmt.Errorf("mqtt connect to %s:%d: %w", cfg.Host, cfg.Port, err)
		c.stats.connectFailures.Add(1)
		c.emit(EventConnectFailed, err)
		return err
	}
	if p := ca.Properties; p != nil {
		if p.MaximumPacketSize != nil && int(*p.MaximumPacketSize) < l.packetLimit {
			l.packetLimit = int(*p.MaximumPacketSize)
		}
		if p.ReceiveMaximum != nil && int(*p.ReceiveMaximum) < l.window {
			l.window = max(1, int(*p.ReceiveMaximum))
		}
	}
	go func() { // ends with the link either way
		select {
		case <-cli.Done():
			cancel(errors.New("connection closed"))
		case <-linkCtx.Done():
		}
	}()
	c.mu.Lock()
	c.link = l
	c.mu.Unlock()
	defer c.teardown(ctx, l)

	if err := c.subscribe(l); err != nil {
		return err
	}
	c.applySessionLimits(l)
	primed := c.startLiveLane(cfg)
	l.ready.Store(true)
	up()
	c.stats.reconnects.Add(1)
	c.log.Info("connected to thingsboard", "host", cfg.Host, "port", cfg.Port,
		"maxPacket", l.packetLimit, "inflight", l.window)
	c.down.OnConnect(linkCtx)
	// Announced only after OnConnect re-announced the devices, so whoever waits for it (a test, an operator
	// renaming a device) never races the re-announcement.
	c.emit(EventConnected, nil)
	c.deliver(l, primed)
	return context.Cause(linkCtx)
}

// startLiveLane starts the storage's live lane (with live-first) before the connection is announced, so that
// every record Put after EventConnected is live. It returns the live records the start already handed out (only
// those Put in the meantime), which deliver must send.
func (c *Client) startLiveLane(cfg *Config) []tbgateway.Entry {
	lr, ok := c.store.(tbgateway.LiveReader)
	if !ok || !cfg.LiveFirst {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // NextLive starts the lane even with a done context, and then does not block
	es, _ := lr.NextLive(ctx, cfg.BatchMax)
	return es
}

func connectPacket(cfg *Config) *paho.Connect {
	s := cfg.Security
	cp := &paho.Connect{KeepAlive: uint16(cfg.KeepAlive / time.Second), CleanStart: true, ClientID: s.ClientID}
	switch s.Type {
	case SecurityAccessToken, SecurityTLSAccessToken:
		cp.Username, cp.UsernameFlag = s.AccessToken, true
	case SecurityUsernamePassword:
		if s.Username != "" {
			cp.Username, cp.UsernameFlag = s.Username, true
		}
		if s.Password != "" {
			cp.Password, cp.PasswordFlag = []byte(s.Password), true
		}
	}
	return cp
}

func disconnectReason(d *paho.Disconnect) string {
	if d.Properties != nil {
		return d.Properties.ReasonString
	}
	return ""
}

func (c *Client) subscribe(l *link) error {
	sub := &paho.Subscribe{}
	for _, t := range subscriptions {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	sa, err := l.cli.Subscribe(l.ctx, sub)
	if sa == nil {
		if err == nil {
			err = errors.New("no SUBACK")
		}
		err = fmt.Errorf("subscribe: %w", err)
		l.cancel(err)
		return err
	}
	for i, code := range sa.Reasons {
		if code >= 0x80 && i < len(subscriptions) {
			c.log.Warn("thingsboard refused a subscription", "topic", subscriptions[i], "reason", fmt.Sprintf("0x%02x", code))
		}
	}
	return nil
}

// serverRates is one group of limits in getSessionLimits' answer.
type serverRates struct {
	Messages            string `json:"messages"`
	TelemetryMessages   string `json:"telemetryMessages"`
	TelemetryDataPoints string `json:"telemetryDataPoints"`
}

type sessionLimits struct {
	MaxPayloadSize      int          `json:"maxPayloadSize"`
	MaxInflightMessages int          `json:"maxInflightMessages"`
	RateLimits          *serverRates `json:"rateLimits"`
	GatewayRateLimits   *serverRates `json:"gatewayRateLimits"`
}

// applySessionLimits asks ThingsBoard for the session limits and lowers the link's to them. Payload size and
// in-flight count are used as given (they are hard limits); rate limits at 80% (see rateShare). Without an
// answer the configured limits stay.
func (c *Client) applySessionLimits(l *link) {
	ctx, cancel := context.WithTimeout(l.ctx, c.sessionLimitsWait)
	defer cancel()
	raw, err := c.clientRPC(ctx, l, "getSessionLimits", json.RawMessage(`{"timeout":5000}`))
	if err != nil {
		c.log.Warn("getSessionLimits failed; using configured limits", "error", err)
		return
	}
	var sl sessionLimits
	if err := json.Unmarshal(raw, &sl); err != nil {
		c.log.Warn("getSessionLimits answer is not understood; using configured limits", "answer", string(raw), "error", err)
		return
	}
	if sl.MaxPayloadSize >= minPacketSize && sl.MaxPayloadSize < l.packetLimit {
		l.packetLimit = sl.MaxPayloadSize
	}
	if sl.MaxInflightMessages > 0 && sl.MaxInflightMessages < l.window {
		l.window = sl.MaxInflightMessages
	}
	c.applyRates(sl.RateLimits, sl.GatewayRateLimits)
}

// clientRPC sends a client-side RPC of the gateway device and waits for its answer.
func (c *Client) clientRPC(ctx context.Context, l *link, method string, params json.RawMessage) (json.RawMessage, error) {
	id := c.reqID.Add(1)
	ch := c.pending.add(&c.pending.rpc, id)
	defer c.pending.remove(&c.pending.rpc, id)
	body, err := json.Marshal(struct {
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}{method, params})
	if err != nil {
		return nil, fmt.Errorf("rpc %s: %w", method, err)
	}
	topic := "v1/devices/me/rpc/request/" + strconv.FormatInt(id, 10)
	if err := c.publishOn(ctx, l, topic, body); err != nil {
		return nil, err
	}
	select {
	case raw := <-ch:
		return raw, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("rpc %s: no answer: %w", method, ctx.Err())
	}
}

// publishOn publishes one QoS 1 message on l and waits for a successful PUBACK.
func (c *Client) publishOn(ctx context.Context, l *link, topic string, payload []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	pr, err := l.cli.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if err != nil {
		if pr != nil {
			return fmt.Errorf("publish %s: thingsboard answered 0x%02x: %w", topic, pr.ReasonCode, err)
		}
		if l.ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", topic, errors.Join(tbgateway.ErrNotConnected, err))
		}
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	c.stats.ownMessages.Add(1)
	c.stats.sentBytes.Add(uint64(len(payload)))
	return nil
}

// teardown ends a connection: it disconnects, waits for paho, settles the PUBACKs that arrived, and rewinds
// the storage so the unacknowledged records go again on the next connection.
func (c *Client) teardown(ctx context.Context, l *link) {
	c.mu.Lock()
	c.link = nil
	c.mu.Unlock()
	wasReady := l.ready.Swap(false)
	cause := context.Cause(l.ctx)
	l.cancel(errors.New("link closed"))
	_ = l.cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	<-l.cli.Done()
	var done []uint64
	for {
		select {
		case ack := <-l.ts.acks:
			_, done = c.complete(l, ack, done)
			continue
		default:
		}
		break
	}
	if err := c.ackSeqs(append(l.ackLater, done...)...); err != nil {
		c.log.Error("storage ack failed at disconnect; those records go again on the next connection", "error", err)
	}
	_ = l.ts.Close()
	// Records of messages still awaiting a PUBACK were sent and go again; a split record with some parts
	// acknowledged is counted too (its acknowledged parts repeat). Records packed but not yet published are not
	// counted: they go again without being repeats. So a drop counts at most the records of the in-flight window.
	inflight := l.ts.inflightSeqs()
	l.mu.Lock()
	for s, sr := range l.multi {
		if sr.acked {
			inflight[s] = struct{}{}
		}
	}
	l.mu.Unlock()
	redelivered := uint64(len(inflight))
	c.store.Rewind()
	c.stats.redelivered.Add(redelivered)
	if ctx.Err() != nil {
		cause = nil
	}
	if wasReady {
		c.emit(EventDisconnected, cause)
	}
	if redelivered > 0 {
		c.log.Info("records in flight at disconnect will be sent again", "records", redelivered)
	}
}
