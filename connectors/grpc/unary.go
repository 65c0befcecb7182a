package grpc

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// Stream serves the Python gateway's unary call: the client's session is its "identifier" metadata, calls of
// one session run one at a time, and the reply carries the outcome of m (after its data is stored) together
// with at most one message waiting for the client. A poll is answered with a waiting message, or with an empty
// "response" when there is none.
func (s *Server) Stream(ctx context.Context, m *pb.FromConnectorMessage) (*pb.FromServiceMessage, error) {
	s.stats.received.Add(1)
	id := identifier(ctx)
	if id == "" {
		s.log.Warn("gRPC call without the \"identifier\" metadata naming the client's session; refused", "client", clientOf(ctx))
		return nil, status.Error(codes.InvalidArgument, `the call metadata "identifier" (the client's session name) is missing`)
	}
	sess := s.unarySession(id)
	select {
	case sess.serial <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-sess.serial }()
	reply := s.handle(ctx, sess, m)
	waiting := sess.next()
	s.dropIfDone(sess)
	switch {
	case reply == nil && waiting == nil:
		return &pb.FromServiceMessage{Response: &pb.Response{}}, nil
	case reply == nil:
		return waiting, nil
	case waiting != nil:
		proto.Merge(reply, waiting)
	}
	return reply, nil
}

// unarySession returns the session of a unary client: the registered one, or a new one that is kept only if it
// registers.
func (s *Server) unarySession(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.unary[id]; ok {
		return sess
	}
	return newSession(id, true, s.opts.QueueSize)
}

// dropIfDone forgets a unary session that is no longer registered once its waiting messages were taken.
func (s *Server) dropIfDone(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.b == nil && len(sess.down) == 0 && s.unary[sess.id] == sess {
		delete(s.unary, sess.id)
	}
}

// isEnd says whether a receive error is the client ending or dropping the stream rather than a bad message.
func isEnd(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return true
	}
	c := status.Code(err)
	return c == codes.Canceled || c == codes.Unavailable || c == codes.DeadlineExceeded
}
