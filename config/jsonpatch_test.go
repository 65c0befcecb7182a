package config

import (
	"encoding/json"
	"reflect"
	"testing"
)

// userMain is a main file as a user writes it: keys in their own order, an unknown key, 4-space indentation,
// a one-line object and a blank line between sections.
const userMain = `{
    "thingsboard": {
        "host": "tb.example.com",
        "port": 1883,
        "security": {"type": "accessToken", "accessToken": "tok"},
        "myOwnKey": [1, 2,   3],
        "statistics": {
            "enable": true,
            "statsSendPeriodInSeconds": 60
        }
    },

    "storage": {
        "type": "memory",
        "max_records_count": 1e5
    },
    "connectors": [
        {
            "name": "MQTT Broker Connector",
            "type": "mqtt",
            "configuration": "mqtt.json",
            "class": "x"
        },
        {
            "type": "modbus",
            "name": "Modbus",
            "configuration": "modbus.json"
        }
    ]
}
`

func TestPatchJSON(t *testing.T) {
	cases := []struct {
		name, doc, want, golden string
	}{
		{
			name:   "same value keeps every byte",
			doc:    userMain,
			want:   `{"connectors":[{"class":"x","configuration":"mqtt.json","name":"MQTT Broker Connector","type":"mqtt"},{"configuration":"modbus.json","name":"Modbus","type":"modbus"}],"storage":{"max_records_count":1e5,"type":"memory"},"thingsboard":{"host":"tb.example.com","myOwnKey":[1,2,3],"port":1883,"security":{"accessToken":"tok","type":"accessToken"},"statistics":{"enable":true,"statsSendPeriodInSeconds":60}}}`,
			golden: userMain,
		},
		{
			name: "one key of a section changed, one added, one removed",
			doc:  userMain,
			want: `{"connectors":[{"class":"x","configuration":"mqtt.json","name":"MQTT Broker Connector","type":"mqtt"},{"configuration":"modbus.json","name":"Modbus","type":"modbus"}],"storage":{"type":"sqlite","data_file_path":"./data/data.db"},"thingsboard":{"host":"tb.example.com","myOwnKey":[1,2,3],"port":1884,"security":{"accessToken":"tok","type":"accessToken"},"statistics":{"enable":true,"statsSendPeriodInSeconds":60}}}`,
			golden: `{
    "thingsboard": {
        "host": "tb.example.com",
        "port": 1884,
        "security": {"type": "accessToken", "accessToken": "tok"},
        "myOwnKey": [1, 2,   3],
        "statistics": {
            "enable": true,
            "statsSendPeriodInSeconds": 60
        }
    },

    "storage": {
        "type": "sqlite",
        "data_file_path": "./data/data.db"
    },
    "connectors": [
        {
            "name": "MQTT Broker Connector",
            "type": "mqtt",
            "configuration": "mqtt.json",
            "class": "x"
        },
        {
            "type": "modbus",
            "name": "Modbus",
            "configuration": "modbus.json"
        }
    ]
}
`,
		},
		{
			name: "connector entry removed, one added in want's key order, nested object added",
			doc:  userMain,
			want: `{"connectors":[{"configuration":"modbus.json","name":"Modbus","type":"modbus"},{"type":"opcua","name":"OPC-UA","configuration":"opcua.json"}],"storage":{"max_records_count":1e5,"type":"memory"},"thingsboard":{"host":"tb.example.com","myOwnKey":[1,2,3],"port":1883,"security":{"accessToken":"tok","type":"accessToken"},"statistics":{"enable":true,"statsSendPeriodInSeconds":60},"reportStrategy":{"type":"ON_CHANGE","reportPeriod":5000}}}`,
			golden: `{
    "thingsboard": {
        "host": "tb.example.com",
        "port": 1883,
        "security": {"type": "accessToken", "accessToken": "tok"},
        "myOwnKey": [1, 2,   3],
        "statistics": {
            "enable": true,
            "statsSendPeriodInSeconds": 60
        },
        "reportStrategy": {
            "type": "ON_CHANGE",
            "reportPeriod": 5000
        }
    },

    "storage": {
        "type": "memory",
        "max_records_count": 1e5
    },
    "connectors": [
        {
            "type": "modbus",
            "name": "Modbus",
            "configuration": "modbus.json"
        },
        {
            "type": "opcua",
            "name": "OPC-UA",
            "configuration": "opcua.json"
        }
    ]
}
`,
		},
		{
			name:   "compact document stays compact",
			doc:    `{"a":1,"b":{"c":[1,2]}}`,
			want:   `{"a":1,"b":{"c":[1,2,3],"d":{"e":true}}}`,
			golden: `{"a":1,"b":{"c":[1,2,3],"d":{"e":true}}}`,
		},
		{
			name:   "empty list filled, tabs and CRLF kept",
			doc:    "{\r\n\t\"connectors\": [],\r\n\t\"x\": 1\r\n}",
			want:   `{"connectors":[{"name":"A"}],"x":1}`,
			golden: "{\r\n\t\"connectors\": [\r\n\t\t{\r\n\t\t\t\"name\": \"A\"\r\n\t\t}\r\n\t],\r\n\t\"x\": 1\r\n}",
		},
		{
			name:   "every member removed",
			doc:    "{\n  \"a\": {\n    \"b\": 1\n  }\n}\n",
			want:   `{"a":{}}`,
			golden: "{\n  \"a\": {}\n}\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PatchJSON([]byte(tc.doc), []byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.golden {
				t.Errorf("got\n%s\nwant\n%s", got, tc.golden)
			}
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(tc.want), &w) != nil || !reflect.DeepEqual(g, w) {
				t.Errorf("patched document %s does not hold the wanted value", got)
			}
		})
	}
}

func TestPatchJSONRefusesInvalidDocument(t *testing.T) {
	if _, err := PatchJSON([]byte(`{"a": `), []byte(`{}`)); err == nil {
		t.Error("an invalid document was patched")
	}
}

func FuzzPatchJSON(f *testing.F) {
	f.Add([]byte(userMain), []byte(`{"a":[1,{"name":"x"}],"thingsboard":{"port":1}}`))
	f.Add([]byte(`[1, 2, {"name": "a", "v": 1}]`), []byte(`[{"name": "a", "v": 2}, 3]`))
	f.Fuzz(func(t *testing.T, doc, want []byte) {
		got, err := PatchJSON(doc, want)
		if err != nil {
			return
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("patched %q with %q into invalid JSON %q: %v", doc, want, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("patched %q with %q into %q", doc, want, got)
		}
	})
}
