package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	tbgateway "github.com/tbgateway/tbgateway"
)

// scriptedSink answers Send with the errors of its script, in turn, then nil; it records what was stored.
type scriptedSink struct {
	mu     sync.Mutex
	script []error
	stored []tbgateway.Record
	calls  int
}

func (s *scriptedSink) Send(_ context.Context, recs ...tbgateway.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	for _, r := range recs {
		if r.Device == "INVALID" {
			return fmt.Errorf("record: %w", tbgateway.ErrInvalidRecord)
		}
	}
	if len(s.script) > 0 {
		err := s.script[0]
		s.script = s.script[1:]
		if err != nil {
			return err
		}
	}
	s.stored = append(s.stored, recs...)
	return nil
}

func (s *scriptedSink) RequestAttributes(context.Context, string, bool, []string) (map[string]any, error) {
	return nil, tbgateway.ErrNotConnected
}
func (s *scriptedSink) Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func pipelineConnector(t *testing.T) *Connector {
	cfg, _, err := Decode([]byte(`{"broker": {"host": "h"}, "mapping": [{"topicFilter": "d/+", "converter": {"type": "json",
		"deviceInfo": {"deviceNameExpression": "${name}"}, "timeseries": [{"key": "v", "type": "int", "value": "${v}"}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return newTestConnector(t, cfg)
}

// TestAckAfterStore checks the delivery contract: a message is acknowledged only after Send stored its records,
// storage-full errors are retried without acknowledging, and a message whose record the gateway refuses as
// invalid is skipped (acknowledged, counted) without holding back the others.
func TestAckAfterStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pipelineConnector(t)
		sink := &scriptedSink{script: []error{tbgateway.ErrStorageFull, tbgateway.ErrStorageFull}}
		ctx, cancel := context.WithCancel(t.Context())
		queue := make(chan message, 16)
		done := make(chan struct{})
		go func() { defer close(done); c.process(ctx, sink, queue) }()

		var mu sync.Mutex
		var acks []int
		msg := func(i int, payload string) message {
			return message{topic: "d/x", payload: []byte(payload), qos: 1, ack: func() {
				mu.Lock()
				defer mu.Unlock()
				sink.mu.Lock()
				defer sink.mu.Unlock()
				// Every acknowledged message with data has its record in storage already.
				if payload != "bad" && i != 2 && len(sink.stored) == 0 {
					t.Errorf("message %d acknowledged before its record was stored", i)
				}
				acks = append(acks, i)
			}}
		}
		queue <- msg(0, `{"name": "A", "v": 1}`)
		queue <- msg(1, "bad")
		queue <- msg(2, `{"name": "INVALID", "v": 2}`)
		queue <- msg(3, `{"name": "A", "v": 3}`)
		time.Sleep(time.Minute) // fake time in the bubble: lets the retry backoff elapse
		synctest.Wait()
		mu.Lock()
		got := append([]int(nil), acks...)
		mu.Unlock()
		if len(got) != 4 {
			t.Fatalf("acknowledged %v, want all 4 messages once stored", got)
		}
		for i, a := range got {
			if a != i {
				t.Fatalf("acknowledgements %v are not in arrival order", got)
			}
		}
		if len(sink.stored) != 2 || sink.stored[0].Telemetry[0].Values["v"] != int64(1) || sink.stored[1].Telemetry[0].Values["v"] != int64(3) {
			t.Fatalf("stored %+v", sink.stored)
		}
		st := c.Stats()
		if st.BadPayloads != 2 || st.SendRetries != 2 || st.Acked != 4 || st.RecordsSent != 2 {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		<-done
	})
}

// TestNoAckWhenStoppedBeforeStore: messages whose records were not stored when the connector stops are not
// acknowledged, so a persistent session gets them again from the broker.
func TestNoAckWhenStoppedBeforeStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := pipelineConnector(t)
		sink := &scriptedSink{script: []error{errors.New("disk on fire"), errors.New("disk on fire"), errors.New("disk on fire")}}
		ctx, cancel := context.WithCancel(t.Context())
		queue := make(chan message, 1)
		done := make(chan struct{})
		go func() { defer close(done); c.process(ctx, sink, queue) }()
		acked := false
		queue <- message{topic: "d/x", payload: []byte(`{"name": "A", "v": 1}`), qos: 1, ack: func() { acked = true }}
		synctest.Wait() // the pipeline is waiting to retry
		cancel()
		<-done
		if acked || len(sink.stored) != 0 {
			t.Fatalf("acked %v, stored %d: want neither", acked, len(sink.stored))
		}
	})
}
