package mqtt

import (
	"fmt"

	"github.com/dlclark/regexp2"

	tbgateway "github.com/tbgateway/tbgateway"
	"github.com/tbgateway/tbgateway/internal/confjson"
	"github.com/tbgateway/tbgateway/internal/expression"
)

// compiled is a configuration turned into matchers and converters, once, when the connector is built.
type compiled struct {
	mappings   []*mapping
	connects   []*deviceRequest
	disconnect []*deviceRequest
	attrReqs   []*attrRequest
	updates    []*attrUpdate
	rpcs       []*rpcRule
}

type mapping struct {
	filter topicFilter
	qos    byte
	conv   tbgateway.Converter
}

type deviceRequest struct {
	filter        topicFilter
	name, profile deviceExpr
}

type attrRequest struct {
	cfg           AttributeRequestConfig
	filter        topicFilter
	name          deviceExpr
	attrNames     tmpl            // source message or constant: each ${...} names one attribute
	attrNameRE    *regexp2.Regexp // source topic
	topic, value  tmpl
	scopeIsClient bool
}

type attrUpdate struct {
	cfg          AttributeUpdateConfig
	device, attr *regexp2.Regexp
	topic, value tmpl
}

type rpcRule struct {
	cfg                  RPCConfig
	device, method       *regexp2.Regexp
	request, resp, value tmpl
}

