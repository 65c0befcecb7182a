package tbgateway

import (
	"encoding/json"
	"errors"
	"testing"
)

type upperConverter struct{}

func (upperConverter) Convert(topic string, payload []byte) ([]Record, error) {
	return []Record{{Device: topic, Attributes: map[string]any{"raw": string(payload)}}}, nil
}

func TestConverterRegistry(t *testing.T) {
	RegisterConverter("test-upper", func(json.RawMessage) (Converter, error) { return upperConverter{}, nil })
	f, ok := LookupConverter("test-upper")
	if !ok {
		t.Fatal("registered converter not found")
	}
	c, err := f(nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.Convert("dev", []byte("x"))
	if err != nil || len(recs) != 1 || recs[0].Device != "dev" {
		t.Fatalf("Convert = %v, %v", recs, err)
	}
	if _, ok := LookupConverter("missing"); ok {
		t.Fatal("unknown converter found")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a duplicate registration did not panic")
		}
	}()
	RegisterConverter("test-upper", func(json.RawMessage) (Converter, error) { return upperConverter{}, nil })
}

func TestConnectorRegistry(t *testing.T) {
	RegisterConnector(ConnectorType{Type: "test-none", New: func(ConnectorConfig) (Connector, error) { return nil, nil }})
	if _, ok := LookupConnector("test-none"); !ok {
		t.Fatal("registered connector not found")
	}
	found := false
	for _, typ := range ConnectorTypes() {
		found = found || typ == "test-none"
	}
	if !found {
		t.Fatal("ConnectorTypes does not list the registered type")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a duplicate registration did not panic")
		}
	}()
	RegisterConnector(ConnectorType{Type: "test-none", New: func(ConnectorConfig) (Connector, error) { return nil, nil }})
}

func TestConnectorConfigLocated(t *testing.T) {
	w, err := ConnectorConfig{File: "mqtt.json"}.Located([]string{"broker.x: unknown key"}, errors.New("broker.port: bad"))
	if len(w) != 1 || w[0] != "mqtt.json: broker.x: unknown key" || err == nil || err.Error() != "mqtt.json: broker.port: bad" {
		t.Fatalf("got %q, %v", w, err)
	}
	if _, err := (ConnectorConfig{Name: "inline"}).Located(nil, errors.New("x")); err.Error() != "connector inline: x" {
		t.Fatalf("inline: %v", err)
	}
	if _, err := (ConnectorConfig{File: "f"}).Located(nil, nil); err != nil {
		t.Fatalf("no error: %v", err)
	}
}

func TestConnectorClassRegistry(t *testing.T) {
	none := func(ConnectorConfig) (Connector, error) { return nil, nil }
	RegisterConnector(ConnectorType{Type: "test-classes", New: none, Classes: []string{"TestClassConnector"}})
	ct, ok := LookupConnectorClass("TestClassConnector")
	if !ok || ct.Type != "test-classes" {
		t.Fatalf("LookupConnectorClass = %q, %v", ct.Type, ok)
	}
	if _, ok := LookupConnectorClass("testclassconnector"); ok {
		t.Fatal("a class name matched in another case; Python class names are exact")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a class declared by two types did not panic")
		}
	}()
	RegisterConnector(ConnectorType{Type: "test-classes-2", New: none, Classes: []string{"TestClassConnector"}})
}
