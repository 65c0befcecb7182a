package grpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/connectors/grpc/pb"
)

// handle serves one message of a client and returns the reply, whose "response" holds the outcome; nil for a
// poll (a message with nothing but an empty "response"). Data is stored before the reply says SUCCESS.
func (s *Server) handle(ctx context.Context, sess *session, m *pb.FromConnectorMessage) *pb.FromServiceMessage {
	switch {
	case m.GetRegisterConnectorMsg() != nil:
		st, cfg := s.register(sess, m.GetRegisterConnectorMsg().GetConnectorKey())
		return &pb.FromServiceMessage{Response: response(st, m), ConnectorConfigurationMsg: cfg}
	case m.GetUnregisterConnectorMsg() != nil:
		return &pb.FromServiceMessage{Response: response(s.unregister(sess, m.GetUnregisterConnectorMsg().GetConnectorKey()), m)}
	case isPoll(m):
		return nil
	}
	b := s.registered(sess)
	if b == nil {
		s.refuse(s.log, "gRPC client sends before registering with a connector key; answered FAILURE", sess, nil)
		return &pb.FromServiceMessage{Response: response(pb.ResponseStatus_FAILURE, m)}
	}
	out := &pb.FromServiceMessage{}
	st := pb.ResponseStatus_SUCCESS
	if hasData(m) {
		if err := s.store(ctx, b, []*pb.FromConnectorMessage{m}); err != nil {
			s.refuse(b.log, "gRPC client's data not stored; answered FAILURE", sess, err)
			st = pb.ResponseStatus_FAILURE
		}
	}
	if r := m.GetGatewayRpcResponseMsg(); r != nil {
		if !sess.reply(rpcKey{r.GetDeviceName(), r.GetId()}, r.GetData()) {
			b.log.Info("gRPC client answered an RPC nobody waits for (answered late or twice); dropped", "client", sess.id, "device", r.GetDeviceName(), "id", r.GetId())
			st = pb.ResponseStatus_NOT_FOUND
		}
	}
	if r := m.GetGatewayAttributeRequestMsg(); r != nil {
		if err := s.requestAttributes(ctx, b, sess, r); err != nil {
			st = pb.ResponseStatus_FAILURE
		}
	}
	if m.GetConnectorGetConnectedDevicesMsg() != nil {
		devs := s.opts.Gateway.ConnectorDevices(b.name)
		sort.Slice(devs, func(i, j int) bool { return devs[i].Name < devs[j].Name })
		resp := &pb.ConnectorGetConnectedDevicesResponseMsg{}
		for _, d := range devs {
			resp.ConnectorDevices = append(resp.ConnectorDevices, &pb.ConnectorDeviceInfo{DeviceName: d.Name, DeviceType: d.Type})
		}
		out.ConnectorGetConnectedDevicesResponseMsg = resp
	}
	if m.GetGatewayClaimMsg() != nil {
		s.refuse(b.log, "gRPC client asks to claim devices, which this gateway does not do; answered FAILURE", sess, nil)
		st = pb.ResponseStatus_FAILURE
	}
	out.Response = response(st, m)
	return out
}

// store converts the data of msgs and stores it with one Send. An error means nothing of msgs was stored.
func (s *Server) store(ctx context.Context, b *binding, msgs []*pb.FromConnectorMessage) error {
	var recs []tbgateway.Record
	for _, m := range msgs {
		r, err := records(m)
		if err != nil {
			return fmt.Errorf("%w: %v", tbgateway.ErrInvalidRecord, err)
		}
		recs = append(recs, r...)
	}
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].DeviceType == "" {
			recs[i].DeviceType = s.opts.Gateway.DeviceType(b.name, recs[i].Device)
		}
	}
	if err := b.sink.Send(ctx, recs...); err != nil {
		return err
	}
	s.stats.stored.Add(uint64(len(msgs)))
	return nil
}

