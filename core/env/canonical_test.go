package env

import (
	"encoding/json"
	"testing"
)

func TestCanonicalStateIgnoresKeyOrderAndSpace(t *testing.T) {
	a, err := InstanceHash("g", json.RawMessage(`{"b": [1, 2.50], "a": {"y": "<x>", "x": null}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := InstanceHash("g", json.RawMessage(`{"a":{"x":null,"y":"<x>"},"b":[1,2.50]}`))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("the same state in two spellings hashes to %x and %x", a, b)
	}
	for _, other := range []struct{ env, state string }{{"h", `{"a":{"x":null,"y":"<x>"},"b":[1,2.50]}`},
		{"g", `{"a":{"x":null,"y":"<x>"},"b":[2.50,1]}`}, {"g", `{"a":{"x":null,"y":"<x>"},"b":[1,2.5]}`}} {
		c, err := InstanceHash(other.env, json.RawMessage(other.state))
		if err != nil {
			t.Fatal(err)
		}
		if c == a {
			t.Errorf("%s %s hashes like the first state", other.env, other.state)
		}
	}
	if _, err := CanonicalState(json.RawMessage(`{"a":`)); err == nil {
		t.Error("a truncated state has a canonical form")
	}
}
