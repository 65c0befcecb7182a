// Package template is the connector kit's one "${...}" parser. A template is parsed once, at configuration load,
// into parts: literal text and expressions. What an expression means is the caller's: a JSON path into an MQTT
// payload, an OPC-UA browse path or node id, a Modbus register, or a plain name (${deviceName}) in a downlink
// topic. The caller compiles each expression once (Parse's compile function) and evaluates the compiled form per
// message; no text is interpreted per message.
//
// The syntax is the Python gateway's: an expression runs from "${" to the first "}"; everything else is literal;
// an unclosed "${" is an error (ErrUnclosed); there is no escape. See Parse for the edge cases.
//
// An MQTT converter value, where a single expression keeps the payload value's own type:
//
//	tm, err := template.Parse(dp.Value, parsePath) // Template[*jpath], at load
//	...
//	if tm.Single() {
//		v, ok := tm.Parts[0].Expr.get(body) // a number stays a number
//	} else {
//		text, missing, ok := tm.Eval(func(p *jpath) (string, bool) {
//			v, ok := p.get(body)
//			return values.Text(v), ok
//		})
//	}
//
// A downlink topic with names, unknown names left as written:
//
//	tm, err := template.Names("sensor/${deviceName}/${attributeKey}")
//	topic := tm.Render(template.Vars(map[string]string{"deviceName": dev, "attributeKey": k}))
package template