// storeBatch stores consecutive data messages of a session stream with one Send and returns their replies in
// order. When that fails because a message is invalid, each is stored on its own so that only the bad ones fail.
func (s *Server) storeBatch(ctx context.Context, b *binding, sess *session, msgs []*pb.FromConnectorMessage) []*pb.FromServiceMessage {
	out := make([]*pb.FromServiceMessage, len(msgs))
	err := s.store(ctx, b, msgs)
	if err != nil && len(msgs) > 1 && errors.Is(err, tbgateway.ErrInvalidRecord) {
		for i, m := range msgs {
			out[i] = &pb.FromServiceMessage{Response: response(pb.ResponseStatus_SUCCESS, m)}
			if err := s.store(ctx, b, msgs[i:i+1]); err != nil {
				s.refuse(b.log, "gRPC client's data not stored; answered FAILURE", sess, err)
				out[i].Response.Status = pb.ResponseStatus_FAILURE
			}
		}
		return out
	}
	st := pb.ResponseStatus_SUCCESS
	if err != nil {
		s.refuse(b.log, "gRPC client's data not stored; answered FAILURE", sess, err)
		st = pb.ResponseStatus_FAILURE
	}
	for i, m := range msgs {
		out[i] = &pb.FromServiceMessage{Response: response(st, m)}
	}
	return out
}

// refuse counts a message answered FAILURE and logs it: the first ten, then every hundredth, so a client
// sending bad messages in a loop cannot flood the log. log names the connector when the client registered.
func (s *Server) refuse(log *slog.Logger, msg string, sess *session, err error) {
	n := s.stats.refused.Add(1)
	if n <= 10 || n%100 == 0 {
		log.Warn(msg, "client", sess.id, "refused", n, "err", err)
	}
}

// requestAttributes asks ThingsBoard for the attributes in the background and queues the answer for the client.
// It waits while the client has too many requests open.
func (s *Server) requestAttributes(ctx context.Context, b *binding, sess *session, r *pb.GatewayAttributesRequestMsg) error {
	select {
	case sess.attrs <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	runCtx := s.runCtx
	s.mu.Unlock()
	go func() {
		defer func() { <-sess.attrs }()
		ctx, cancel := context.WithTimeout(runCtx, attrRequestTimeout)
		defer cancel()
		vals, err := b.sink.RequestAttributes(ctx, r.GetDeviceName(), r.GetClient(), r.GetKeys())
		resp := &pb.GatewayAttributesResponseMsg{RequestId: r.GetId()}
		if err != nil {
			resp.Error = err.Error()
			b.log.Warn("gRPC client's attribute request failed", "client", sess.id, "device", r.GetDeviceName(), "err", err)
		} else if r.GetClient() {
			resp.ClientAttributeList = kvs(vals)
		} else {
			resp.SharedAttributeList = kvs(vals)
		}
		m := &pb.FromServiceMessage{GatewayAttributeResponseMsg: &pb.GatewayAttributeResponseMsg{DeviceName: r.GetDeviceName(), ResponseMsg: resp}}
		if err := sess.push(ctx, m); err != nil {
			b.log.Warn("gRPC client's attribute answer dropped", "client", sess.id, "device", r.GetDeviceName(), "err", err)
		}
	}()
	return nil
}

// isPoll says whether m only asks for waiting messages: nothing set but, at most, "response".
func isPoll(m *pb.FromConnectorMessage) bool {
	poll := true
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		poll = fd.Name() == "response"
		return poll
	})
	return poll
}

// response is the outcome of m: its status and, naming what it answers, m's fields set, each empty.
func response(st pb.ResponseStatus, m *pb.FromConnectorMessage) *pb.Response {
	echo := &pb.FromConnectorMessage{}
	e := echo.ProtoReflect()
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Message() != nil {
			e.Set(fd, e.NewField(fd))
		}
		return true
	})
	return &pb.Response{Status: st, ConnectorMessage: echo}
}
