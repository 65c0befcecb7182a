package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// v5Conn is an MQTT 5 connection through eclipse/paho.golang, with manual acknowledgements (paho sends them in
// the order the PUBLISHes arrived).
type v5Conn struct {
	*lossSignal
	c *paho.Client
}

func dialV5(ctx context.Context, b *BrokerConfig, clientID string, tlsCfg *tls.Config, onMessage func(message)) (brokerConn, error) {
	dctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := dialNet(dctx, b, tlsCfg)
	if err != nil {
		return nil, err
	}
	loss := newLossSignal()
	var c *paho.Client
	c = paho.NewClient(paho.ClientConfig{
		ClientID:                   clientID,
		Conn:                       packets.NewThreadSafeConn(conn),
		EnableManualAcknowledgment: true,
		SendAcksInterval:           ackInterval,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			onMessage(message{topic: p.Topic, payload: p.Payload, qos: p.QoS, ack: func() { _ = pr.Client.Ack(p) }})
			return true, nil
		}},
		OnClientError: func(err error) { loss.lost(err) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			loss.lost(fmt.Errorf("broker disconnected: reason 0x%02x", d.ReasonCode))
		},
	})
	cp := &paho.Connect{
		ClientID:   clientID,
		KeepAlive:  uint16(b.KeepAlive.Seconds()),
		CleanStart: b.CleanSession,
	}
	if b.SessionExpiry > 0 {
		se := b.SessionExpiry
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &se}
	}
	if b.Security.Username != "" {
		cp.UsernameFlag, cp.Username = true, b.Security.Username
		if b.Security.Password != "" {
			cp.PasswordFlag, cp.Password = true, []byte(b.Security.Password)
		}
	}
	ca, err := c.Connect(dctx, cp)
	if err != nil {
		_ = conn.Close()
		if ca != nil {
			return nil, fmt.Errorf("connect refused: reason 0x%02x: %w", ca.ReasonCode, err)
		}
		return nil, err
	}
	go func() {
		select {
		case <-c.Done():
			loss.lost(errors.New("connection closed"))
		case <-loss.Done():
		}
	}()
	return &v5Conn{lossSignal: loss, c: c}, nil
}

func (v *v5Conn) Subscribe(ctx context.Context, subs []subscription) error {
	if len(subs) == 0 {
		return nil
	}
	s := &paho.Subscribe{}
	for _, sub := range subs {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: sub.filter, QoS: sub.qos})
	}
	sa, err := v.c.Subscribe(ctx, s)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for i, code := range sa.Reasons {
		if code >= 0x80 && i < len(subs) {
			return fmt.Errorf("subscribe %q: refused by the broker (0x%02x)", subs[i].filter, code)
		}
	}
	return nil
}

func (v *v5Conn) Unsubscribe(ctx context.Context, filters ...string) error {
	_, err := v.c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: filters})
	return err
}

func (v *v5Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	_, err := v.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload})
	return err
}

// ackInterval is how often paho.golang sends the manual acknowledgements (in arrival order); short, so that
// few messages are redelivered after a dropped connection.
const ackInterval = 10 * time.Millisecond

func (v *v5Conn) Close() {
	// paho.golang sends acknowledgements on its own tick and has no flush: give the acknowledgements of the
	// messages already stored one tick to leave before disconnecting, or the broker sends them again.
	select {
	case <-v.Done():
	case <-time.After(3 * ackInterval):
	}
	_ = v.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	v.lost(errors.New("closed"))
	select {
	case <-v.c.Done():
	case <-time.After(connectTimeout):
	}
}
