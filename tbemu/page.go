package tbemu

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>tbemu</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}</style>
</head><body>
<h1>tbemu</h1>
<p>MQTT {{.MQTT}}{{if .TLS}}, TLS {{.TLS}}{{end}}; {{.Count}} messages received.</p>
<table><tr><th>device</th><th>type</th><th>gateway</th><th>connected</th><th>last activity</th><th>last gateway</th><th>latest values</th></tr>
{{range .Devices}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td>{{.Gateway}}</td><td>{{.Connected}}</td>
<td>{{if not .LastActivity.IsZero}}{{.LastActivity.Format "2006-01-02 15:04:05.000"}}{{end}}</td><td>{{.LastGateway}}</td><td>{{.Latest}}</td></tr>
{{end}}</table></body></html>
`))

type pageDevice struct {
	DeviceState
	Latest string
}

// page renders the devices and their latest values.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	data := struct {
		MQTT, TLS string
		Count     uint64
		Devices   []pageDevice
	}{MQTT: s.MQTTAddr(), TLS: s.TLSAddr(), Count: s.MessageCount()}
	for _, d := range s.Devices() {
		latest := s.Latest(d.Name)
		keys := make([]string, 0, len(latest))
		for k := range latest {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s=%v", k, latest[k].Value)
		}
		data.Devices = append(data.Devices, pageDevice{DeviceState: d, Latest: b.String()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, data); err != nil {
		s.log.Debug("render page", "error", err)
	}
}
