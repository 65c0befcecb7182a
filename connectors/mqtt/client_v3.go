package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// v3Conn is a connection through eclipse/paho.mqtt.golang (MQTT 3.1 and 3.1.1). The library's own reconnect
// is off (AutoReconnect and ConnectRetry false): a lost connection ends this object and the connector's loop
// dials a new one, which is the pattern that never leaves a token hanging. Acknowledgements are manual.
type v3Conn struct {
	*lossSignal
	c paho3.Client
}

func dialV3(ctx context.Context, b *BrokerConfig, clientID string, tlsCfg *tls.Config, onMessage func(message)) (brokerConn, error) {
	scheme := "tcp"
	if tlsCfg != nil {
		scheme = "ssl"
	}
	loss := newLossSignal()
	opts := paho3.NewClientOptions().
		AddBroker(scheme + "://" + net.JoinHostPort(b.Host, strconv.Itoa(b.Port))).
		SetClientID(clientID).
		SetProtocolVersion(uint(b.Version)).
		SetCleanSession(b.CleanSession).
		SetKeepAlive(b.KeepAlive).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetConnectTimeout(connectTimeout).
		SetTLSConfig(tlsCfg).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			onMessage(message{topic: m.Topic(), payload: m.Payload(), qos: m.Qos(), ack: m.Ack})
		}).
		SetConnectionLostHandler(func(_ paho3.Client, err error) { loss.lost(err) })
	if b.Security.Username != "" {
		opts.SetUsername(b.Security.Username).SetPassword(b.Security.Password)
	}
	c := paho3.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	return &v3Conn{lossSignal: loss, c: c}, nil
}

// wait waits for a paho token or ctx.
func wait(ctx context.Context, t paho3.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *v3Conn) Subscribe(ctx context.Context, subs []subscription) error {
	if len(subs) == 0 {
		return nil
	}
	filters := make(map[string]byte, len(subs))
	for _, s := range subs {
		filters[s.filter] = s.qos
	}
	t := v.c.SubscribeMultiple(filters, nil)
	if err := wait(ctx, t); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for f, code := range t.(*paho3.SubscribeToken).Result() {
		if code >= 0x80 {
			return fmt.Errorf("subscribe %q: refused by the broker (0x%02x)", f, code)
		}
	}
	return nil
}

func (v *v3Conn) Unsubscribe(ctx context.Context, filters ...string) error {
	return wait(ctx, v.c.Unsubscribe(filters...))
}

func (v *v3Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	select {
	case <-v.Done():
		return errors.New("not connected to the broker")
	default:
	}
	return wait(ctx, v.c.Publish(topic, qos, retain, payload))
}

func (v *v3Conn) Close() {
	v.c.Disconnect(250)
	v.lost(errors.New("closed"))
}
