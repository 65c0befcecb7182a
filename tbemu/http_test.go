package tbemu

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"
)

func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestHTTPAPI(t *testing.T) {
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0"})
	u := s.HTTPURL() + "/api"
	if code, _ := httpDo(t, "POST", u+"/devices", `{"name":"h1","token":"h1tok","type":"meter"}`); code != 200 {
		t.Fatalf("add device: %d", code)
	}
	c := connectGateway(t, s, 5)
	c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":1,"values":{"t":1}},{"ts":2,"values":{"t":2.5}}]}`))

	var devs []DeviceState
	_, body := httpDo(t, "GET", u+"/devices", "")
	if err := json.Unmarshal([]byte(body), &devs); err != nil || len(devs) != 4 || devs[0].Name != "A" || !devs[0].Connected || devs[3].Type != "meter" {
		t.Fatalf("devices %s", body)
	}
	for _, tc := range []struct{ method, path, body, want string }{
		{"GET", "/devices/A/telemetry?keys=t", "", `{"t":[{"ts":1,"value":1},{"ts":2,"value":2.5}]}`},
		{"GET", "/devices/A/latest", "", `{"t":{"ts":2,"value":2.5}}`},
		{"POST", "/devices/A/attributes/client", `{"c":"x"}`, ``},
		{"GET", "/devices/A/attributes/client", "", `{"c":"x"}`},
		{"GET", "/devices/nope/latest", "", `{"error":"device \"nope\": device not found"}`},
		{"GET", "/messages?limit=1", "", ``},
	} {
		code, body := httpDo(t, tc.method, u+tc.path, tc.body)
		if code >= 300 && !strings.Contains(tc.want, "error") || tc.want != "" && body != tc.want {
			t.Fatalf("%s %s: %d %s, want %s", tc.method, tc.path, code, body, tc.want)
		}
	}
	// A shared attribute write is pushed through the gateway.
	if code, _ := httpDo(t, "POST", u+"/devices/A/attributes/shared", `{"sp":21.5}`); code != 204 {
		t.Fatalf("shared write %d", code)
	}
	if p := c.expect(isPublish(topicGwAttributes)); string(p.Payload) != `{"device":"A","data":{"sp":21.5}}` {
		t.Fatalf("push %s", p.Payload)
	}
	// Two-way RPC through HTTP.
	go func() {
		p := c.expect(isPublish(topicGwRPC))
		if string(p.Payload) != `{"device":"A","data":{"id":0,"method":"ping","params":{"x":1}}}` {
			t.Errorf("rpc %s", p.Payload)
		}
		c.publish(topicGwRPC, []byte(`{"device":"A","id":0,"data":{"pong":true}}`), 1)
	}()
	if code, body := httpDo(t, "POST", u+"/devices/A/rpc", `{"method":"ping","params":{"x":1},"timeout":10000}`); code != 200 || body != `{"pong":true}` {
		t.Fatalf("rpc %d %s", code, body)
	}
	if code, _ := httpDo(t, "POST", u+"/devices/A/rpc", `{"method":"ping","timeout":1}`); code != http.StatusRequestTimeout {
		t.Fatalf("rpc timeout status %d", code)
	}
	if code, _ := httpDo(t, "POST", u+"/devices/h1/rpc", `{"method":"ping","timeout":1}`); code != http.StatusConflict {
		t.Fatalf("rpc no connection status %d", code)
	}
	// Faults.
	if code, _ := httpDo(t, "POST", u+"/faults/ratelimits", `{"gateway":{"messages":"bad"}}`); code != 400 {
		t.Fatalf("bad limits accepted: %d", code)
	}
	if code, _ := httpDo(t, "POST", u+"/faults/drop", ``); code != 204 {
		t.Fatalf("drop %d", code)
	}
	c.expectClosed()
	httpDo(t, "POST", u+"/faults/refuse", `{"seconds":3600}`)
	if _, ack := dialRaw(t, s.MQTTAddr(), 5, connectOpts{user: "gwtoken"}); ack.ReasonCode != 0x88 {
		t.Fatalf("refuse: 0x%02x", ack.ReasonCode)
	}
	if code, body := httpDo(t, "GET", s.HTTPURL()+"/", ""); code != 200 || !strings.Contains(body, "<td>A</td>") || !strings.Contains(body, "t=2.5") {
		t.Fatalf("page %d %s", code, body)
	}
	if code, _ := httpDo(t, "POST", u+"/devices/A/rename", `{"name":"B"}`); code != 204 {
		t.Fatalf("rename %d", code)
	}
	if code, _ := httpDo(t, "DELETE", u+"/devices/B", ``); code != 204 {
		t.Fatalf("delete %d", code)
	}
}

// TestOverviewShowsJSONValues stores telemetry of every kind, a JSON object among them (the gateway's statistics
// are such values), and checks that GET /api/overview, which the page polls to refresh itself, and the page
// show the JSON value as JSON, not as the numbers of its bytes.
func TestOverviewShowsJSONValues(t *testing.T) {
	s := startServer(t, Options{HTTPAddr: "127.0.0.1:0"})
	c := connectGateway(t, s, 5)
	const stats = `{"sent":3,"names":["x","y"]}`
	c.puback(topicGwTelemetry, []byte(`{"A":[{"ts":7,"values":{"stats":`+stats+`,"t":21.5,"n":4,"on":true,"s":"ok"}}]}`))

	code, body := httpDo(t, "GET", s.HTTPURL()+"/api/overview", "")
	if code != 200 {
		t.Fatalf("overview: %d %s", code, body)
	}
	var o struct {
		Messages uint64
		Devices  []struct {
			Name   string
			Latest map[string]struct {
				TS    int64
				Value json.RawMessage
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatalf("overview is not JSON: %v\n%s", err, body)
	}
	var latest map[string]string
	for _, d := range o.Devices {
		if d.Name == "A" {
			latest = map[string]string{}
			for k, v := range d.Latest {
				latest[k] = string(v.Value)
			}
		}
	}
	want := map[string]string{"stats": stats, "t": "21.5", "n": "4", "on": "true", "s": `"ok"`}
	if fmt.Sprint(latest) != fmt.Sprint(want) || o.Messages == 0 {
		t.Fatalf("overview of A: latest %v, messages %d; want latest %v\n%s", latest, o.Messages, want, body)
	}

	code, page := httpDo(t, "GET", s.HTTPURL()+"/", "")
	text := html.UnescapeString(page)
	for _, kv := range []string{"stats=" + stats, "t=21.5", "n=4", "on=true", "s=ok"} {
		if code != 200 || !strings.Contains(text, "<div>"+kv+"</div>") {
			t.Errorf("page %d does not show %s:\n%s", code, kv, page)
		}
	}
	if !strings.Contains(page, `fetch("api/overview"`) {
		t.Errorf("the page does not refresh from api/overview:\n%s", page)
	}
}
