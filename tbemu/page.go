package tbemu

import (
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

// Overview is what the page at "/" shows, and what GET /api/overview returns for the page to refresh itself.
type Overview struct {
	MQTT     string           `json:"mqtt"`
	TLS      string           `json:"tls,omitempty"`
	Messages uint64           `json:"messages"`
	Devices  []DeviceOverview `json:"devices"`
}

// DeviceOverview is a device's state with the value with the highest ts of each of its telemetry keys. JSON
// values are JSON in the API (TSValue.Value holds a json.RawMessage).
type DeviceOverview struct {
	DeviceState
	Latest map[string]TSValue `json:"latest"`
}

// Overview returns the devices, sorted by name, with their latest values.
func (s *Server) Overview() Overview {
	o := Overview{MQTT: s.MQTTAddr(), TLS: s.TLSAddr(), Messages: s.MessageCount(), Devices: []DeviceOverview{}}
	for _, d := range s.Devices() {
		latest := s.Latest(d.Name)
		if latest == nil { // deleted since Devices
			continue
		}
		o.Devices = append(o.Devices, DeviceOverview{DeviceState: d, Latest: latest})
	}
	return o
}

// pageRefresh is how often the page fetches /api/overview while it is visible.
const pageRefresh = 2 * time.Second

// valueText is a value as the page shows it: a string as it is, anything else (numbers, booleans, JSON) as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// stampText formats a device's time the way the page's script does; the zero time is blank.
func stampText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{"value": valueText, "stamp": stampText}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>tbemu</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.v{font-family:monospace;white-space:pre-wrap;word-break:break-all;max-width:60em}#st{color:#666}</style>
</head><body>
<h1>tbemu</h1>
<p>MQTT {{.MQTT}}{{if .TLS}}, TLS {{.TLS}}{{end}}; <span id="count">{{.Messages}}</span> messages received.
<span id="st">(refreshes every {{.Refresh}} while shown)</span></p>
<table><thead><tr><th>device</th><th>type</th><th>gateway</th><th>connected</th><th>last activity</th><th>last gateway</th><th>latest values</th></tr></thead>
<tbody id="devices">
{{range .Devices}}<tr><td>{{.Name}}</td><td>{{.Type}}</td><td>{{.Gateway}}</td><td>{{.Connected}}</td><td>{{stamp .LastActivity}}</td><td>{{.LastGateway}}</td>
<td class="v">{{range $k, $v := .Latest}}<div>{{$k}}={{value $v.Value}}</div>{{end}}</td></tr>
{{end}}</tbody></table>
<script>
(() => {
  const body = document.getElementById("devices"), count = document.getElementById("count"), st = document.getElementById("st");
  const pad = (n, w) => String(n).padStart(w || 2, "0");
  const stamp = (s) => {
    const t = new Date(s);
    if (!s || t.getFullYear() <= 1) return "";
    return t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) + " " + pad(t.getHours()) + ":" +
      pad(t.getMinutes()) + ":" + pad(t.getSeconds()) + "." + pad(t.getMilliseconds(), 3);
  };
  const value = (v) => typeof v === "string" ? v : JSON.stringify(v);
  const cell = (tr, text) => { const td = tr.insertCell(); td.textContent = text; return td; };
  let busy = false;
  async function refresh() {
    if (document.hidden || busy) return;
    busy = true;
    try {
      const r = await fetch("api/overview", {cache: "no-store"});
      if (!r.ok) throw new Error(r.status + " " + r.statusText);
      const o = await r.json();
      count.textContent = o.messages;
      const rows = o.devices.map((d) => {
        const tr = document.createElement("tr");
        for (const text of [d.name, d.type, String(d.gateway), String(d.connected), stamp(d.lastActivityTime), d.lastConnectedGateway || ""]) cell(tr, text);
        const td = cell(tr, "");
        td.className = "v";
        for (const k of Object.keys(d.latest).sort()) {
          const div = document.createElement("div");
          div.textContent = k + "=" + value(d.latest[k].value);
          td.appendChild(div);
        }
        return tr;
      });
      body.replaceChildren(...rows);
      st.textContent = "(updated " + stamp(new Date().toISOString()).slice(11) + ")";
    } catch (e) {
      st.textContent = "(not updated: " + e.message + ")";
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, {{.RefreshMs}});
  document.addEventListener("visibilitychange", refresh);
})();
</script>
</body></html>
`))

// page renders the devices and their latest values; its script refreshes them from /api/overview.
func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	data := struct {
		Overview
		Refresh   time.Duration
		RefreshMs int64
	}{s.Overview(), pageRefresh, pageRefresh.Milliseconds()}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, data); err != nil {
		s.log.Debug("render page", "error", err)
	}
}