// compile builds the matchers of a decoded configuration. Problems are reported with key paths; a custom
// converter that is not compiled into the binary disables its mapping with a warning.
func compile(cfg *Config, d *confjson.Decoder) (*compiled, error) {
	c := &compiled{}
	fail := func(path string, err error) (*compiled, error) { return nil, fmt.Errorf("%s: %w", path, err) }
	for i, m := range cfg.Mapping {
		p := fmt.Sprintf("mapping[%d]", i)
		tf, err := parseTopicFilter(m.TopicFilter)
		if err != nil {
			return fail(p+".topicFilter", err)
		}
		mp := &mapping{filter: tf, qos: m.QoS}
		switch m.Converter.Type {
		case ConverterJSON:
			jc, err := NewJSONConverter(m.Converter)
			if err != nil {
				return nil, fmt.Errorf("%s.converter.%w", p, err)
			}
			mp.conv = jc
		case ConverterBytes:
			bc, err := NewBytesConverter(m.Converter)
			if err != nil {
				return nil, fmt.Errorf("%s.converter.%w", p, err)
			}
			mp.conv = bc
		case ConverterCustom:
			factory, ok := tbgateway.LookupConverter(m.Converter.Extension)
			if !ok {
				if d != nil {
					d.Warn(p+".converter.extension", fmt.Sprintf("no converter %q is compiled into this binary; the mapping is disabled", m.Converter.Extension))
				}
				continue
			}
			conv, err := factory(m.Converter.Raw)
			switch {
			case err != nil && m.Converter.Extension == expression.Name:
				return nil, fmt.Errorf("%s.converter.%w", p, err) // the error starts with its key (expression, budget, ...)
			case err != nil:
				return fail(p+".converter.extensionConfig", err)
			}
			mp.conv = conv
		}
		c.mappings = append(c.mappings, mp)
	}
	for _, sec := range []struct {
		name string
		in   []DeviceRequestConfig
		out  *[]*deviceRequest
	}{{"connectRequests", cfg.ConnectRequests, &c.connects}, {"disconnectRequests", cfg.DisconnectRequests, &c.disconnect}} {
		for i, d := range sec.in {
			p := fmt.Sprintf("requestsMapping.%s[%d]", sec.name, i)
			tf, err := parseTopicFilter(d.TopicFilter)
			if err != nil {
				return fail(p+".topicFilter", err)
			}
			dr := &deviceRequest{filter: tf}
			if dr.name, err = compileDeviceExpr(d.DeviceInfo.NameSource, d.DeviceInfo.NameExpression); err != nil {
				return fail(p+".deviceInfo.deviceNameExpression", err)
			}
			if dr.profile, err = compileDeviceExpr(d.DeviceInfo.ProfileSource, d.DeviceInfo.ProfileExpression); err != nil {
				return fail(p+".deviceInfo.deviceProfileExpression", err)
			}
			*sec.out = append(*sec.out, dr)
		}
	}
	for i, a := range cfg.AttributeRequests {
		p := fmt.Sprintf("requestsMapping.attributeRequests[%d]", i)
		ar := &attrRequest{cfg: a, scopeIsClient: a.Client}
		var err error
		if ar.filter, err = parseTopicFilter(a.TopicFilter); err != nil {
			return fail(p+".topicFilter", err)
		}
		if ar.name, err = compileDeviceExpr(a.DeviceInfo.NameSource, a.DeviceInfo.NameExpression); err != nil {
			return fail(p+".deviceInfo.deviceNameExpression", err)
		}
		if a.AttributeNameSource == SourceTopic {
			if ar.attrNameRE, err = compileRegex(a.AttributeNameExpression); err != nil {
				return fail(p+".attributeNameExpression", err)
			}
		} else if ar.attrNames, err = parseTemplate(a.AttributeNameExpression); err != nil {
			return fail(p+".attributeNameExpression", err)
		}
		if ar.topic, err = parseTemplate(a.TopicExpression); err != nil {
			return fail(p+".topicExpression", err)
		}
		if ar.value, err = parseTemplate(a.ValueExpression); err != nil {
			return fail(p+".valueExpression", err)
		}
		c.attrReqs = append(c.attrReqs, ar)
	}
	for i, a := range cfg.AttributeUpdates {
		p := fmt.Sprintf("requestsMapping.attributeUpdates[%d]", i)
		au := &attrUpdate{cfg: a}
		var err error
		if au.device, err = compileMatch(a.DeviceNameFilter); err != nil {
			return fail(p+".deviceNameFilter", err)
		}
		if au.attr, err = compileMatch(a.AttributeFilter); err != nil {
			return fail(p+".attributeFilter", err)
		}
		if au.topic, err = parseTemplate(a.TopicExpression); err != nil {
			return fail(p+".topicExpression", err)
		}
		if au.value, err = parseTemplate(a.ValueExpression); err != nil {
			return fail(p+".valueExpression", err)
		}
		c.updates = append(c.updates, au)
	}
	for i, rc := range cfg.ServerSideRPC {
		p := fmt.Sprintf("requestsMapping.serverSideRpc[%d]", i)
		rr := &rpcRule{cfg: rc}
		var err error
		if rr.device, err = compileMatch(rc.DeviceNameFilter); err != nil {
			return fail(p+".deviceNameFilter", err)
		}
		if rr.method, err = compileMatch(rc.MethodFilter); err != nil {
			return fail(p+".methodFilter", err)
		}
		if rr.request, err = parseTemplate(rc.RequestTopicExpression); err != nil {
			return fail(p+".requestTopicExpression", err)
		}
		if rr.resp, err = parseTemplate(rc.ResponseTopicExpression); err != nil {
			return fail(p+".responseTopicExpression", err)
		}
		if rr.value, err = parseTemplate(rc.ValueExpression); err != nil {
			return fail(p+".valueExpression", err)
		}
		c.rpcs = append(c.rpcs, rr)
	}
	return c, nil
}

// rpcRule is the first serverSideRpc rule whose deviceNameFilter is found in device and whose methodFilter is
// found in method, anywhere in them (Python's re.search), or nil.
func (c *compiled) rpcRule(device, method string) *rpcRule {
	for _, r := range c.rpcs {
		if _, ok := search(r.device, device); ok {
			if _, ok := search(r.method, method); ok {
				return r
			}
		}
	}
	return nil
}

// compileMatch compiles a filter of device names, attribute keys or methods.
func compileMatch(expr string) (*regexp2.Regexp, error) {
	re, err := compileRegex(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", expr, err)
	}
	return re, nil
}
