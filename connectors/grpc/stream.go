package grpc

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// Session serves a session stream (our addition to the API): one reply with "response" per message, in order,
// and every message for the client as soon as it exists. Up to readAhead messages are read ahead while
// consecutive data messages are stored together (one Send, so one storage sync, for up to maxBatch of them);
// beyond that the stream is not read, and the client's sends wait (HTTP/2 flow control): a client that sends
// faster than the gateway stores is slowed down, never buffered without bound. The connector the client
// registered is unregistered when the stream ends.
func (s *Server) Session(st pb.TBGatewayProtoService_SessionServer) error {
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	s.mu.Lock()
	s.streams++
	name := fmt.Sprintf("session-%d", s.streams)
	s.mu.Unlock()
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		name += "@" + p.Addr.String()
	}
	sess := newSession(name, false, s.opts.QueueSize)
	defer s.end(sess)

	in := make(chan *pb.FromConnectorMessage, readAhead)
	replies := make(chan *pb.FromServiceMessage, readAhead)
	recvErrc := make(chan error, 1)
	go func() {
		defer close(in)
		recvErrc <- s.read(ctx, st, in)
	}()
	sent := make(chan error, 1)
	go func() {
		err := s.write(ctx, st, sess, replies, s.stopping())
		sent <- err
		if err != nil {
			cancel()
		}
	}()
	s.process(ctx, sess, in, replies)
	close(replies)
	sendErr := <-sent
	cancel()
	// The reader has ended unless the server stops: then it ends with the stream, once this returns.
	var recvErr error
	select {
	case recvErr = <-recvErrc:
	default:
	}
	if errors.Is(sendErr, errStopping) {
		return nil
	}
	b := s.registered(sess)
	log := s.log
	if b != nil {
		log = b.log
	}
	switch {
	case recvErr != nil && !isEnd(recvErr):
		log.Warn("gRPC session ended: the client sent a message that is not a FromConnectorMessage", "client", sess.id, "err", recvErr)
		return status.Error(codes.InvalidArgument, "a message is not a FromConnectorMessage")
	case sendErr != nil && !isEnd(sendErr):
		log.Warn("gRPC session ended: sending to the client failed", "client", sess.id, "err", sendErr)
		return sendErr
	}
	return nil
}

// read receives messages into in until the stream ends; it blocks while in is full.
func (s *Server) read(ctx context.Context, st pb.TBGatewayProtoService_SessionServer, in chan<- *pb.FromConnectorMessage) error {
	for {
		m, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		s.stats.received.Add(1)
		select {
		case in <- m:
			continue
		default:
		}
		s.stats.readersBlocked.Add(1)
		select {
		case in <- m:
		case <-ctx.Done():
		}
		s.stats.readersBlocked.Add(-1)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// errStopping ends a session stream's writer when the server stops.
var errStopping = errors.New("the gateway's gRPC server stops")

// write sends the replies (until replies is closed and drained) and the messages queued for the client. When
// stop closes it sends what is queued for the client and returns errStopping.
func (s *Server) write(ctx context.Context, st pb.TBGatewayProtoService_SessionServer, sess *session, replies <-chan *pb.FromServiceMessage, stop <-chan struct{}) error {
	for {
		var m *pb.FromServiceMessage
		select {
		case r, ok := <-replies:
			if !ok {
				return nil
			}
			m = r
		case m = <-sess.down:
		case <-stop:
			for m := sess.next(); m != nil; m = sess.next() {
				if err := st.Send(m); err != nil {
					return err
				}
			}
			return errStopping
		case <-ctx.Done():
			return nil
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
}

// process handles the messages in order, storing runs of data messages together, and queues one reply each.
func (s *Server) process(ctx context.Context, sess *session, in <-chan *pb.FromConnectorMessage, replies chan<- *pb.FromServiceMessage) {
	var held *pb.FromConnectorMessage
	for {
		m := held
		held = nil
		if m == nil {
			var ok bool
			select {
			case m, ok = <-in:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
		}
		var out []*pb.FromServiceMessage
		if b := s.registered(sess); b != nil && isData(m) {
			batch := []*pb.FromConnectorMessage{m}
		more:
			for len(batch) < maxBatch {
				select {
				case n, ok := <-in:
					if !ok {
						break more
					}
					if !isData(n) {
						held = n
						break more
					}
					batch = append(batch, n)
				default:
					break more
				}
			}
			out = s.storeBatch(ctx, b, sess, batch)
		} else {
			r := s.handle(ctx, sess, m)
			if r == nil {
				r = &pb.FromServiceMessage{Response: &pb.Response{}}
			}
			out = []*pb.FromServiceMessage{r}
		}
		for _, r := range out {
			select {
			case replies <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}
